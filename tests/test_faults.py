"""The fault matrix: each failure driven through the real router and a loopback server.

For each fault: the exact error class the user gets, the partial text kept, and how many
requests were made (retries happen only before the first byte of an answer).
"""

from __future__ import annotations

import time

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import TextDelta
from byok_magic.router import Answer
from tests.loopback import Reply, chat_chunks

CHAT = "/v1/chat/completions"


@pytest.fixture
def loop(router, loopback, memory_store, fake_key):
    def make(**kw):
        router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1", **kw))
        memory_store.set("loop", fake_key)
        waits: list[float] = []
        router.transport.sleep = waits.append
        return waits

    return make


def run(router, target="loop:m"):
    """(answer, error) after streaming to the end or to the first error."""
    prof, req = router.request("hi", target)
    answer = Answer(target=target)
    err = None
    try:
        for _ in router.stream(prof, req, answer):
            pass
    except errors.ByokError as e:
        err = e
        # built by byok, never chained to an httpx exception (which can carry headers)
        assert e.__cause__ is None and e.__context__ is None, repr(e.__context__)
    return answer, err


def err_json(status, msg="x", headers=None):
    return Reply.json({"error": {"message": msg}}, status=status, headers=headers)


OK = Reply.sse(chat_chunks(["fine"]))


@pytest.mark.parametrize(
    ("replies", "kind", "requests", "text"),
    [
        ([err_json(429, headers={"retry-after": "2"}), OK], None, 2, "fine"),
        ([err_json(503), err_json(502), OK], None, 3, "fine"),
        ([err_json(500)] * 3, errors.ServerError, 3, ""),  # default: 2 retries, then the error
        ([err_json(529), OK], None, 2, "fine"),
        ([err_json(429, headers={"x-should-retry": "false"}), OK], errors.RateLimitError, 1, ""),
        ([err_json(400, headers={"x-should-retry": "true"}), OK], None, 2, "fine"),
        ([err_json(429, headers={"retry-after": "3600"}), OK], errors.RateLimitError, 1, ""),
        ([err_json(401), OK], errors.AuthError, 1, ""),
        ([err_json(404), OK], errors.ModelNotFoundError, 1, ""),
        ([err_json(408), OK], None, 2, "fine"),
    ],
    ids=[
        "429-retry-after",
        "5xx-twice",
        "5xx-exhausted",
        "529",
        "x-should-retry-false",
        "x-should-retry-true",
        "retry-after-too-long",
        "401-never",
        "404-never",
        "408",
    ],
)
def test_retries_only_where_they_help(loop, router, loopback, replies, kind, requests, text):
    waits = loop()
    loopback.route("POST", CHAT, list(replies))
    answer, err = run(router)
    assert (type(err) if err else None) is kind
    assert len(loopback.seen()) == requests
    assert answer.text == text
    assert all(0 < w <= 8.0 for w in waits)


def test_retry_after_ms_and_http_date_are_honoured(loop, router, loopback):
    from email.utils import formatdate

    waits = loop()
    loopback.route(
        "POST",
        CHAT,
        [
            err_json(429, headers={"retry-after-ms": "1500", "retry-after": "9"}),
            err_json(429, headers={"retry-after": formatdate(time.time() + 3, usegmt=True)}),
            OK,
        ],
    )
    answer, err = run(router)
    assert err is None and answer.text == "fine"
    assert waits[0] == pytest.approx(1.5)
    assert 1.0 <= waits[1] <= 3.5


def test_no_retry_after_the_first_byte(loop, router, loopback):
    loop()
    loopback.route(
        "POST", CHAT, [Reply.sse(chat_chunks(["par", "tial"], usage=False), disconnect_after=3), OK]
    )
    answer, err = run(router)
    assert isinstance(err, errors.StreamInterrupted)
    assert answer.text == "partial"
    assert len(loopback.seen()) == 1


def test_connection_refused_is_not_retried_for_local_servers(router, memory_store, fake_key):
    router.config.add(Profile(name="loop", type="openai", base_url="http://127.0.0.1:1/v1"))
    memory_store.set("loop", fake_key)
    waits: list[float] = []
    router.transport.sleep = waits.append
    _, err = run(router)
    assert isinstance(err, errors.ConnectFailed)
    assert "is the server running" in str(err) and "127.0.0.1:1" in str(err)
    assert waits == []


