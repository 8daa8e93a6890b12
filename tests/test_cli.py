"""`byok keys` as a user runs it: a real subprocess, a real Secret Service when there is one,
and no keyring at all (no D-Bus session) when there is not."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from byok_magic.cli import main
from tests.keyring_helpers import MemoryKeyring, clean_env, installed, require_secret_service
from tests.leakcheck import assert_no_secret


@pytest.fixture(autouse=True)
def _fresh_process_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs of main() get a new process-wide store (it caches its backend)."""
    import byok_magic.credentials as cred

    monkeypatch.setattr(cred, "_store", None)


def byok(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "byok_magic.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _out(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("byok"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def no_keyring_env(tmp_path: Path) -> dict[str, str]:
    """No session bus (a JupyterHub pod, SSH, Docker): keyring resolves to its fail backend."""
    env = clean_env(tmp_path, DBUS_SESSION_BUS_ADDRESS=None, BYOK_MAGIC_INSECURE_FILE_STORE=None)
    env["BYOK_MAGIC_HOME"] = str(Path(env["XDG_CONFIG_HOME"]) / "byok_magic")
    return env


@pytest.mark.keyring
def test_set_list_delete_in_the_real_secret_service(tmp_path, fake_key):
    require_secret_service()
    service = f"byok_magic-test-{uuid.uuid4().hex[:12]}"
    env = dict(os.environ, BYOK_MAGIC_HOME=str(tmp_path / "home"))
    env["BYOK_MAGIC_KEYRING_SERVICE"] = service  # the bus is shared: keep this run apart
    env.pop("OPENAI_API_KEY", None)
    outputs = []

    def lookup() -> str:
        return subprocess.run(
            ["secret-tool", "lookup", "service", service, "username", "openai"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout

    stored = byok("keys", "set", "openai", env=env, stdin=fake_key + "\n")
    outputs.append(_out(stored))
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.startswith("Stored the API key for profile 'openai' in keyring:Secret")
    assert lookup() == fake_key  # really in the Secret Service, without the newline

    listed = byok("keys", "list", env=env)
    outputs.append(_out(listed))
    assert listed.returncode == 0
    assert "Secrets are stored in keyring:SecretService." in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if line.startswith("openai "))
    assert row.split() == ["openai", "keyring:SecretService", "api-key", "…" + fake_key[-4:]]

    deleted = byok("keys", "delete", "openai", env=env)
    outputs.append(_out(deleted))
    assert deleted.returncode == 0
    assert "Deleted the API key for profile 'openai'." in deleted.stdout
    assert lookup() == ""
    again = byok("keys", "delete", "openai", env=env)
    assert again.returncode == 1
    assert "no secret is stored for profile 'openai'" in _one_line_error(again)
    for out in outputs:
        assert_no_secret(out, fake_key, "byok output")


def test_no_keyring_says_use_env_vars_and_writes_nothing(tmp_path, fake_key, no_keyring_env):
    before = sorted(p for p in tmp_path.rglob("*"))
    proc = byok("keys", "set", "openai", env=no_keyring_env, stdin=fake_key)
    assert proc.returncode == 1
    line = _one_line_error(proc)
    assert "no secure keyring (no keyring backend is available); nothing was stored" in line
    assert "set OPENAI_API_KEY in the environment instead" in line
    assert_no_secret(_out(proc), fake_key, "byok output")
    # Not a byte anywhere under HOME / XDG dirs / BYOK_MAGIC_HOME.
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not any(p.is_file() for p in tmp_path.rglob("*"))

    listed = byok("keys", "list", env=no_keyring_env)
    assert listed.returncode == 0
    assert listed.stdout.startswith("No usable keyring (no keyring backend is available)")


def test_env_var_key_is_listed_masked(tmp_path, fake_key, no_keyring_env):
    env = dict(no_keyring_env, OPENAI_API_KEY=fake_key)
    listed = byok("keys", "list", env=env)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("openai "))
    assert row.split() == ["openai", "env:OPENAI_API_KEY", "api-key", "…" + fake_key[-4:]]
    assert_no_secret(_out(listed), fake_key, "byok keys list")


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "set", "{key}"),
        ("keys", "set", "openai", "{key}"),
        ("keys", "set", "openai", "--key={key}"),
        ("keys", "delete", "{key}"),
        ("models", "{key}"),
    ],
)
def test_a_key_given_as_an_argument_is_refused_unechoed(no_keyring_env, fake_key, args):
    proc = byok(*(a.format(key=fake_key) for a in args), env=no_keyring_env)
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert "looks like an API key" in line and "rotate it" in line
    assert_no_secret(_out(proc), fake_key, "byok output")


