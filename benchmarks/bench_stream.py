"""Stream throughput and latency: byok's router vs raw httpx + a minimal parser vs the SDKs.

Every client asks the loopback server (its own process) for the same stream and must end with the
same text; runs are interleaved (the client order rotates every round), so drift on a shared
machine hits every client alike. Throughput is text chunks per second of wall time, from the
call to the last event (bytes → events, JSON parsed, text extracted); the ratio is to raw httpx in
the same run. Time to first token (TTFT) is from the call to the first text event, on a warm
client (kept-alive connection). Cold TTFT is measured in fresh processes (cold_child.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

from common import BENCH, FAKE_KEY, PY, Row, anthropic_adapter_ready, child_env, med

PROMPT = [{"role": "user", "content": "benchmark"}]
Client = Callable[[str], tuple[int, int, float, float, float]]
"""A client streams ``model`` and returns (text events, chars, t_first, t_end, cpu) from t=0."""


# -- raw httpx with minimal parsers -------------------------------------------------------------


def raw_openai(url: str) -> Client:
    import httpx

    client = httpx.Client(timeout=60)
    loads = json.loads

    def run(model: str) -> tuple[int, int, float, float, float]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        first = 0.0
        n = chars = 0
        body = {"model": model, "messages": PROMPT, "stream": True}
        hdrs = {"authorization": "Bearer " + FAKE_KEY}
        with client.stream("POST", url + "/v1/chat/completions", json=body, headers=hdrs) as r:
            buf = b""
            for chunk in r.iter_bytes():
                buf += chunk
                if b"\n\n" not in buf:
                    continue
                *events, buf = buf.split(b"\n\n")
                for ev in events:
                    if ev[:6] != b"data: " or ev[6:] == b"[DONE]":
                        continue
                    for c in loads(ev[6:]).get("choices") or ():
                        text = c["delta"].get("content")
                        if text:
                            if not n:
                                first = time.perf_counter()
                            n += 1
                            chars += len(text)
        return n, chars, first - t0, time.perf_counter() - t0, time.process_time() - c0

    return run


def raw_anthropic(url: str) -> Client:
    import httpx

    client = httpx.Client(timeout=60)
    loads = json.loads

    def run(model: str) -> tuple[int, int, float, float, float]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        first = 0.0
        n = chars = 0
        body = {"model": model, "messages": PROMPT, "max_tokens": 1024, "stream": True}
        hdrs = {"x-api-key": FAKE_KEY, "anthropic-version": "2023-06-01"}
        with client.stream("POST", url + "/v1/messages", json=body, headers=hdrs) as r:
            buf = b""
            for chunk in r.iter_bytes():
                buf += chunk
                if b"\n\n" not in buf:
                    continue
                *events, buf = buf.split(b"\n\n")
                for ev in events:
                    at = ev.find(b"\ndata: ")
                    if at < 0:
                        continue
                    obj = loads(ev[at + 7 :])
                    if obj.get("type") == "content_block_delta":
                        text = obj["delta"].get("text")
                        if text:
                            if not n:
                                first = time.perf_counter()
                            n += 1
                            chars += len(text)
        return n, chars, first - t0, time.perf_counter() - t0, time.process_time() - c0

    return run


# -- byok ---------------------------------------------------------------------------------------


def byok_client(profile: str) -> Client:
    """``byok_magic.stream`` end to end: target → profile + key (env) → transport → events."""
    import byok_magic
    from byok_magic.events import TextDelta

    def run(model: str) -> tuple[int, int, float, float, float]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        first = 0.0
        n = chars = 0
        for ev in byok_magic.stream("benchmark", f"{profile}:{model}"):
            if type(ev) is TextDelta:
                if not n:
                    first = time.perf_counter()
                n += 1
                chars += len(ev.text)
        return n, chars, first - t0, time.perf_counter() - t0, time.process_time() - c0

    return run


# -- official SDKs ------------------------------------------------------------------------------


def sdk_openai(url: str) -> Client:
    from openai import OpenAI

    client = OpenAI(base_url=url + "/v1", api_key=FAKE_KEY, max_retries=0)

    def run(model: str) -> tuple[int, int, float, float, float]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        first = 0.0
        n = chars = 0
        stream = client.chat.completions.create(model=model, messages=PROMPT, stream=True)
        for chunk in stream:
            if chunk.choices:
                text = chunk.choices[0].delta.content
                if text:
                    if not n:
                        first = time.perf_counter()
                    n += 1
                    chars += len(text)
        return n, chars, first - t0, time.perf_counter() - t0, time.process_time() - c0

    return run


def sdk_anthropic(url: str) -> Client:
    from anthropic import Anthropic

    client = Anthropic(base_url=url, api_key=FAKE_KEY, max_retries=0)

    def run(model: str) -> tuple[int, int, float, float, float]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        first = 0.0
        n = chars = 0
        stream = client.messages.create(model=model, messages=PROMPT, max_tokens=1024, stream=True)
        for ev in stream:
            if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
                text = ev.delta.text
                if text:
                    if not n:
                        first = time.perf_counter()
                    n += 1
                    chars += len(text)
        return n, chars, first - t0, time.perf_counter() - t0, time.process_time() - c0

    return run


def sdk_anthropic_text(url: str) -> Client:
    from anthropic import Anthropic

    client = Anthropic(base_url=url, api_key=FAKE_KEY, max_retries=0)

    def run(model: str) -> tuple[int, int, float, float, float]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        first = 0.0
        n = chars = 0
        with client.messages.stream(model=model, messages=PROMPT, max_tokens=1024) as s:
            for text in s.text_stream:
                if text:
                    if not n:
                        first = time.perf_counter()
                    n += 1
                    chars += len(text)
        return n, chars, first - t0, time.perf_counter() - t0, time.process_time() - c0

    return run


# -- runs -----------------------------------------------------------------------------------------


def _families(url: str, quick: bool) -> list[tuple[str, dict[str, Client], dict[str, str]]]:
    """(family, {client name: client}, {client name: note}); the first client is the baseline."""
    fams = []
    oa = {
        "raw httpx + minimal parser": raw_openai(url),
        "byok router (byok_magic.stream)": byok_client("bench"),
        "openai SDK": sdk_openai(url),
    }
    fams.append(("OpenAI Chat Completions", oa, {}))
    an: dict[str, Client] = {"raw httpx + minimal parser": raw_anthropic(url)}
    notes: dict[str, str] = {}
    if anthropic_adapter_ready():
        an["byok router (byok_magic.stream)"] = byok_client("bench-anthropic")
    else:
        notes["byok"] = "byok's Anthropic adapter is not in the tree yet: no byok row"
    an["anthropic SDK, raw events"] = sdk_anthropic(url)
    if not quick:
        an["anthropic SDK, .stream().text_stream"] = sdk_anthropic_text(url)
    fams.append(("Anthropic Messages", an, notes))
    return fams


def run(srv: Any, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """``srv``: the running servers.ServerProcess."""
    url = srv.url
    rows: list[Row] = []
    sizes = [(1_000, 3 if quick else 7), (10_000, 3 if quick else 5), (100_000, 1 if quick else 3)]
    for family, clients, notes in _families(url, quick):
        sec = f"stream: {family}"
        for note in notes.values():
            rows.append(Row(sec, note, "", target="", note=""))
        names = list(clients)
        base = names[0]
        for n, reps in sizes:
            model = f"n{n}-p4"
            for c in clients.values():  # warm: connections and caches
                c("n10-p4")
            clients[base](model)  # warm the server's cache of this body (built on first ask)
            tput: dict[str, list[float]] = {k: [] for k in names}
            cpu: dict[str, list[float]] = {k: [] for k in names}
            skip = set()
            if quick and n >= 100_000:
                skip = {k for k in names if "SDK" in k}
            for rep in range(reps):
                order = names[rep % len(names) :] + names[: rep % len(names)]
                for name in order:
                    if name in skip:
                        continue
                    got, chars, _, wall, c = clients[name](model)
                    if got != n or chars != 4 * n:
                        raise RuntimeError(f"{name} got {got} chunks / {chars} chars, wanted {n}")
                    tput[name].append(n / wall)
                    cpu[name].append(c / n * 1e6)
            log(
                f"  {family} {n:,} chunks: "
                + ", ".join(f"{k.split(' (')[0]} {med(v):,.0f}/s" for k, v in tput.items() if v)
            )
            bmed = med(tput[base])
            bcpu = med(cpu[base])
            for name in names:
                if not tput[name]:
                    rows.append(
                        Row(
                            sec,
                            f"{name}, {n // 1000}k chunks",
                            "chunks/s",
                            note="skipped in --quick",
                        )
                    )
                    continue
                is_byok = name.startswith("byok")
                # The target is judged on CPU per chunk (the client's own cost): on a shared
                # machine wall-clock throughput swings with other load; both ratios are shown.
                cpu_ratio = bcpu / med(cpu[name])
                wall_ratio = med(tput[name]) / bmed
                rows.append(
                    Row(
                        sec,
                        f"{name}, {n // 1000}k chunks",
                        "chunks/s",
                        samples=tput[name],
                        baseline="raw (CPU/chunk)" if name != base else "",
                        ratio=cpu_ratio if name != base else None,
                        target="≥ 0.8× raw" if is_byok else "",
                        met=(cpu_ratio >= 0.8) if is_byok else None,
                        note=f"{med(cpu[name]):.1f} µs CPU/chunk"
                        + (f"; wall {wall_ratio:.2f}× raw" if name != base else ""),
                    )
                )
        rows += _warm_ttft(sec, clients, 15 if quick else 41, log)
        rows += _keepalive(sec, srv, clients)
    return rows


def _warm_ttft(
    sec: str, clients: dict[str, Client], reps: int, log: Callable[[str], None]
) -> list[Row]:
    names = list(clients)
    base = names[0]
    ttft: dict[str, list[float]] = {k: [] for k in names}
    for c in clients.values():
        c("n5-p4")
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            _, _, first, _, _ = clients[name]("n5-p4")
            ttft[name].append(first * 1000)
    bmed = med(ttft[base])
    log("  warm TTFT: " + ", ".join(f"{k.split(' (')[0]} {med(v):.2f} ms" for k, v in ttft.items()))
    rows = []
    for name in names:
        is_byok = name.startswith("byok")
        d = med(ttft[name]) - bmed
        rows.append(
            Row(
                sec,
                f"warm TTFT, {name}",
                "ms",
                samples=ttft[name],
                baseline=f"(raw {d:+.2f} ms)" if name != base else "",
                target="≤ raw + 1 ms" if is_byok else "",
                met=(d <= 1.0) if is_byok else None,
            )
        )
    return rows


def _keepalive(sec: str, srv: Any, clients: dict[str, Client]) -> list[Row]:
    """New TCP connections per warm request: 0 when the client reuses its kept-alive connection.

    Over https each new connection is a TCP + TLS handshake (one to three round trips) before
    the request can even be sent, so this is where warm TTFT goes on a real network.
    """
    rows = []
    for name, client in clients.items():
        client("n5-p4")
        before = srv.connections()
        for _ in range(10):
            client("n5-p4")
        # minus one: the first stats query's own connection is counted by the second
        per = (srv.connections() - before - 1) / 10
        is_byok = name.startswith("byok")
        rows.append(
            Row(
                sec,
                f"new connections per warm request, {name}",
                "conn/req",
                value=per,
                target="0 (keep-alive, like raw)" if is_byok else "",
                met=(per == 0) if is_byok else None,
                note="reuses its connection" if per == 0 else "reconnects every request",
            )
        )
    return rows


# -- cold: the first request in a fresh process ---------------------------------------------------


def cold(url: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    """First request in a fresh IPython process: raw httpx vs byok right after ``%load_ext``."""
    modes = ["raw", "byok", "byok-keyring-ready"] + ([] if quick else ["openai-sdk"])
    reps = 4 if quick else 9
    res: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    env = child_env()

    def child(mode: str) -> dict[str, Any]:
        out = subprocess.run(
            [PY, str(BENCH / "cold_child.py"), mode, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"cold_child {mode} failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    for mode in modes:  # unmeasured: compiled bytecode in place, as on an installed system
        child(mode)
    for rep in range(reps):
        order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
        for mode in order:
            res[mode].append(child(mode))
    raw_med = med([r["ttft_ms"] for r in res["raw"]])
    log(
        "  cold TTFT: "
        + ", ".join(f"{m} {med([r['ttft_ms'] for r in v]):.1f} ms" for m, v in res.items())
    )
    rows = []
    labels = {
        "raw": "cold TTFT, raw httpx (import httpx + Client() + request)",
        "byok": "cold TTFT, byok first request after %load_ext",
        "byok-keyring-ready": "cold TTFT, byok, next cell after the warm-up (interactive use)",
        "openai-sdk": "cold TTFT, openai SDK (import + client + request)",
    }
    for mode in modes:
        ms = [r["ttft_ms"] for r in res[mode]]
        d = med(ms) - raw_med
        is_byok = mode == "byok"
        if mode == "byok-keyring-ready":
            d_note = (
                "the loading cell's background warm-up resolved the keyring and built the client"
            )
        elif mode == "byok":
            d_note = (
                "Run All: the next cell at once, racing the warm-up; "
                "keyring import + backend discovery ≈ 100 ms"
            )
        else:
            d_note = ""
        cpu = med([r["cpu_ms"] for r in res[mode]])
        rows.append(
            Row(
                "stream: cold start",
                labels[mode],
                "ms",
                samples=ms,
                baseline=f"(raw {d:+.1f} ms)" if mode != "raw" else "",
                target="≤ raw cold + 5 ms" if is_byok else "",
                met=(d <= 5.0) if is_byok else None,
                note=f"{cpu:.0f} ms CPU" + (f"; {d_note}" if d_note else ""),
            )
        )
    return rows