def test_first_token_timeout(loop, router, loopback):
    loop(timeouts={"first_token": 0.5})
    loopback.route("POST", CHAT, Reply.sse(chat_chunks(["late"]), first_delay=3))
    t0 = time.monotonic()
    answer, err = run(router)
    assert isinstance(err, errors.StreamTimeout)
    assert "no answer" in str(err)
    assert time.monotonic() - t0 < 2.5
    assert answer.text == ""


def test_idle_gap_watchdog_keeps_partial_text(loop, router, loopback):
    loop(timeouts={"idle": 0.4})
    loopback.route(
        "POST", CHAT, Reply.sse(chat_chunks(["a", "b", "c"]), stall_after=3, stall_for=5)
    )
    t0 = time.monotonic()
    answer, err = run(router)
    assert isinstance(err, errors.StreamTimeout)
    assert "stalled" in str(err)
    assert answer.text == "ab"
    assert time.monotonic() - t0 < 2.5


def test_total_lifetime_cap(loop, router, loopback):
    loop(timeouts={"total": 0.6, "idle": 5})
    loopback.route("POST", CHAT, Reply.sse(chat_chunks(list("abcdefghij")), delay=0.15))
    answer, err = run(router)
    assert isinstance(err, errors.StreamTimeout)
    assert "longer than" in str(err)
    assert 0 < len(answer.text) < 10


@pytest.mark.parametrize(
    ("reply", "kind", "needle"),
    [
        (Reply.raw("<html><body>Sign in</body></html>", "text/html"), errors.ProtocolError, "HTML"),
        (Reply.raw('{"id": "x", "choices": []}', "application/json"), errors.ProtocolError, "JSON"),
        (
            Reply.raw('{"error": {"message": "quota"}}', "application/json"),
            errors.ProviderError,
            "quota",
        ),
        (
            Reply.raw('{"error": {"message": "upstream busy", "code": 429}}', "application/json"),
            errors.RateLimitError,
            "429",
        ),
        (Reply.sse(["{not json"]), errors.ProtocolError, "malformed"),
        (
            Reply(200, {"content-type": "text/event-stream"}, [b'data: {"x": "\xff\xfe"}\n\n']),
            errors.ProtocolError,
            "UTF-8",
        ),
        (
            Reply.sse([{"error": {"message": "upstream overloaded", "code": 502}}], done=False),
            errors.ServerError,
            "mid-stream",
        ),
    ],
    ids=[
        "html",
        "json-no-error",
        "json-error",
        "json-error-429",
        "malformed-frame",
        "bad-utf8",
        "in-band-error",
    ],
)
def test_broken_streams(loop, router, loopback, reply, kind, needle):
    loop()
    loopback.route("POST", CHAT, reply)
    _, err = run(router)
    assert isinstance(err, kind), err
    assert needle in str(err)
    assert len(loopback.seen()) == 1


def test_utf8_split_across_chunks_is_fine(loop, router, loopback):
    loop()
    body = (
        b"".join(
            b"data: " + __import__("json").dumps(c, ensure_ascii=False).encode() + b"\n\n"
            for c in chat_chunks(["h\u00e9llo \U0001f600 w\u00f6rld"])
        )
        + b"data: [DONE]\n\n"
    )
    cut = body.index("\U0001f600".encode()) + 2
    loopback.route(
        "POST", CHAT, Reply(200, {"content-type": "text/event-stream"}, [body[:cut], body[cut:]])
    )
    answer, err = run(router)
    assert err is None
    assert answer.text == "h\u00e9llo \U0001f600 w\u00f6rld"


def test_cross_origin_redirect_sends_nothing_there(router, loopback, memory_store, fake_key):
    from tests.loopback import LoopbackServer

    with LoopbackServer() as other:
        other.route("POST", CHAT, OK)
        router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
        memory_store.set("loop", fake_key)
        loopback.route(
            "POST", CHAT, Reply(307, {"location": other.url + CHAT}, [b""], chunked=False)
        )
        _, err = run(router)
        assert isinstance(err, errors.SecurityError)
        assert "redirect" in str(err) and "no key went there" in str(err)
        assert other.seen() == []


