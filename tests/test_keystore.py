"""The key store: backend vetting, read-back, time limits, cache, the opt-in file, status.

docs/security.md §5 tests 14-19, 23 and 25. Real backends where they can run here (the null,
fail and keyrings.alt backends, a real Secret Service, and a real *locked* one on a private bus);
fake backends only for counting calls and for hanging.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import keyring
import keyring.core
import pytest
from keyring.backends import chainer, fail
from keyring.compat import properties

from byok_magic import errors
from byok_magic.config import Config, Profile
from byok_magic.credentials import (
    KeyStore,
    Secret,
    describe,
    lookup,
    require,
    set_token_provider,
)
from tests.keyring_helpers import (
    DroppingKeyring,
    HangingKeyring,
    LockedKeyring,
    MemoryKeyring,
    PromptingKeyring,
    WeakKeyring,
    clean_env,
    files_under,
    installed,
    require_secret_service,
    require_tools,
    run_python,
    skip_or_fail,
)
from tests.leakcheck import assert_no_secret, exception_texts


@pytest.fixture(autouse=True)
def _process_keyring_is_restored():
    """Every test leaves the process's keyring backend as it found it."""
    before = keyring.get_keyring()
    yield
    assert keyring.get_keyring() is before


def _openai() -> Profile:
    return Config().get("openai")


def _service() -> str:
    return f"byok_magic-test-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------------------------
# §5.14 backend policy: plaintext backends and chainers are refused


class _Chain(chainer.ChainerBackend):
    """A chainer over chosen members (keyring builds its member list from installed plugins)."""

    members: ClassVar[list[keyring.backend.KeyringBackend]] = []
    viable = False  # keyring's own discovery must never pick this class for the process

    @properties.classproperty
    def backends(cls) -> list[keyring.backend.KeyringBackend]:
        return list(cls.members)


def test_chainer_whose_first_member_is_weak_is_refused(fake_key):
    weak1, weak2 = WeakKeyring(), WeakKeyring()
    _Chain.members = [weak1, weak2]
    chain = _Chain()
    # The trap from §0.2: two weak members make a priority-10 chainer that "is recommended".
    assert keyring.core.recommended(chain)
    with installed(chain):
        store = KeyStore(_service())
        st = store.status()
        assert not st.ok
        assert st.name == "tests.keyring_helpers.WeakKeyring"
        with pytest.raises(errors.KeyStoreError) as ei:
            store.set("openai", fake_key)
    assert "environment variable" in str(ei.value)
    assert weak1.data == {} and weak2.data == {}


def test_chainer_resolves_to_its_first_member(fake_key):
    good, weak = MemoryKeyring(), WeakKeyring()
    _Chain.members = [good, weak]
    with installed(_Chain()):
        store = KeyStore("svc")
        assert store.status().ok
        store.set("openai", fake_key)
    assert good.data == {("svc", "openai"): fake_key}
    assert weak.data == {}


