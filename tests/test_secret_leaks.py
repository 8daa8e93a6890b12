"""No copy of a key anywhere it should not be: objects, errors, logs, URLs, other origins,
other providers, the environment, and redacted text.

docs/security.md §5 tests 5, 6, 8, 9, 10, 11, 12, 13, 20 and 24. Every request goes to a real
HTTP server on 127.0.0.1 (tests/loopback.py); "secret form" is tests/leakcheck.py (raw, any
8-character window, base64 at any alignment, URL-encoded, JSON-escaped, hex).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import socket
import string
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from byok_magic import errors
from byok_magic.config import Config, Profile
from byok_magic.credentials import Credential, KeyStore, Secret, lookup
from byok_magic.redact import MASK, forget, redact, remember
from byok_magic.router import Answer, Router
from tests.keyring_helpers import MemoryKeyring, installed
from tests.leakcheck import assert_no_secret, exception_texts, find_secret, leaked_forms
from tests.loopback import LoopbackServer, Reply, chat_chunks

# Each provider family with an adapter: how its profile points at the loopback server.
PROVIDERS = {
    "openai": {"type": "openai", "path": "/v1"},
    "openai-responses": {"type": "openai", "wire_api": "responses", "path": "/v1"},
    "azure": {"type": "azure", "path": ""},
    "anthropic": {"type": "anthropic", "path": ""},
    "gemini": {"type": "gemini", "path": ""},
}


def add_profile(router: Router, srv: LoopbackServer | str, name: str, kind: str, **kw) -> Profile:
    spec = dict(PROVIDERS[kind])
    base = srv if isinstance(srv, str) else srv.url
    prof = Profile(
        name=name,
        type=spec.pop("type"),
        base_url=base + spec.pop("path"),
        description="Acme AI",
        timeouts={"retries": 0, "first_token": 0.3, "connect": 2.0},
        **spec,
        **kw,
    )
    router.config.add(prof)
    return prof


def echo_error(key: str, status: int) -> Reply:
    """An error whose body quotes the key, as some gateways do, plus a raw-body marker."""
    body = {
        "error": {"message": f"Incorrect API key provided: {key}", "type": "invalid", "code": "x"},
        "raw_marker": "RAW-BODY-7f3a",
    }
    return Reply.json(body, status=status, headers={"retry-after": "0"})


def serve_everything(srv: LoopbackServer, reply: Reply | list[Reply]) -> None:
    srv.route("POST", "*", reply)
    srv.route("GET", "*", reply)


def raised(fn) -> errors.ByokError:
    try:
        fn()
    except errors.ByokError as err:
        return err
    raise AssertionError("no ByokError was raised")


def assert_clean_error(err: BaseException, *keys: str) -> None:
    assert err.__context__ is None, f"__context__ is {type(err.__context__).__name__}"
    assert err.__cause__ is None
    for where, text in exception_texts(err).items():
        assert_no_secret(text, keys, f"{type(err).__name__} {where}")


# ---------------------------------------------------------------------------------------------
# §5.5 repr / str / format / pickle of every public object


def test_secret_never_shows_or_pickles(fake_key):
    s = Secret(fake_key)
    shown = [repr(s), str(s), f"{s}", f"{s!r:>60}", format(s, "x"), str([s])]
    shown.append("%s" % (s,))  # noqa: UP031 (old-style formatting is what logging uses)
    for text in shown:
        assert_no_secret(text, fake_key, "Secret display")
    assert repr(s) == f"Secret('…{fake_key[-4:]}')"
    for dump in (pickle.dumps, copy.copy, copy.deepcopy, json.dumps):
        with pytest.raises(TypeError):
            dump(s)
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]
    assert not hasattr(s, "__dict__")


def test_credential_never_shows_or_pickles(fake_key):
    cred = Credential(Secret(fake_key), "bearer", "env:OPENAI_API_KEY")
    for text in (repr(cred), str(cred), f"{cred}", repr(vars(cred))):
        assert_no_secret(text, fake_key, "Credential display")
    with pytest.raises(TypeError):
        pickle.dumps(cred)


def _error_types() -> list[type[errors.ByokError]]:
    found: list[type[errors.ByokError]] = []
    todo: list[type[errors.ByokError]] = [errors.ByokError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _error_types(), ids=lambda c: c.__name__)
def test_every_error_type_pickles_without_its_context(cls, fake_key):
    """Even raised while handling an exception that quotes a key, a ByokError pickles and
    reprs without it (pickled exceptions reach multiprocessing pools and caches)."""
    try:
        try:
            raise ValueError(f"low-level failure with {fake_key}")
        except ValueError:
            raise cls("something failed", "do this", status=401) from None
    except errors.ByokError as err:
        e = err
    for text in (repr(e), str(e), repr(e.args), repr(vars(e)), pickle.dumps(e)):
        assert_no_secret(text, fake_key, f"{cls.__name__}")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and str(back) == str(e) and back.__context__ is None


def test_profile_and_router_show_no_key(byok_home, fake_key, loopback):
    with installed(MemoryKeyring()):
        store = KeyStore("svc")
        router = Router(config=Config(home=byok_home), store=store)
        prof = add_profile(router, loopback, "loop", "openai", headers={"X-Team": "ml"})
        store.set("loop", fake_key)
        loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
        answers: list[Answer] = []
        router.listeners.append(answers.append)
        assert router.ask("hi", "loop:m1") == "ok"
    texts = [repr(prof), str(prof), repr(router), repr(vars(router)), repr(store)]
    texts += [repr(vars(store)), repr(answers), repr(router.config.profiles())]
    for text in texts:
        assert_no_secret(text, fake_key, "object repr")
    for obj in (router, prof):
        assert_no_secret(_pickled(obj), fake_key, f"pickle of {type(obj).__name__}")


def _pickled(obj: object) -> bytes:
    try:
        return pickle.dumps(obj)
    except (TypeError, AttributeError, pickle.PicklingError):
        return b""  # unpicklable: nothing leaks that way


def test_a_finished_answer_pickles_without_the_request(router, memory_store, loopback, fake_key):
    add_profile(router, loopback, "loop", "openai")
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    answers: list[Answer] = []
    router.listeners.append(answers.append)
    assert router.ask("hi", "loop:m1") == "ok"
    assert_no_secret(_pickled(answers[0]), fake_key, "pickle of a finished Answer")


# ---------------------------------------------------------------------------------------------
# §5.6 exceptions from every failure, for every provider family

FAILURES = [400, 401, 403, 404, 429, 500, "connect-refused", "read-timeout", "invalid-json"]


@pytest.mark.parametrize("kind", list(PROVIDERS))
@pytest.mark.parametrize("failure", FAILURES, ids=str)
def test_errors_hold_no_key(router, memory_store, loopback, fake_key, kind, failure):
    base: LoopbackServer | str = loopback
    if failure == "connect-refused":
        base = "http://127.0.0.1:1"
    elif failure == "read-timeout":
        serve_everything(loopback, Reply.sse([], done=False, first_delay=3.0))
    elif failure == "invalid-json":
        serve_everything(loopback, Reply.sse([f"{{not json {fake_key}"], done=False))
    else:
        assert isinstance(failure, int)
        serve_everything(loopback, echo_error(fake_key, failure))
    add_profile(router, base, "loop", kind)
    memory_store.set("loop", fake_key)
    err = raised(lambda: router.ask("hi", "loop:m1"))
    assert_clean_error(err, fake_key)
    assert "RAW-BODY-7f3a" not in str(err)
    expected = {
        400: errors.BadRequestError,
        401: errors.AuthError,
        403: errors.PermissionDenied,
        404: errors.ModelNotFoundError,
        429: errors.RateLimitError,
        500: errors.ServerError,
        "connect-refused": errors.ConnectFailed,
        "read-timeout": errors.StreamTimeout,
        "invalid-json": errors.ProtocolError,
    }[failure]
    assert isinstance(err, expected), repr(err)


# ---------------------------------------------------------------------------------------------
# §5.8 logging at DEBUG, §5.9 URLs, §5.10 origin pinning, §5.13 the 401 message


@pytest.fixture
def all_records() -> Iterator[list[logging.LogRecord]]:
    """The root logger at DEBUG with a handler that keeps every record, from every logger."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(level)