def test_plain_http_to_a_remote_host_is_refused_before_sending(router, memory_store, fake_key):
    router.config.add(Profile(name="far", type="openai", base_url="http://llm.example.invalid/v1"))
    memory_store.set("far", fake_key)
    _, err = run(router, "far:m")
    assert isinstance(err, errors.SecurityError)
    assert "plain http" in str(err) and "allow_http" in str(err)


def test_stream_options_rejection_is_retried_once_without(loop, router, loopback):
    loop()
    loopback.route(
        "POST",
        CHAT,
        [
            err_json(400, "Unrecognized request argument supplied: stream_options"),
            Reply.sse(chat_chunks(["ok"], usage=False)),
        ],
    )
    answer, err = run(router)
    assert err is None and answer.text == "ok"
    first, second = (s.json for s in loopback.seen())
    assert "stream_options" in first and "stream_options" not in second


def test_cancel_from_another_thread_closes_at_once(loop, router, loopback):
    import threading

    loop()
    loopback.route("POST", CHAT, Reply.sse(chat_chunks(list("abcdefghij")), delay=0.5))
    prof, req = router.request("hi", "loop:m")
    answer = Answer(target="loop:m")
    got: list[str] = []
    threading.Timer(0.8, answer.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(errors.StreamInterrupted) as ei:
        for e in router.stream(prof, req, answer):
            if isinstance(e, TextDelta):
                got.append(e.text)
    assert time.monotonic() - t0 < 1.6
    assert ei.value.info.get("stopped")
    assert answer.status == "interrupted"
    assert 1 <= len(got) < 10


def _self_signed(tmp_path):
    """A CA-less self-signed certificate for 127.0.0.1 (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "byok test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("where", ["profile", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "none"])
def test_private_ca_bundle(tmp_path, monkeypatch, byok_home, memory_store, fake_key, where):
    import ssl

    from byok_magic.config import Config
    from byok_magic.router import Router
    from byok_magic.transport import Transport
    from tests.loopback import LoopbackServer

    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with LoopbackServer(ssl_context=ctx) as tls:
        tls.route("POST", CHAT, OK)
        extra = {"ca_bundle": str(cert)} if where == "profile" else {}
        if where in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            monkeypatch.setenv(where, str(cert))
        r = Router(config=Config(home=byok_home), store=memory_store, transport=Transport())
        r.config.add(Profile(name="tls", type="openai", base_url=tls.url + "/v1", **extra))
        memory_store.set("tls", fake_key)
        answer, err = run(r, "tls:m")
        r.transport.close()
        if where == "none":
            assert isinstance(err, errors.ConnectFailed) and tls.seen() == []
            assert "certificate" in str(err) and "ca_bundle" in str(err)
        else:
            assert err is None and answer.text == "fine"
            assert tls.seen()[0].header("authorization") == f"Bearer {fake_key}"


def test_http_proxy_from_the_environment(monkeypatch, byok_home, memory_store, fake_key, loopback):
    """The loopback server plays the proxy: the request for a remote host arrives there."""
    from byok_magic.config import Config
    from byok_magic.router import Router
    from byok_magic.transport import Transport

    monkeypatch.setenv("HTTP_PROXY", loopback.url)
    monkeypatch.setenv("NO_PROXY", "")
    loopback.route("POST", CHAT, OK)
    r = Router(config=Config(home=byok_home), store=memory_store, transport=Transport())
    r.config.add(
        Profile(name="far", type="openai", base_url="http://llm.example.test/v1", allow_http=True)
    )
    memory_store.set("far", fake_key)
    answer, err = run(r, "far:m")
    r.transport.close()
    assert err is None and answer.text == "fine"
    (seen,) = loopback.seen()
    assert seen.header("host") == "llm.example.test"
    # and NO_PROXY sends it direct (where nothing answers)
    monkeypatch.setenv("NO_PROXY", "llm.example.test")
    r2 = Router(config=Config(home=byok_home), store=memory_store, transport=Transport())
    _, err = run(r2, "far:m")
    r2.transport.close()
    assert isinstance(err, errors.ConnectFailed)
    assert len(loopback.seen()) == 1
