"""OAuth credential files: checking, storing, refreshing; the three tool logins explained and never
sent (issue 8; providers.md §8; interface.md "OAuth credential files")."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
from IPython.utils.capture import capture_output

from byok_magic import errors, oauth
from byok_magic.config import Profile
from byok_magic.credentials import Secret, describe, require
from byok_magic.errors import CellFailed
from byok_magic.oauth_files import ToolLoginRefused, parse_credential
from byok_magic.oauth_locations import find_files
from tests.leakcheck import assert_no_secret, exception_texts
from tests.oauth_helpers import (
    TokenEndpoint,
    adc,
    claude_login,
    dumps,
    form_of,
    gemini_cli_login,
    qwen_login,
    secrets_of,
    tool_secrets,
)
from tests.test_magics import markdown_of

TOOLS = {
    "qwen-code": (qwen_login, ("Qwen Code login", "2026-04-15", "`%byok keys set dashscope`")),
    "gemini-cli": (
        gemini_cli_login,
        ("Gemini CLI login", "terms forbid", "`%byok keys set gemini`", "--oauth --from gcloud"),
    ),
    "claude-code": (
        claude_login,
        ("Claude Code login", "terms forbid", "`%byok keys set anthropic`"),
    ),
}
TOOL_PATHS = {
    "qwen-code": ".qwen/oauth_creds.json",
    "gemini-cli": ".gemini/oauth_creds.json",
    "claude-code": ".claude/.credentials.json",
}


@pytest.fixture
def sent(monkeypatch):
    """Every HTTP request any byok client sends (none expected where this is used)."""
    calls: list[str] = []
    real = httpx.Client.send

    def spy(self, request, **kw):
        calls.append(str(request.url))
        return real(self, request, **kw)

    monkeypatch.setattr(httpx.Client, "send", spy)
    return calls


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private home directory (HOME and USERPROFILE) with no tool logins in it yet."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("USERPROFILE", str(h))
    for var in (
        "CLAUDE_CONFIG_DIR",
        "CLOUDSDK_CONFIG",
        "APPDATA",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(var, raising=False)
    return h


def _vertex(router, name="vx", **kw) -> Profile:
    prof = Profile(name=name, type="vertex", auth="bearer", **kw)
    router.config.add(prof)
    return prof


# -- checking a credential ----------------------------------------------------------------------


def test_authorized_user_is_accepted_with_its_project():
    parsed = parse_credential(dumps(adc(None, project="proj-from-json")))
    assert parsed.kind == "authorized_user" and parsed.project_id == "proj-from-json"
    data = adc(None, project=None)
    data["projectId"] = "explicit-project"
    assert parse_credential(json.dumps(data)).project_id == "explicit-project"
    assert "GOCSPX" not in repr(parsed)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "not valid JSON (line 1, column 2"),
        ("", "no OAuth JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type": "service_account", "private_key": "x"}', "service-account keys are not taken"),
        ('{"client_id": "c", "client_secret": "s", "refresh_token": "r"}', 'has no "type"'),
        ('{"type": "authorized_user", "client_id": "c"}', "lacks client_secret, refresh_token"),
        (
            '{"type": "authorized_user", "client_id": "c", "client_secret": "s", '
            '"refresh_token": 5}',
            "refresh_token must be text",
        ),
    ],
)
def test_unusable_json_is_explained(text, says):
    with pytest.raises(errors.ConfigError) as ei:
        parse_credential(text)
    assert says in str(ei.value)
    assert ei.value.__context__ is None


@pytest.mark.parametrize(
    "uri",
    ["https://evil.example.com/token", "http://oauth2.googleapis.com/token", "ftp://x/token"],
)
def test_token_uri_only_points_at_google_or_loopback(uri):
    with pytest.raises(errors.ConfigError, match="token_uri"):
        parse_credential(json.dumps(adc(uri)))
    for ok in ("https://oauth2.googleapis.com/token", "http://127.0.0.1:9/token"):
        parse_credential(json.dumps(adc(ok)))


# -- the three tool logins ----------------------------------------------------------------------


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_pasted_tool_login_is_explained_and_never_stored_or_sent(
    tool, ip, router, memory_store, loopback, monkeypatch, sent
):
    make, says = TOOLS[tool]
    data = make(resource_url=loopback.url) if tool == "qwen-code" else make()
    _vertex(router)
    import getpass

    monkeypatch.setattr(getpass, "getpass", lambda prompt: json.dumps(data))
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_line_magic("byok", "keys set vx --oauth")
    out = "\n".join(markdown_of(cap.outputs)) + cap.stdout + cap.stderr
    for phrase in says:
        assert phrase in out
    assert "vx#oauth" not in memory_store.values
    assert_no_secret(out, tool_secrets(data), "the magic's output")
    # and pasted where a key goes, too
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_line_magic("byok", "keys set vx")
    assert says[0] in "\n".join(markdown_of(cap.outputs)) + cap.stdout
    assert memory_store.values == {}
    assert sent == [] and loopback.seen() == []


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_profile_set_up_with_a_tool_login_sends_nothing(tool, router, memory_store, loopback, sent):
    """A profile whose stored secret is a tool login (stored by hand or by an old version)."""
    make, says = TOOLS[tool]
    data = make(resource_url=loopback.url) if tool == "qwen-code" else make()
    router.config.add(
        Profile(name="tool", type="openai", base_url=loopback.url + "/v1", auth="bearer")
    )
    for slot in ("tool#oauth", "tool#bearer", "tool"):
        memory_store.values.clear()
        memory_store.set(slot, json.dumps(data))
        with pytest.raises(ToolLoginRefused) as ei:
            router.ask("hi", "tool:m")
        assert says[0] in str(ei.value) and says[-1] in str(ei.value)
        for text in exception_texts(ei.value).values():
            assert_no_secret(text, tool_secrets(data), "the error")
        src = describe(router.config.get("tool"), memory_store)
        assert_no_secret(str(src), tool_secrets(data), "describe()")
    _vertex(router)
    memory_store.set("vx#oauth", json.dumps(data))
    with pytest.raises(ToolLoginRefused):
        router.ask("hi", "vx:gemini-test")
    assert sent == [] and loopback.seen() == []


def _write_tool_files(base: Path) -> dict[str, dict]:
    out = {}
    for tool, rel in TOOL_PATHS.items():
        data = TOOLS[tool][0]()
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(data))
        out[tool] = data
    return out


def test_tool_logins_found_at_default_paths(home, ip, router, memory_store, sent):
    files = _write_tool_files(home)
    found = {f.source: f for f in find_files()}
    assert set(found) == set(TOOL_PATHS)
    assert "expired" in found["gemini-cli"].row()[2]  # its token expired ten minutes ago
    assert found["qwen-code"].row()[2].startswith("expires 20")
    all_tokens = [t for d in files.values() for t in tool_secrets(d)]
    with capture_output() as cap:
        ip.run_line_magic("byok", "keys")
    out = "\n".join(markdown_of(cap.outputs))
    for rel in TOOL_PATHS.values():
        assert str(home / rel) in out
    for phrase in ("Qwen Code login", "Gemini CLI login", "Claude Code login", "not used"):
        assert phrase in out
    for route in (
        "`%byok keys set dashscope`",
        "`%byok keys set gemini`",
        "`%byok keys set anthropic`",
    ):
        assert route in out
    assert_no_secret(out, all_tokens, "%byok keys")
    for tool in TOOL_PATHS:
        with capture_output() as cap, pytest.raises(CellFailed):
            ip.run_line_magic("byok", f"keys set vertex --oauth --from {tool}")
        shown = "\n".join(markdown_of(cap.outputs))
        assert TOOLS[tool][1][0] in shown and TOOLS[tool][1][-1] in shown
        assert_no_secret(shown, all_tokens, f"--from {tool}")
    assert memory_store.values == {} and sent == []


def test_windows_userprofile_and_claude_config_dir(tmp_path, monkeypatch, home):
    win = tmp_path / "Users" / "ada"
    _write_tool_files(win)
    monkeypatch.setenv("USERPROFILE", str(win))  # HOME stays empty, as on Windows
    claude_dir = tmp_path / "claude-config"
    claude_dir.mkdir()
    (claude_dir / ".credentials.json").write_text(json.dumps(claude_login()))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude_dir))
    paths = {f.path for f in find_files()}
    assert str(win / ".qwen" / "oauth_creds.json") in paths
    assert str(win / ".gemini" / "oauth_creds.json") in paths
    assert str(claude_dir / ".credentials.json") in paths


def test_cli_lists_found_files_and_refuses_them(home, memory_store, capsys, sent):
    from byok_magic.cli import main

    files = _write_tool_files(home)
    tokens = [t for d in files.values() for t in tool_secrets(d)]
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "Gemini CLI login" in out and str(home / ".qwen" / "oauth_creds.json") in out
    assert_no_secret(out, tokens, "byok keys list")
    path = str(home / ".claude" / ".credentials.json")
    assert main(["keys", "set", "anthropic", "--oauth", "--file", path]) == 2
    err = capsys.readouterr().err
    # the command line names the terminal command
    assert "Claude Code login" in err and "`byok keys set anthropic`" in err
    assert_no_secret(err, tokens, "stderr")
    assert memory_store.values == {} and sent == []


def test_cli_stores_piped_json_and_the_gcloud_file(home, memory_store, capsys, monkeypatch):
    from byok_magic.cli import main

    data = adc(None, project="piped-project")
    monkeypatch.setattr("sys.stdin", io.StringIO(dumps(data)))  # several lines, as files are
    assert main(["keys", "set", "vertex", "--oauth"]) == 0
    out = capsys.readouterr().out
    assert "piped-project" in out
    assert json.loads(memory_store.values["vertex#oauth"]) == data
    assert_no_secret(out, secrets_of(data), "stdout")
    # gcloud's own file at its default place
    other = adc(None, project="gcloud-project")
    adc_path = home / ".config" / "gcloud" / "application_default_credentials.json"
    adc_path.parent.mkdir(parents=True)
    adc_path.write_text(dumps(other))
    assert main(["keys", "set", "vertex", "--oauth", "--from", "gcloud"]) == 0
    assert json.loads(memory_store.values["vertex#oauth"]) == other
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "oauth" in listed and "gcloud application-default" in listed
    assert_no_secret(listed, secrets_of(other), "byok keys list")


def test_magic_stores_from_a_path_and_shows_it_masked(
    home, ip, router, memory_store, monkeypatch, tmp_path
):
    data = adc(None, project="demo-project")
    path = tmp_path / "adc.json"
    path.write_text(dumps(data))
    _vertex(router)
    import getpass

    monkeypatch.setattr(getpass, "getpass", lambda prompt: str(path))  # a path at the prompt
    with capture_output() as cap:
        ip.run_line_magic("byok", "keys set vx --oauth")
        ip.run_line_magic("byok", "keys")
        ip.run_line_magic("byok", "")
    out = "\n".join(markdown_of(cap.outputs))
    assert "stored in the keyring" in out and "demo-project" in out
    assert json.loads(memory_store.values["vx#oauth"]) == data
    assert Secret(data["refresh_token"]).masked in out
    assert_no_secret(out, secrets_of(data), "magic output")


# -- refreshing ---------------------------------------------------------------------------------


def test_expired_token_is_refreshed_once_and_stored(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback)
    old = "ya29.test-old-0123456789abcdef"
    data = adc(endpoint.uri, access=old, expires_in=-30)
    prof = _vertex(router)
    memory_store.set("vx#oauth", json.dumps(data))
    cred = require(prof, memory_store)
    assert cred is not None and cred.kind == "bearer"
    (call,) = endpoint.calls
    assert form_of(call) == {
        "grant_type": "refresh_token",
        "client_id": data["client_id"],
        "client_secret": data["client_secret"],
        "refresh_token": data["refresh_token"],
    }
    assert call.header("content-type") == "application/x-www-form-urlencoded"
    assert call.header("authorization") is None
    assert cred.secret == Secret(endpoint.issued[0])
    stored = json.loads(memory_store.values["vx#oauth"])
    assert stored["access_token"] == endpoint.issued[0]
    assert stored["refresh_token"] == data["refresh_token"]  # not rotated: kept
    assert stored["client_secret"] == data["client_secret"]
    assert cred.meta["project_id"] == "demo-project"
    # fresh now: the next use sends nothing
    again = require(prof, memory_store)
    assert again is not None and again.secret == cred.secret and len(endpoint.calls) == 1


def test_token_expiring_within_a_minute_is_refreshed_but_not_before(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback)
    prof = _vertex(router)
    memory_store.set(
        "vx#oauth", json.dumps(adc(endpoint.uri, access="ya29.test-a", expires_in=600))
    )
    require(prof, memory_store)
    assert endpoint.calls == []
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri, access="ya29.test-b", expires_in=45)))
    require(prof, memory_store)
    assert len(endpoint.calls) == 1
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri)))  # gcloud's file: no access token
    require(prof, memory_store)
    assert len(endpoint.calls) == 2


def test_rotated_refresh_token_is_stored_and_used_next(router, loopback, memory_store, monkeypatch):
    endpoint = TokenEndpoint(loopback, rotate=True)
    prof = _vertex(router)
    data = adc(endpoint.uri)
    memory_store.set("vx#oauth", json.dumps(data))
    require(prof, memory_store)
    stored = json.loads(memory_store.values["vx#oauth"])
    assert stored["refresh_token"] == endpoint.rotated[0] != data["refresh_token"]
    monkeypatch.setattr(oauth, "clock", lambda: time.time() + 7200)  # two hours later
    require(prof, memory_store)
    assert form_of(endpoint.calls[1])["refresh_token"] == endpoint.rotated[0]


def test_racing_cells_share_one_refresh(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback, delay=0.3)
    prof = _vertex(router)
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri, access="ya29.test-x", expires_in=-1)))
    start = threading.Barrier(4)
    got: list[str] = []

    def cell() -> None:
        start.wait()
        cred = require(prof, memory_store)
        assert cred is not None
        got.append(cred.secret.reveal())

    threads = [threading.Thread(target=cell) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(endpoint.calls) == 1
    assert got == [endpoint.issued[0]] * 4


def test_refused_refresh_says_how_to_log_in_again(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback, refuse=True)
    prof = _vertex(router)
    data = adc(endpoint.uri, access="ya29.test-expired-000111", expires_in=-5)
    memory_store.set("vx#oauth", json.dumps(data))
    with pytest.raises(oauth.RefreshRefused) as ei:
        require(prof, memory_store)
    err = ei.value
    assert isinstance(err, errors.AuthError)
    assert "invalid_grant" in str(err)
    assert (
        "log in again with `gcloud auth application-default login`, then "
        "`%byok keys set vx --oauth`" in str(err)
    )
    assert err.__context__ is None and err.__cause__ is None
    for where, text in exception_texts(err).items():
        assert_no_secret(text, secrets_of(data), where)
    assert json.loads(memory_store.values["vx#oauth"]) == data  # left as it was
    assert len(endpoint.calls) == 1


def test_token_endpoint_server_error_is_retried_then_clear(
    router, loopback, memory_store, monkeypatch
):
    from tests.loopback import Reply

    prof = _vertex(router)
    monkeypatch.setattr(router.transport, "sleep", lambda s: None)
    loopback.route("POST", "/token", Reply.json({"error": "internal"}, status=503))
    memory_store.set("vx#oauth", json.dumps(adc(loopback.url + "/token")))
    with pytest.raises(errors.ServerError):
        require(prof, memory_store, router.transport)
    assert len(loopback.seen("/token")) == 3  # the transport's usual two retries


def test_no_token_in_logs_reprs_or_status(router, loopback, memory_store, caplog):
    """Root logger at DEBUG (httpx, httpcore, byok): no form of any token in any record."""
    endpoint = TokenEndpoint(loopback, rotate=True)
    prof = _vertex(router)
    data = adc(endpoint.uri, access="ya29.test-old-token-abcdef123456", expires_in=-1)
    memory_store.set("vx#oauth", json.dumps(data))
    with caplog.at_level(logging.DEBUG):
        cred = require(prof, memory_store)
        assert cred is not None
        src = describe(prof, memory_store)
        texts = [repr(cred), str(cred), repr(src), str(src), repr(memory_store.values.keys())]
        texts.append(repr(oauth.UserCredential(parse_credential(memory_store.values["vx#oauth"]))))
    assert caplog.records, "httpx/httpcore should have logged the refresh"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    every = secrets_of(data) + endpoint.all_secrets()
    assert_no_secret(logged, every, "the log")
    for text in texts:
        assert_no_secret(text, every, "a repr")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(oauth.UserCredential(parse_credential(json.dumps(data))))


def test_status_describes_without_refreshing(router, loopback, memory_store, sent):
    endpoint = TokenEndpoint(loopback)
    prof = _vertex(router)
    data = adc(endpoint.uri, access="ya29.test-stale-0000111122", expires_in=-100)
    memory_store.set("vx#oauth", json.dumps(data))
    src = describe(prof, memory_store)
    assert src.kind == "oauth" and src.masked == Secret(data["refresh_token"]).masked
    assert "expired" in src.note and "demo-project" in src.note
    assert sent == [] and endpoint.calls == []


def test_prompt_input_that_is_a_key_or_a_missing_path_is_not_echoed(
    ip, router, memory_store, monkeypatch, tmp_path
):
    import getpass

    _vertex(router)
    key = "sk-test-" + "a1B2" * 8
    missing = str(tmp_path / "no-such-dir" / "adc.json")
    for typed, says in ((key, "looks like an API key"), (missing, "(FileNotFoundError)")):
        monkeypatch.setattr(getpass, "getpass", lambda prompt, typed=typed: typed)
        with capture_output() as cap, pytest.raises(CellFailed):
            ip.run_line_magic("byok", "keys set vx --oauth")
        out = "\n".join(markdown_of(cap.outputs))
        assert says in out and typed not in out
    assert memory_store.values == {}