def test_debug_logs_hold_no_key(router, memory_store, fake_key, all_records):
    with LoopbackServer() as srv, LoopbackServer() as other:
        add_profile(router, srv, "loop", "openai")
        memory_store.set("loop", fake_key)
        srv.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["fine"])))
        assert router.ask("hi", "loop:m1") == "fine"
        srv.route("POST", "/v1/chat/completions", echo_error(fake_key, 401))
        raised(lambda: router.ask("hi", "loop:m1"))
        moved = Reply(307, {"location": other.url + "/v1/chat/completions"}, [b""])
        srv.route("POST", "/v1/chat/completions", moved)
        raised(lambda: router.ask("hi", "loop:m1"))
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    names = {r.name.split(".")[0] for r in all_records}
    assert {"httpx", "httpcore"} <= names, names  # the capture really sees the HTTP stack
    for record in all_records:
        assert_no_secret(formatter.format(record), fake_key, f"log record from {record.name}")


@pytest.mark.parametrize("kind", list(PROVIDERS))
def test_no_key_in_any_url(router, memory_store, loopback, fake_key, kind):
    add_profile(router, loopback, "loop", kind)
    memory_store.set("loop", fake_key)
    serve_everything(loopback, echo_error(fake_key, 401))
    raised(lambda: router.ask("hi", "loop:m1"))
    raised(lambda: router.list_models("loop"))
    seen = loopback.seen()
    assert len(seen) >= 2
    for req in seen:
        assert_no_secret(f"{req.path}?{req.query}", fake_key, "request URL")
        # ...and the key did travel, in a header.
        assert any(fake_key in v for v in req.headers.values()), req.headers.keys()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_another_origin_sends_nothing_there(
    router, memory_store, loopback, fake_key, status
):
    with LoopbackServer() as other:
        serve_everything(other, Reply.sse(chat_chunks(["stolen"])))
        add_profile(router, loopback, "loop", "openai")
        memory_store.set("loop", fake_key)
        target = other.url + "/v1/chat/completions"
        serve_everything(loopback, Reply(status, {"location": target}, [b""]))
        err = raised(lambda: router.ask("hi", "loop:m1"))
        assert other.seen() == []
    assert isinstance(err, errors.SecurityError)
    assert f"redirected the request ({status})" in str(err)
    assert "no key went there" in str(err)
    assert_clean_error(err, fake_key)