@pytest.fixture(scope="session")
def keyrings_alt(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """keyrings.alt in a directory of its own, never in the project's venv (it would turn a
    missing keyring into a silent plaintext store for everything in it)."""
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    target = Path(cache.mkdir("keyrings-alt")) if cache else tmp_path_factory.mktemp("kralt")
    if not (target / "keyrings" / "alt" / "file.py").exists():
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target"]
        proc = subprocess.run(
            [*cmd, str(target), "keyrings.alt==5.0.2"], capture_output=True, text=True, timeout=180
        )
        if proc.returncode != 0:
            skip_or_fail(f"could not pip-install keyrings.alt into {target}: {proc.stderr[-300:]}")
    return target


STATUS_AND_SET = r"""
import json, sys
import byok_magic.credentials as c
out = {}
store = c.keystore()
st = store.status()
out["ok"], out["name"], out["label"] = st.ok, st.name, st.label
try:
    store.set("openai", sys.argv[1])
    out["set"] = "stored"
except c.KeyStoreError as err:
    out["set"] = str(err)
    out["context"] = repr(err.__context__)
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["keyrings.alt.file.PlaintextKeyring", "chainer"])
def test_plaintext_backend_is_refused_and_writes_no_file(tmp_path, fake_key, keyrings_alt, backend):
    env = clean_env(tmp_path, PYTHONPATH=str(keyrings_alt), DBUS_SESSION_BUS_ADDRESS=None)
    env["PYTHON_KEYRING_BACKEND"] = (
        "keyring.backends.chainer.ChainerBackend" if backend == "chainer" else backend
    )
    proc = run_python(STATUS_AND_SET, env, fake_key)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # Without a bus the chainer's only member is keyrings.alt's plaintext store.
    assert out["ok"] is False
    assert out["name"] == "keyrings.alt.file.PlaintextKeyring"
    assert "keyrings.alt.file.PlaintextKeyring" in out["set"]
    assert "environment variable" in out["set"]
    assert out["context"] == "None"
    home = Path(env["HOME"])
    assert not (home / ".local/share/python_keyring").exists()
    assert files_under(home) == set()
    assert_no_secret(proc.stdout + proc.stderr, fake_key, "child output")


# ---------------------------------------------------------------------------------------------
# §5.15 null and fail backends


def test_null_backend_save_fails(tmp_path, fake_key):
    env = clean_env(tmp_path, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    proc = run_python(STATUS_AND_SET, env, fake_key)
    out = json.loads(proc.stdout)
    assert out["name"] == "keyring.backends.null.Keyring"
    assert out["set"].startswith("no secure keyring: the keyring is disabled")


def test_a_backend_that_drops_writes_fails_the_read_back(fake_key):
    with installed(DroppingKeyring()), pytest.raises(errors.KeyStoreError) as ei:
        KeyStore(_service()).set("openai", fake_key)
    assert "did not keep the secret" in str(ei.value)


def test_fail_backend_points_to_environment_variables(fake_key):
    with installed(fail.Keyring()):
        store = KeyStore(_service())
        assert store.status().label == "keyring:fail"
        with pytest.raises(errors.KeyStoreError) as ei:
            store.set("openai", fake_key)
        assert "no keyring backend is available" in str(ei.value)
        assert "environment variable" in str(ei.value)
        with pytest.raises(errors.MissingKeyError) as mi:
            require(_openai(), store)
    assert "OPENAI_API_KEY" in str(mi.value)
    assert "keyring is unusable" in str(mi.value)


def test_no_secure_keyring_never_falls_back_to_a_file(tmp_path, fake_key, byok_home):
    with installed(fail.Keyring()), pytest.raises(errors.KeyStoreError):
        KeyStore(_service()).set("openai", fake_key)
    assert not byok_home.exists() or files_under(byok_home) == set()


# ---------------------------------------------------------------------------------------------
# §5.16 a misconfigured keyring


MISCONFIGURED = r"""
import json, os, sys
import byok_magic, byok_magic.credentials as c
from byok_magic.config import Config
loaded = "no extension entry point"
if hasattr(byok_magic, "load_ipython_extension"):
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    byok_magic.load_ipython_extension(ip)
    loaded = "loaded"
st = c.keystore().status()
prof = Config().get("openai")
cred = c.lookup(prof)
same = cred.secret.reveal() == os.environ["OPENAI_API_KEY"]
print(json.dumps({"loaded": loaded, "ok": st.ok, "name": st.name, "reason": st.reason,
                  "source": cred.source, "same": same, "describe": str(c.describe(prof))}))
"""


@pytest.mark.parametrize(
    "value", ["no.such.Backend", "keyring.backends.SecretService.Keyring"], ids=["unknown", "nobus"]
)
def test_misconfigured_keyring_never_raises_and_env_keys_work(tmp_path, fake_key, value):
    env = clean_env(tmp_path, PYTHON_KEYRING_BACKEND=value, DBUS_SESSION_BUS_ADDRESS=None)
    env["OPENAI_API_KEY"] = fake_key
    proc = run_python(MISCONFIGURED, env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    import byok_magic

    if hasattr(byok_magic, "load_ipython_extension"):  # `%load_ext byok_magic` went through
        assert out["loaded"] == "loaded"
    assert out["ok"] is False
    assert out["name"] == "misconfigured"
    assert "PYTHON_KEYRING_BACKEND" in out["reason"]
    assert out["source"] == "env:OPENAI_API_KEY" and out["same"] is True
    assert out["describe"].startswith(f"openai env:OPENAI_API_KEY …{fake_key[-4:]}")
    assert "misconfigured" in out["describe"]
    assert_no_secret(out["describe"], fake_key, "describe()")


# ---------------------------------------------------------------------------------------------
# §5.17 locked, hanging and prompting keyrings: a clear error within the time limit


def test_hanging_backend_times_out_with_a_clear_error(fake_key):
    hang = HangingKeyring()
    try:
        with installed(hang):
            store = KeyStore(_service(), timeout=0.5)
            for call in (lambda: store.get("openai"), lambda: store.set("openai", fake_key)):
                t0 = time.monotonic()
                with pytest.raises(errors.KeyStoreError) as ei:
                    call()
                assert time.monotonic() - t0 < 2.0
                assert "did not answer within 0.5 s" in str(ei.value)
                assert ei.value.__context__ is None
    finally:
        hang.release.set()


def test_a_hung_keyring_costs_one_timeout_then_falls_back_to_env(fake_key, monkeypatch):
    hang = HangingKeyring()
    monkeypatch.setenv("OPENAI_API_KEY", fake_key)
    try:
        with installed(hang):
            store = KeyStore(_service(), timeout=0.3)
            t0 = time.monotonic()
            assert lookup(_openai(), store).source == "env:OPENAI_API_KEY"
            first = time.monotonic() - t0
            t0 = time.monotonic()
            for _ in range(20):
                assert lookup(_openai(), store).source == "env:OPENAI_API_KEY"
            assert time.monotonic() - t0 < 0.2 < first + 0.1
            assert "keyring unusable" in describe(_openai(), store).note
    finally:
        hang.release.set()


class NoStdinKeyring(PromptingKeyring):
    """A getpass prompt inside a kernel run by nbclient (allow_stdin=False)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        from IPython.core.error import StdinNotImplementedError

        raise StdinNotImplementedError(f"raw_input was called with {password}")


@pytest.mark.parametrize("backend", [LockedKeyring, PromptingKeyring, NoStdinKeyring])
def test_locked_or_prompting_backend_gives_a_keyless_error(fake_key, backend):
    with installed(backend()):
        store = KeyStore(_service())
        with pytest.raises(errors.KeyStoreError) as ei:
            store.set("openai", fake_key)
    err = ei.value
    name = {LockedKeyring: "KeyringLocked", PromptingKeyring: "EOFError"}.get(
        backend, "StdinNotImplementedError"
    )
    assert f"the keyring failed to store the secret ({name}; is it locked?)" in str(err)
    assert err.__context__ is None and err.__cause__ is None
    for where, text in exception_texts(err).items():
        assert_no_secret(text, fake_key, where)


LOCKED_SCRIPT = r"""
set -eu
export XDG_DATA_HOME="$1/data" HOME="$1/home"
mkdir -p "$HOME"
own_name() {  # wait until the daemon owns its bus name (security.md §1.2 P5)
  for _ in $(seq 1 200); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
      | grep -q 'boolean true' && return 0
    sleep 0.05
  done
  return 1
}
printf %s "$2" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
own_name
"$PY" -c "$3" "$4"
"""

LOCKED_PROBE = r"""
import json, sys, time
import byok_magic.credentials as c
store = c.keystore()
out = {"name": store.status().name}
for what, call in (("set", lambda: store.set("openai", sys.argv[1])),
                   ("get", lambda: store.get("openai"))):
    t0 = time.monotonic()
    try:
        call()
        out[what] = "no error"
    except c.KeyStoreError as err:
        out[what] = str(err)
    out[what + "_s"] = time.monotonic() - t0
print(json.dumps(out))
"""


@pytest.mark.keyring
def test_locked_secret_service_gives_a_clear_error_fast(tmp_path, fake_key):
    """A real gnome-keyring whose login keyring stays locked (P3: wrong password, exit 0)."""
    require_tools("dbus-run-session", "gnome-keyring-daemon", "dbus-send")
    env = clean_env(tmp_path, DBUS_SESSION_BUS_ADDRESS=None, PY=sys.executable)
    create = "import keyring; keyring.set_password('byok-lock', 'x', 'created')"

    def session(password: str, code: str, arg: str) -> subprocess.CompletedProcess[str]:
        cmd = ["dbus-run-session", "--", "bash", "-c", LOCKED_SCRIPT, "locked"]
        return subprocess.run(
            [*cmd, str(tmp_path), password, code, arg],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = session("right-" + uuid.uuid4().hex, create, "")
    if made.returncode != 0:
        skip_or_fail(f"could not create a keyring to lock: {made.stderr[-500:]}")
    proc = session("wrong-" + uuid.uuid4().hex, LOCKED_PROBE, fake_key)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["name"] == "keyring.backends.SecretService.Keyring"  # looks usable (P2/P3)...
    for what in ("set", "get"):  # ...but every call fails, quickly and clearly
        assert "KeyringLocked; is it locked?" in out[what], out
        assert out[what + "_s"] < 10
    assert_no_secret(proc.stdout + proc.stderr, fake_key, "locked session output")


# ---------------------------------------------------------------------------------------------
# §5.18 a real Secret Service, through KeyStore


@pytest.mark.keyring
def test_real_secret_service_round_trip(fake_key):
    require_secret_service()
    import secretstorage

    service = _service()
    secret = fake_key + "-ünï"
    store = KeyStore(service)
    assert store.status().label == "keyring:SecretService"
    try:
        store.set("openai", secret)
        # A fresh store (no cache) and another process both read what the keyring holds.
        assert KeyStore(service).get("openai") == secret
        seen = subprocess.run(
            ["secret-tool", "lookup", "service", service, "username", "openai"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert seen.stdout == secret
        conn = secretstorage.dbus_init()
        try:
            items = list(secretstorage.search_items(conn, {"service": service}))
            assert [i.get_attributes()["username"] for i in items] == ["openai"]
            attrs = items[0].get_attributes()
            assert attrs["application"] == "Python keyring library"
        finally:
            conn.close()
    finally:
        assert store.delete("openai") is True
    assert store.get("openai") is None
    assert KeyStore(service).get("openai") is None
    assert store.delete("openai") is False
    data = os.environ.get("KEYRING_CI_DATA")
    if data:  # encrypted at rest: no form of the secret in the daemon's files
        for f in Path(data).rglob("*"):
            if f.is_file():
                assert_no_secret(f.read_bytes(), secret, str(f))


# ---------------------------------------------------------------------------------------------
# §5.19 the opt-in plaintext file


@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


def test_file_store_only_when_opted_in(monkeypatch, byok_home, fake_key):
    monkeypatch.delenv("BYOK_MAGIC_INSECURE_FILE_STORE", raising=False)
    with installed(fail.Keyring()):
        assert not KeyStore(_service()).status().ok
        monkeypatch.setenv("BYOK_MAGIC_INSECURE_FILE_STORE", "1")
        st = KeyStore(_service()).status()
    assert st.ok and st.insecure
    assert st.label == f"file:{byok_home / 'secrets' / 'keys.json'}"


def test_file_store_is_private_even_under_umask_000(monkeypatch, byok_home, fake_key, umask_000):
    monkeypatch.setenv("BYOK_MAGIC_INSECURE_FILE_STORE", "1")
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **kw):
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode, *a, **kw)

    monkeypatch.setattr(os, "open", spy)
    store = KeyStore("svc")
    store.set("openai", fake_key)
    store.set("openai#bearer", fake_key + "b")
    path = byok_home / "secrets" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    creates = [(p, f, m) for p, f, m in opened if f & os.O_CREAT]
    assert creates, "the file must be created with os.open"
    for _, flags, mode in creates:
        assert flags & os.O_EXCL and mode == 0o600
    # Round trip through a fresh store (no cache), then delete.
    fresh = KeyStore("svc")
    assert fresh.get("openai") == fake_key
    assert fresh.get("openai#bearer") == fake_key + "b"
    assert fresh.delete("openai") is True
    assert KeyStore("svc").get("openai") is None
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temp files left


@pytest.mark.parametrize("what", ["file", "dir", "symlink"])
def test_file_store_refuses_an_exposed_file(monkeypatch, byok_home, fake_key, what):
    monkeypatch.setenv("BYOK_MAGIC_INSECURE_FILE_STORE", "1")
    KeyStore("svc").set("openai", fake_key)
    path = byok_home / "secrets" / "keys.json"
    if what == "file":
        path.chmod(0o644)
    elif what == "dir":
        path.parent.chmod(0o755)
    else:
        real = byok_home / "elsewhere.json"
        path.rename(real)
        path.symlink_to(real)
    with pytest.raises(errors.KeyStoreError) as ei:
        KeyStore("svc").get("openai")
    text = str(ei.value)
    hint = {"file": "chmod 600", "dir": "chmod 700", "symlink": "symlink"}[what]
    assert hint in text
    assert ei.value.__context__ is None
    for where, blob in exception_texts(ei.value).items():
        assert_no_secret(blob, fake_key, where)


# ---------------------------------------------------------------------------------------------
# §5.23 cache and delete semantics


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hundred_requests_cost_one_keyring_read_per_entry(fake_key):
    with installed(MemoryKeyring()) as kr:
        kr.data[("svc", "openai")] = fake_key
        store = KeyStore("svc")
        for _ in range(100):
            assert lookup(_openai(), store).secret == Secret(fake_key)
    # One read for the bearer entry (absent) and one for the key; none after that.
    assert kr.gets_by_user == {"openai#bearer": 1, "openai": 1}


def test_concurrent_first_reads_share_one_keyring_call(fake_key):
    with installed(MemoryKeyring()) as kr:
        kr.data[("svc", "openai")] = fake_key
        store = KeyStore("svc")
        results: list[str | None] = []
        threads = [
            threading.Thread(target=lambda: results.append(store.get("openai"))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [fake_key] * 8
    assert kr.gets_by_user["openai"] == 1


def test_delete_and_ttl_invalidate_the_cache(fake_key, monkeypatch):
    clock = _Clock()
    with installed(MemoryKeyring()) as kr:
        store = KeyStore("svc", ttl=300)
        store.clock = clock
        store.set("openai", fake_key)
        reads = kr.gets_by_user["openai"]  # the read-back
        assert store.get("openai") == fake_key
        assert kr.gets_by_user["openai"] == reads  # served from the cache
        # delete: the very next request must not use the old key (none in env either).
        assert store.delete("openai") is True
        assert lookup(_openai(), store) is None
        # Another process stores a new key directly in the keyring: seen after the TTL only.
        kr.data[("svc", "openai")] = fake_key + "2"
        clock.now += 299
        assert store.get("openai") is None
        clock.now += 2
        assert store.get("openai") == fake_key + "2"
        # forget_cache (e.g. after unlocking) reads afresh at once.
        kr.data[("svc", "openai")] = fake_key + "3"
        store.forget_cache()
        assert store.get("openai") == fake_key + "3"


def test_cached_values_are_masked_in_the_store_internals(fake_key):
    with installed(MemoryKeyring()):
        store = KeyStore("svc")
        store.set("openai", fake_key)
        assert_no_secret(repr(store) + repr(vars(store)), fake_key, "KeyStore internals")
        with pytest.raises(TypeError):
            import pickle

            pickle.dumps(store)


# ---------------------------------------------------------------------------------------------
# §5.25 status output: where a secret comes from, masked


def test_describe_every_source_masked(fake_key, monkeypatch, byok_home):
    cfg = Config(home=byok_home)
    cfg.add(Profile(name="work", type="openai", base_url="https://x.example/v1", key_env="WORK_K"))
    with installed(MemoryKeyring()) as kr:
        store = KeyStore("svc")
        kr.data[("svc", "openai")] = fake_key
        kr.data[("svc", "groq#bearer")] = fake_key + "bearer"
        monkeypatch.setenv("WORK_K", fake_key + "env")
        calls: list[int] = []
        set_token_provider("deepseek", lambda: calls.append(1) or fake_key)
        try:
            seen = {n: describe(cfg.get(n), store) for n in ("openai", "groq", "work", "deepseek")}
            seen["mistral"] = describe(cfg.get("mistral"), store)
            seen["ollama"] = describe(cfg.get("ollama"), store)
        finally:
            set_token_provider("deepseek", None)
    assert (seen["openai"].source, seen["openai"].masked) == (
        "keyring:tests.keyring_helpers.MemoryKeyring",
        "…" + fake_key[-4:],
    )
    assert (seen["groq"].kind, seen["groq"].masked) == ("bearer", "…arer")
    assert (seen["work"].source, seen["work"].masked) == ("env:WORK_K", "…" + fake_key[-1] + "env")
    assert seen["deepseek"].source == "token-provider" and calls == []  # never called
    assert seen["mistral"].source == "none"
    assert seen["ollama"].source == "not needed"
    text = "\n".join(str(s) + repr(s) for s in seen.values())
    for secret in (fake_key, fake_key + "bearer", fake_key + "env"):
        assert_no_secret(text, secret, "status output")


def test_describe_reports_an_unusable_keyring(fake_key):
    with installed(fail.Keyring()):
        src = describe(_openai(), KeyStore(_service()))
    assert src.source == "none"
    assert src.note == "keyring unusable: no keyring backend is available"


def test_prompting_and_plaintext_families_are_refused_by_name():
    """keyrings.cryptfile counts as "recommended" (2.5) but prompts for a master password on
    every call (§1.3); refused by its module, like keyrings.alt."""
    for module in ("keyrings.cryptfile.cryptfile", "keyrings.alt.file"):
        fake = type("CryptFileKeyring", (MemoryKeyring,), {"__module__": module, "priority": 2.5})
        st = KeyStore("svc", backend=fake()).status()
        assert not st.ok and st.name == f"{module}.CryptFileKeyring"
    assert "master password" in KeyStore("svc", backend=fake_crypt()).status().reason


def fake_crypt() -> MemoryKeyring:
    cls = type("K", (MemoryKeyring,), {"__module__": "keyrings.cryptfile.cryptfile"})
    return cls()


def test_a_keyring_that_hangs_while_being_vetted_is_a_status_not_a_hang():
    release = threading.Event()

    class SlowToProbe(MemoryKeyring):
        @property
        def priority(self) -> float:  # type: ignore[override]
            release.wait(60)  # SecretService's priority opens a D-Bus connection
            return 5

    try:
        t0 = time.monotonic()
        st = KeyStore("svc", timeout=0.3, backend=SlowToProbe()).status()
        assert time.monotonic() - t0 < 2
        assert (st.ok, st.name, st.label) == (False, "unresponsive", "keyring:unresponsive")
    finally:
        release.set()