def test_azure_style_hex_key_as_argument_is_refused(no_keyring_env):
    proc = byok("keys", "set", "azure", uuid.uuid4().hex, env=no_keyring_env)
    assert proc.returncode == 2
    assert "rotate it" in _one_line_error(proc)


def test_unknown_profile_says_how_to_add_one(no_keyring_env):
    proc = byok("keys", "set", "acme", env=no_keyring_env, stdin="x")
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert "no profile named 'acme'" in line
    assert "`byok add acme --type openai --base-url URL`" in line and "%byok" not in line
    assert "[profiles.acme]" in line


def test_usage_errors_are_one_line(no_keyring_env):
    proc = byok("keys", "sett", "openai", env=no_keyring_env)
    assert proc.returncode == 2
    assert "invalid choice: 'sett'" in _one_line_error(proc)
    bare = byok(env=no_keyring_env)
    assert bare.returncode == 2 and "keys" in bare.stderr


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [("", "empty input"), ("\n  \n", "empty input"), ("sk-a sk-b", "one word")],
)
def test_bad_input_is_refused(monkeypatch, capsys, stdin, needle):
    with installed(MemoryKeyring()) as kr:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        assert main(["keys", "set", "openai"]) == 1
    assert needle in capsys.readouterr().err
    assert kr.data == {}


def test_terminal_input_uses_a_hidden_prompt(monkeypatch, capsys, fake_key):
    import getpass

    prompts: list[str] = []

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty(""))
    monkeypatch.setattr(getpass, "getpass", lambda p: prompts.append(p) or f"  {fake_key}\n")
    with installed(MemoryKeyring()) as kr:
        assert main(["keys", "set", "groq", "--bearer"]) == 0
    assert prompts == ["bearer token for groq (input hidden): "]
    assert kr.data == {("byok_magic", "groq#bearer"): fake_key}
    out = capsys.readouterr()
    assert f"(…{fake_key[-4:]})" in out.out
    assert_no_secret(out.out + out.err, fake_key, "byok output")


def test_a_shadowing_env_var_is_mentioned(monkeypatch, capsys, fake_key):
    monkeypatch.setenv("OPENAI_API_KEY", fake_key + "env")
    monkeypatch.setattr(sys, "stdin", io.StringIO(fake_key))
    with installed(MemoryKeyring()):
        assert main(["keys", "set", "openai"]) == 0
        assert main(["keys", "delete", "openai"]) == 0
    out = capsys.readouterr().out
    assert "note: OPENAI_API_KEY is also set; the stored API key is used first." in out
    assert "Note: OPENAI_API_KEY is still set in the environment" in out


def test_insecure_file_store_only_when_opted_in(no_keyring_env, fake_key):
    env = dict(no_keyring_env, BYOK_MAGIC_INSECURE_FILE_STORE="1")
    proc = byok("keys", "set", "openai", env=env, stdin=fake_key)
    assert proc.returncode == 0, proc.stderr
    path = Path(env["BYOK_MAGIC_HOME"]) / "secrets" / "keys.json"
    assert f"in file:{path}" in proc.stdout
    assert "is a plaintext file" in proc.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = byok("keys", "list", env=env)
    assert f"openai         file:{path}" in listed.stdout
    assert byok("keys", "delete", "openai", env=env).returncode == 0
    for out in (proc, listed):
        assert_no_secret(_out(out), fake_key, "byok output")


def test_console_script_runs():
    script = Path(sys.executable).with_name("byok")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (pip install -e . creates it)")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("byok_magic ")


@pytest.mark.parametrize(
    ("arg", "is_key"),
    [
        ("openai", False),
        ("foundry-local", False),
        ("my-azure-deployment-2024", False),
        ("claude-3-5-sonnet-20241022", False),
        ("--bearer", False),
        ("sk-test-0123456789abcdef0123", True),
        ("sk-ant-api03-AbCdEf0123456789AbCdEf", True),
        ("AIzaSyA-0123456789abcdefghijklmnopqrstu", True),
        ("0123456789abcdef0123456789abcdef", True),  # Azure
        ("--key=sk-test-0123456789abcdef0123", True),
        ("AbCdEfGh0123456789Xy", True),
    ],
)
def test_looks_like_key(arg, is_key):
    from byok_magic.redact import looks_like_key

    assert looks_like_key(arg) is is_key