@pytest.mark.parametrize("kind", list(PROVIDERS))
def test_401_names_the_provider_and_nothing_else(router, memory_store, loopback, fake_key, kind):
    add_profile(router, loopback, "loop", kind)
    memory_store.set("loop", fake_key)
    serve_everything(loopback, echo_error(fake_key, 401))
    err = raised(lambda: router.ask("hi", "loop:m1"))
    assert isinstance(err, errors.AuthError)
    text = str(err)
    assert "Acme AI rejected the API key for profile 'loop'" in text
    assert "`%byok keys set loop`" in text
    assert "RAW-BODY-7f3a" not in text and "raw_marker" not in text
    assert_clean_error(err, fake_key)


# ---------------------------------------------------------------------------------------------
# §5.11 two providers, two keys, §5.12 plain http refused before sending


@pytest.mark.parametrize(("kind_a", "kind_b"), [("openai", "anthropic"), ("gemini", "azure")])
def test_two_profiles_never_see_each_others_key(router, memory_store, kind_a, kind_b):
    key_a, key_b = "sk-test-" + os.urandom(16).hex(), "sk-test-" + os.urandom(16).hex()
    with LoopbackServer() as a, LoopbackServer() as b:
        add_profile(router, a, "pa", kind_a)
        add_profile(router, b, "pb", kind_b)
        memory_store.set("pa", key_a)
        memory_store.set("pb", key_b)
        for srv in (a, b):
            serve_everything(srv, echo_error("nothing", 401))
        for target in ("pa:m1", "pb:m1", "pa:m1"):
            raised(lambda t=target: router.ask("hi", t))
        assert len(a.seen()) == 2 and len(b.seen()) == 1
        # Both keys start with "sk-test-", an 8-character window they share: what must not
        # cross over is each key's own random part.
        tail = len("sk-test-")
        for req in a.seen():
            assert find_secret(req.raw, key_a)
            assert_no_secret(req.raw, key_b[tail:], "request to A")
        for req in b.seen():
            assert find_secret(req.raw, key_b)
            assert_no_secret(req.raw, key_a[tail:], "request to B")


