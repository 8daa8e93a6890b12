"""The usage log against real requests: loopback traffic through the real router, a real SQLite
file, concurrent writer processes, a real InteractiveShell for ``%byok usage``."""

from __future__ import annotations

import base64
import csv
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from IPython.utils.capture import capture_output

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.errors import CellFailed
from byok_magic.events import Usage
from byok_magic.prices import BUILTIN, PRICES_AS_OF, builtin_price, price_for
from byok_magic.reports import footer
from byok_magic.router import Answer
from byok_magic.usage import LOG_NAME, UsageLog, attach, flush
from byok_magic.usage_summary import export_csv, parse_when, summarize, usage_report
from tests.loopback import Reply

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]

# per profile: (base path, model, user price or None)
PROFILES = {
    "alpha": ("/a/v1", "gpt-4o-mini", None),  # built-in price
    "beta": ("/b/v1", "house-model", {"input": 1.0, "output": 4.0, "cached": 0.25}),
    "gamma": ("/c/v1", "mystery-model", None),  # no price anywhere
}


def stream(pieces: list[str], usage: dict | None, **kw) -> Reply:
    base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "m"}
    events: list = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    events += [{**base, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        events.append({**base, "choices": [], "usage": usage})
    return Reply.sse(events, **kw)


def usage_of(inp: int, out: int, cached: int = 0, reasoning: int = 0) -> dict:
    return {
        "prompt_tokens": inp,
        "completion_tokens": out,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


AUTH_401 = Reply.json({"error": {"message": "bad key", "type": "invalid_request_error"}}, 401)
SERVER_500 = Reply.json({"error": {"message": "boom", "type": "server_error"}}, 500)

# per profile, the replies in order: ("ok", usage dict) | ("401",) | ("500",) | ("cut",)
SCRIPT = {
    "alpha": [
        ("ok", usage_of(1200, 300, cached=1000, reasoning=120)),
        ("ok", usage_of(800, 40)),
        ("401",),
        ("cut",),
        ("ok", usage_of(2000, 500, cached=0, reasoning=200)),
    ],
    "beta": [
        ("ok", usage_of(100_000, 20_000, cached=60_000)),
        ("500",),
        ("cut",),
        ("ok", usage_of(3000, 700)),
    ],
    "gamma": [("ok", usage_of(50, 5)), ("401",), ("ok", usage_of(70, 9))],
}


def reply_for(step: tuple) -> Reply:
    if step[0] == "ok":
        return stream(["hello ", "world"], step[1])
    if step[0] == "401":
        return AUTH_401
    if step[0] == "500":
        return SERVER_500
    return stream(["partial ", "answer ", "more"], None, disconnect_after=3)


@pytest.fixture
def keys() -> dict[str, str]:
    import secrets

    return {name: f"sk-usage-{name}-" + secrets.token_hex(20) for name in PROFILES}


@pytest.fixture
def setup(router, loopback, memory_store, keys, byok_home):
    """Three loopback profiles with keys and prices; the router logs like ``router()`` does."""
    attach(router)
    for name, (path, _model, _) in PROFILES.items():
        router.config.add(
            Profile(name=name, type="openai", base_url=loopback.url + path, timeouts={"retries": 0})
        )
        memory_store.set(name, keys[name])
    prices = {f"{n}:{m}": p for n, (_, m, p) in PROFILES.items() if p}
    text = (
        router.config.path.read_text()
        + "\n[prices]\n"
        + "".join(
            f'"{k}" = {{ input = {v["input"]}, output = {v["output"]}, cached = {v["cached"]} }}\n'
            for k, v in prices.items()
        )
    )
    router.config.path.write_text(text)
    os.utime(router.config.path, (time.time() + 5, time.time() + 5))  # seen as changed
    router.config.refresh()
    assert router.config.prices == prices
    return router


def run_script(router, loopback, prompt: str) -> list[Answer]:
    """Send every scripted request; return the answers (errors are expected, not raised)."""
    for name, (path, _, _) in PROFILES.items():
        loopback.route("POST", f"{path}/chat/completions", [reply_for(s) for s in SCRIPT[name]])
    answers = []
    for name, (_, model, _) in PROFILES.items():
        for _step in SCRIPT[name]:
            profile, req = router.request(prompt, f"{name}:{model}")
            answer = Answer(target=f"{name}:{model}", thread="t1")
            try:
                for _ in router.stream(profile, req, answer):
                    pass
            except errors.ByokError:
                pass
            answers.append(answer)
    assert flush(10)
    return answers


def expected_cost(name: str, usage: dict) -> float:
    _, model, user = PROFILES[name]
    p = user or {
        "input": BUILTIN[model].input,
        "output": BUILTIN[model].output,
        "cached": BUILTIN[model].cached,
    }
    inp, out = usage["prompt_tokens"], usage["completion_tokens"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    return ((inp - cached) * p["input"] + cached * p["cached"] + out * p["output"]) / 1e6


def files_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith(LOG_NAME))


def test_mixed_traffic_counts_tokens_cost_and_no_secrets(setup, loopback, keys, byok_home):
    router = setup
    prompt = "PROMPT-MARKER-7f3a explain the usage log"
    answers = run_script(router, loopback, prompt)
    assert [a.status for a in answers[:5]] == ["ok", "ok", "auth", "interrupted", "ok"]
    assert answers[6].status == "server"

    rows = UsageLog.of(router).rows()
    assert len(rows) == sum(len(s) for s in SCRIPT.values()) == 12
    assert all(r["thread"] == "t1" and r["total"] > 0 for r in rows)
    assert {r["key_fingerprint"] for r in rows} == {a.key_fingerprint for a in answers}
    groups, total = summarize(rows, "profile", router.config.prices)
    by = {g.key: g for g in groups}
    for name, steps in SCRIPT.items():
        g = by[name]
        sent = [s[1] for s in steps if s[0] == "ok"]
        assert g.requests == len(steps)
        assert g.ok == len(sent)
        assert g.failed == sum(s[0] in ("401", "500") for s in steps)
        assert g.interrupted == sum(s[0] == "cut" for s in steps)
        assert g.input_tokens == sum(u["prompt_tokens"] for u in sent)
        assert g.output_tokens == sum(u["completion_tokens"] for u in sent)
        assert g.cached_tokens == sum(u["prompt_tokens_details"]["cached_tokens"] for u in sent)
        rs = sum(u["completion_tokens_details"]["reasoning_tokens"] for u in sent)
        assert g.reasoning_tokens == rs
        assert len(g.ttfts) == g.ok + g.interrupted  # failures never saw a token
    # cost = tokens × prices; an interrupted answer without usage leaves its cost unknown
    alpha_cost = sum(expected_cost("alpha", s[1]) for s in SCRIPT["alpha"] if s[0] == "ok")
    beta_cost = sum(expected_cost("beta", s[1]) for s in SCRIPT["beta"] if s[0] == "ok")
    assert by["alpha"].known_cost == pytest.approx(alpha_cost)
    assert by["beta"].known_cost == pytest.approx(beta_cost)
    assert not by["alpha"].cost_complete and not by["beta"].cost_complete
    assert by["gamma"].known_cost is None  # never zero
    assert total.requests == 12 and total.known_cost == pytest.approx(alpha_cost + beta_cost)

    text, png = usage_report(router, _args(by="profile"))
    assert png is None
    lines = {ln.split("|")[1].strip(): ln for ln in text.splitlines() if ln.startswith("| ")}
    cells = [c.strip() for c in lines["beta"].split("|")[1:-1]]
    assert cells[:9] == ["beta", "4", "2", "1", "1", "103,000", "20,700", "0", "60,000"]
    assert cells[9] == f"${beta_cost:.4f} + unknown"
    assert [c.strip() for c in lines["gamma"].split("|")][10] == "unknown"
    assert "**total**" in lines and PRICES_AS_OF in text

    # no key in any form, and by default no prompt or answer text
    blob = files_bytes(byok_home)
    assert blob
    for key in keys.values():
        raw = key.encode()
        for form in (
            raw,
            base64.b64encode(raw),
            base64.urlsafe_b64encode(raw),
            base64.b64encode(b"Bearer " + raw),
            raw.hex().encode(),
            raw.hex().upper().encode(),
            key.encode("utf-16-le"),
            key[8:].encode(),
        ):
            assert form not in blob
    assert b"PROMPT-MARKER-7f3a" not in blob and b"hello world" not in blob
    assert all(r["prompt"] is None and r["answer"] is None for r in rows)


def _args(**kw):
    base = {
        "since": None,
        "by": "target",
        "plot": False,
        "export": None,
        "clear": False,
        "before": None,
    }
    return SimpleNamespace(**{**base, **kw})


def test_text_is_logged_only_when_turned_on(setup, loopback, monkeypatch, byok_home):
    router = setup
    loopback.route("POST", "/a/v1/chat/completions", stream(["the answer"], usage_of(5, 2)))
    router.ask("first prompt", "alpha:gpt-4o-mini")
    monkeypatch.setenv("BYOK_MAGIC_LOG_TEXT", "1")
    router.ask("second prompt", "alpha:gpt-4o-mini")
    monkeypatch.delenv("BYOK_MAGIC_LOG_TEXT")
    text = router.config.path.read_text().replace(
        "[prices]", "[settings]\nlog_text = true\n\n[prices]"
    )
    router.config.path.write_text(text)
    os.utime(router.config.path, (time.time() + 9, time.time() + 9))
    router.ask("third prompt", "alpha:gpt-4o-mini")
    flush()
    rows = UsageLog.of(router).rows()
    assert [(r["prompt"], r["answer"]) for r in rows] == [
        (None, None),
        ("second prompt", "the answer"),
        ("third prompt", "the answer"),
    ]
    # --clear overwrites what it deletes: the text is gone from the file, not just unlinked
    assert b"second prompt" in files_bytes(byok_home)
    text, _ = usage_report(router, _args(clear=True))
    assert "Deleted 3" in text
    assert b"second prompt" not in files_bytes(byok_home)


def test_footer_shows_cost_only_when_priced():
    a = Answer(target="openai:gpt-4.1", profile="openai", model="gpt-4.1", ended=1.0, started=0.0)
    a.usage = Usage(1_000, 500)
    assert footer(a, {}).split(" · ")[2] == "$0.0060"  # 1000×2 + 500×8 per million
    a.model, a.profile = "unpriced", "local"
    assert "$" not in footer(a, {})
    assert "$0.0000" in footer(a, {"local:*": {"input": 0, "output": 0}})


def test_prices_lookup_rules():
    assert builtin_price("gpt-4o-2024-08-06") == BUILTIN["gpt-4o"]
    assert builtin_price("claude-sonnet-4-20250514") == BUILTIN["claude-sonnet-4"]
    assert builtin_price("models/gemini-2.5-flash") == BUILTIN["gemini-2.5-flash"]
    assert builtin_price("openai/gpt-4o-mini") == BUILTIN["gpt-4o-mini"]
    assert builtin_price("gpt-4o-mini-tts") is None  # no prefix guessing
    user = {"w:gpt-4o": {"input": 9, "output": 9}, "gpt-4o": {"input": 8, "output": 8}}
    assert price_for("w", "gpt-4o", user).input == 9  # type: ignore[union-attr]
    assert price_for("x", "gpt-4o", user).input == 8  # type: ignore[union-attr]
    assert price_for("x", "gpt-4o", {"gpt-4o": {"input": 1}}) == BUILTIN["gpt-4o"]  # incomplete


def test_plot_is_a_png_and_missing_matplotlib_says_how(setup, loopback, monkeypatch):
    router = setup
    run_script(router, loopback, "plot me")
    text, png = usage_report(router, _args(plot=True))
    assert png is not None and png.startswith(PNG) and len(png) > 5000
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    text, png = usage_report(router, _args(plot=True))
    assert png is None and 'pip install "byok_magic[plot]"' in text and "| alpha:" in text


def test_since_export_and_clear_before(setup, loopback, tmp_path):
    router = setup
    run_script(router, loopback, "x")
    log = UsageLog.of(router)
    with sqlite3.connect(log.path) as con:  # age three rows by a week
        con.execute(
            "UPDATE requests SET time = '2020-01-0' || id || 'T00:00:00.000+00:00' WHERE id <= 3"
        )
    con.close()
    assert len(log.rows(parse_when("7d"))) == 9
    out = tmp_path / "usage.csv"
    text, _ = usage_report(router, _args(since="2021-01-01", export=str(out), by="day"))
    assert "Exported 9 request(s)" in text and "day (UTC)" in text
    with open(out, newline="") as fh:
        data = list(csv.DictReader(fh))
    assert len(data) == 9 and "prompt" not in data[0]
    assert sum(int(r["input_tokens"] or 0) for r in data) == sum(
        r["input_tokens"] or 0 for r in log.rows(parse_when("2021-01-01"))
    )
    # gamma has no price: its answers' cost is unknown; a request refused before any token
    # cost nothing, price or not
    gamma = [r for r in data if r["profile"] == "gamma"]
    assert {r["cost_usd"] for r in gamma if r["status"] == "ok"} == {""}
    assert {r["cost_usd"] for r in gamma if r["status"] != "ok"} <= {"0.000000"}
    with pytest.raises(errors.ConfigError):
        usage_report(router, _args(before="2021-01-01"))
    text, _ = usage_report(router, _args(clear=True, before="2021-01-01"))
    assert "Deleted 3" in text and len(log.rows()) == 9
    assert export_csv([], tmp_path / "empty.csv") == 0


def test_parse_when():
    now = parse_when("2025-06-10T12:00")
    assert parse_when("3d", now).isoformat() == "2025-06-07T12:00:00+00:00"
    assert parse_when("today", now).isoformat() == "2025-06-10T00:00:00+00:00"
    assert parse_when("2025-06-01").isoformat() == "2025-06-01T00:00:00+00:00"
    with pytest.raises(errors.ConfigError):
        parse_when("last tuesday")
    # What 3.11's fromisoformat reads and 3.10's does not: any count of fractional digits.
    assert parse_when("2025-06-01T12:00:00.5Z").isoformat() == "2025-06-01T12:00:00.500000+00:00"


def test_token_expiry_with_nanoseconds():
    """Go's oauth2 writes RFC 3339 with up to 9 fractional digits (3.10 needs help reading it)."""
    from byok_magic.oauth_files import expiry_of

    assert expiry_of({"expiry": "2024-06-01T12:34:56.123456789-07:00"}) == 1717270496.123456
    assert expiry_of({"expiry": "2024-06-01T19:34:56.1Z"}) == 1717270496.1


def test_deleting_the_file_is_safe(setup, loopback, byok_home):
    router = setup
    loopback.route("POST", "/a/v1/chat/completions", stream(["x"], usage_of(1, 1)))
    router.ask("a", "alpha:gpt-4o-mini")
    flush()
    for p in byok_home.glob(LOG_NAME + "*"):
        p.unlink()
    router.ask("b", "alpha:gpt-4o-mini")
    flush()
    assert len(UsageLog.of(router).rows()) == 1


def test_a_locked_database_neither_blocks_nor_loses_the_row(setup, loopback):
    router = setup
    loopback.route("POST", "/a/v1/chat/completions", stream(["x"], usage_of(1, 1)))
    router.ask("warm up", "alpha:gpt-4o-mini")
    flush()
    blocker = sqlite3.connect(
        UsageLog.of(router).path, isolation_level=None, check_same_thread=False
    )
    blocker.execute("BEGIN EXCLUSIVE")
    t0 = time.monotonic()
    assert router.ask("while locked", "alpha:gpt-4o-mini") == "x"
    assert time.monotonic() - t0 < 1.0
    assert not flush(0.5)  # the writer is waiting for the lock, not the request
    threading.Timer(0.3, lambda: blocker.execute("COMMIT")).start()
    assert flush(10)
    blocker.close()
    assert len(UsageLog.of(router).rows()) == 2


@pytest.mark.parametrize("breakage", ["garbage", "directory", "parent-is-a-file", "read-only"])
def test_a_broken_log_never_breaks_a_request(
    router, loopback, memory_store, fake_key, tmp_path, caplog, breakage
):
    path = tmp_path / "logs" / LOG_NAME
    path.parent.mkdir()
    if breakage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    elif breakage == "directory":
        path.mkdir()
    elif breakage == "parent-is-a-file":
        (tmp_path / "flat").write_text("x")
        path = tmp_path / "flat" / LOG_NAME
    else:
        path.parent.chmod(0o500)
        if os.access(path.parent, os.W_OK):  # root ignores modes: use a read-only filesystem
            path.parent.chmod(0o700)
            if not Path("/proc/self").is_dir():
                pytest.skip("running as root without /proc: nothing here is read-only")
            path = Path("/proc/self") / LOG_NAME
    attach(router, UsageLog(path))
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", stream(["fine"], usage_of(3, 1)))
    with caplog.at_level(logging.WARNING, logger="byok_magic"):
        assert router.ask("one", "loop:m") == "fine"
        assert router.ask("two", "loop:m") == "fine"
        assert flush(10)
    if breakage == "read-only" and path.parent.is_relative_to(tmp_path):
        path.parent.chmod(0o700)
    warnings = [r for r in caplog.records if "usage log" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert fake_key not in warnings[0].getMessage()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from byok_magic.events import Usage
    from byok_magic.router import Answer
    from byok_magic.usage import UsageLog, flush
    path, who, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    log = UsageLog(path)
    time.sleep(max(0.0, start - time.time()))
    for i in range(50):
        a = Answer(target=who + ":m", profile=who, provider="openai", model="m",
                   usage=Usage(i, 1), ended=time.monotonic())
        log.record(a)
        assert flush(30)  # one transaction per row: the most contention
    """
)


def test_concurrent_processes_do_not_corrupt_the_log(tmp_path):
    path = tmp_path / LOG_NAME
    start = time.time() + 1.5
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"p{i}", str(start)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
        assert b"usage log" not in err
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        counts = dict(con.execute("SELECT profile, COUNT(*) FROM requests GROUP BY profile"))
        total_in = con.execute("SELECT SUM(input_tokens) FROM requests").fetchone()[0]
    finally:
        con.close()
    assert counts == {f"p{i}": 50 for i in range(4)}
    assert total_in == 4 * sum(range(50))


def test_sqlite_is_not_imported_until_a_request_finishes():
    code = (
        "import sys, json\n"
        "import byok_magic, byok_magic.usage, byok_magic.usage_summary, byok_magic.reports\n"
        "from byok_magic.router import router\n"
        "router()\n"
        "print(json.dumps('sqlite3' in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False


# ---------------------------------------------------------------------------------------------
# %byok usage in a real InteractiveShell


@pytest.fixture
def ip(setup, ip):
    """The shell from conftest, once the three profiles are set up (setup is the same router)."""
    return ip


def _markdown(outputs) -> str:
    return "\n".join(o.data.get("text/markdown", "") for o in outputs)


def test_byok_usage_magic(ip, setup, loopback, tmp_path):
    with capture_output() as cap:
        ip.run_line_magic("byok", "usage")
    assert "No requests logged" in _markdown(cap.outputs)
    for path, _, _ in PROFILES.values():
        loopback.route("POST", f"{path}/chat/completions", stream(["hi"], usage_of(10, 3)))
    with capture_output() as cap:
        ip.run_cell_magic("byok", "alpha:gpt-4o-mini beta:house-model", "compare us")
        ip.run_cell_magic("byok", "gamma:mystery-model", "just one")
    shown = _markdown(cap.outputs)
    assert f"${expected_cost('alpha', usage_of(10, 3)):.4f}" in shown  # comparison column
    assert f"${expected_cost('beta', usage_of(10, 3)):.4f}" in shown
    csv_path = tmp_path / "out.csv"
    with capture_output() as cap:
        ip.run_line_magic("byok", f"usage --by profile --since today --plot --export {csv_path}")
    md = _markdown(cap.outputs)
    assert "| alpha | 1 | 1 | 0 | 0 | 10 | 3 |" in md
    assert "| **total** | 3 | 3 | 0 | 0 | 30 | 9 |" in md
    pngs = [o.data["image/png"] for o in cap.outputs if "image/png" in o.data]
    assert len(pngs) == 1
    raw = pngs[0] if isinstance(pngs[0], bytes) else base64.b64decode(pngs[0])
    assert raw.startswith(PNG)
    assert len(list(csv.reader(csv_path.open()))) == 4
    with capture_output() as cap:
        with pytest.raises(CellFailed):
            ip.run_line_magic("byok", "usage --by nonsense")
        ip.run_line_magic("byok", "usage --clear")
        ip.run_line_magic("byok", "usage")
    md = _markdown(cap.outputs)
    assert "invalid choice" in md and "Deleted 3" in md and "No requests logged" in md
    assert json.dumps(md)  # plain text, nothing odd


def test_byok_usage_in_a_terminal(setup, loopback, byok_home, tmp_path, keys):
    run_script(setup, loopback, "from the terminal")
    chart = tmp_path / "chart.png"
    env = {**os.environ, "BYOK_MAGIC_HOME": str(byok_home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "byok_magic.cli", "usage", "--by", "profile", "--plot", str(chart)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:5] == ["profile", "requests", "ok", "failed", "interrupted"]
    assert lines[1].split()[:9] == ["alpha", "5", "3", "1", "1", "4,000", "840", "320", "1,000"]
    assert lines[4].split()[:3] == ["total", "12", "7"]
    assert "|" not in out.stdout and chart.read_bytes().startswith(PNG)
    assert not any(k in out.stdout + out.stderr for k in keys.values())