def test_plain_http_to_a_remote_host_is_refused_before_sending(
    router, memory_store, fake_key, monkeypatch
):
    looked_up: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host, *a, **kw):
        looked_up.append(str(host))
        return real_getaddrinfo(host, *a, **kw)

    def create_connection(address, *a, **kw):
        looked_up.append(str(address[0]))
        return real_connect(address, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    add_profile(router, "http://example.invalid", "plain", "openai")
    memory_store.set("plain", fake_key)
    err = raised(lambda: router.ask("hi", "plain:m1"))
    assert isinstance(err, errors.SecurityError), repr(err)  # not ConnectFailed: never dialled
    assert "over plain http to example.invalid" in str(err)
    assert "example.invalid" not in looked_up
    assert_clean_error(err, fake_key)


# ---------------------------------------------------------------------------------------------
# §5.20 the environment is never written


def test_environment_untouched_by_save_and_use(byok_home, fake_key, loopback):
    before = dict(os.environ)
    with installed(MemoryKeyring()):
        store = KeyStore("svc")
        router = Router(config=Config(home=byok_home), store=store)
        add_profile(router, loopback, "loop", "openai")
        store.set("loop", fake_key)
        loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
        assert router.ask("hi", "loop:m1") == "ok"
        assert lookup(router.config.get("loop"), store) is not None
    assert dict(os.environ) == before
    child = subprocess.run(["env"], capture_output=True, text=True, timeout=30).stdout
    assert_no_secret(child, fake_key, "a child process's environment")
    child_py = subprocess.run(
        [sys.executable, "-c", "import os; print(dict(os.environ))"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert_no_secret(child_py, fake_key, "a child Python's environment")


# ---------------------------------------------------------------------------------------------
# §5.24 redact(), property-based

_BODY = string.ascii_letters + string.digits + "_-"
keys = st.one_of(
    st.builds(lambda b: "sk-" + b, st.text(_BODY, min_size=20, max_size=60)),
    st.builds(lambda b: "sk-ant-api03-" + b, st.text(_BODY, min_size=20, max_size=80)),
    st.builds(lambda b: "sk-proj-" + b, st.text(_BODY, min_size=20, max_size=80)),
    st.builds(lambda b: "AIza" + b, st.text(_BODY, min_size=35, max_size=35)),
)
# Surrounding text: any printable characters, including the key alphabet, quotes and newlines.
texts = st.text(string.printable + "…éß中", max_size=80)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _has_key_shape(text: str) -> bool:
    low = text.lower()
    markers = ("sk-", "aiza", "bearer", "key", "token", "gsk_", "xai-", "hf_", "ghp_", "github_")
    return any(m in low for m in markers) or "pplx-" in low or "r8_" in low


@FAST
@given(key=keys, before=texts, after=texts, times=st.integers(1, 3))
def test_redact_removes_a_remembered_key_from_any_text(key, before, after, times):
    remember(key)
    try:
        text = before + (key + after) * times
        out = redact(text)
        # Any surviving 8-character window must come from the surrounding text itself.
        assert leaked_forms(out, key) <= leaked_forms(before + "\0" + after, key)
        assert redact(out) == out  # idempotent
    finally:
        forget(key)


@FAST
@given(key=keys, before=texts, after=texts)
def test_redact_removes_key_shapes_it_was_never_told_about(key, before, after):
    # A key-shaped string standing as its own word is caught by shape alone.
    text = f"{before} {key} {after}"
    out = redact(text)
    assert leaked_forms(out, key) <= leaked_forms(before + "\0" + after, key)
    assert MASK in out
    assert redact(out) == out


@FAST
@given(text=texts)
def test_redact_leaves_keyless_text_alone(text):
    assume(not _has_key_shape(text))
    assert redact(text) == text


def test_log_filter_redacts_exception_text(all_records):
    from byok_magic.redact import get_logger, install_log_filters

    install_log_filters()
    url = (
        "https://generativelanguage.googleapis.com/v1beta/models?key=AIzaSyFAKEFAKEFAKEFAKEFAKE0123"
    )
    for logger in (logging.getLogger("byok_magic"), get_logger("byok_magic.some_module")):
        try:
            raise RuntimeError(f"failed: {url}")
        except RuntimeError:
            logger.exception("request to %s failed", url)
    assert len(all_records) == 2
    text = "\n".join(logging.Formatter().format(r) for r in all_records)
    assert "RuntimeError" in text and "?key=[REDACTED]" in text
    assert "AIzaSyFAKE" not in text
