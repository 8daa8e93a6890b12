"""The whole path for an OpenAI-compatible profile, against a real loopback server."""

from __future__ import annotations

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import Finish, TextDelta, Usage
from tests.loopback import LoopbackServer, Reply, chat_chunks


def _profile(router, srv: LoopbackServer, name: str = "loop", **kw) -> Profile:
    prof = Profile(name=name, type="openai", base_url=srv.url + "/v1", **kw)
    router.config.add(prof)
    return prof


def test_streams_text_usage_and_finish(router, loopback, memory_store, fake_key):
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["Hel", "lo", "!"])))
    prof, req = router.request("Say hello", "loop:test-model")
    events = list(router.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello!"
    assert Usage(input_tokens=11, output_tokens=3) in events
    assert events[-1] == Finish("stop", "stop")
    (seen,) = loopback.seen("/v1/chat/completions")
    assert seen.header("authorization") == f"Bearer {fake_key}"
    body = seen.json
    assert body["model"] == "test-model"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]


def test_missing_key_says_how_to_add_one(router, loopback):
    _profile(router, loopback)
    prof, req = router.request("hi", "loop:m")
    with pytest.raises(errors.MissingKeyError) as ei:
        list(router.stream(prof, req))
    assert "%byok keys set loop" in str(ei.value)
    assert loopback.seen() == []


@pytest.mark.parametrize(
    ("status", "kind", "needle"),
    [
        (401, errors.AuthError, "rejected the API key"),
        (403, errors.PermissionDenied, "not allowed"),
        (404, errors.ModelNotFoundError, "not found"),
        (400, errors.BadRequestError, "refused"),
    ],
)
def test_http_errors_are_clear_and_keyless(
    router, loopback, memory_store, fake_key, status, kind, needle
):
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    body = {"error": {"message": f"bad thing with {fake_key}", "type": "x", "code": "y"}}
    loopback.route("POST", "/v1/chat/completions", Reply.json(body, status=status))
    prof, req = router.request("hi", "loop:m")
    with pytest.raises(kind) as ei:
        list(router.stream(prof, req))
    err = ei.value
    assert needle in str(err)
    assert fake_key not in str(err) + repr(err) + repr(err.args)
    assert err.__cause__ is None and err.__context__ is None


def test_retries_429_then_succeeds(router, loopback, memory_store, fake_key):
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    router.transport.sleep = lambda s: None
    loopback.route(
        "POST",
        "/v1/chat/completions",
        [
            Reply.json({"error": {"message": "slow down"}}, 429, {"retry-after": "1"}),
            Reply.sse(chat_chunks(["ok"])),
        ],
    )
    assert router.ask("hi", "loop:m") == "ok"
    assert len(loopback.seen()) == 2


def test_connection_refused_names_the_url(router, memory_store, fake_key):
    router.config.add(Profile(name="down", type="openai", base_url="http://127.0.0.1:1/v1"))
    memory_store.set("down", fake_key)
    with pytest.raises(errors.ConnectFailed) as ei:
        router.ask("hi", "down:m")
    assert "http://127.0.0.1:1/v1/chat/completions" in str(ei.value)


def test_html_instead_of_stream(router, loopback, memory_store, fake_key):
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.raw("<html>login</html>", "text/html"))
    with pytest.raises(errors.ProtocolError) as ei:
        router.ask("hi", "loop:m")
    assert "HTML" in str(ei.value)


def test_disconnect_before_done_is_interrupted(router, loopback, memory_store, fake_key):
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    reply = Reply.sse(chat_chunks(["a", "b", "c"], usage=False), disconnect_after=3)
    loopback.route("POST", "/v1/chat/completions", reply)
    prof, req = router.request("hi", "loop:m")
    got = []
    with pytest.raises(errors.StreamInterrupted):
        for e in router.stream(prof, req):
            got.append(e)
    assert "".join(e.text for e in got if isinstance(e, TextDelta)) == "ab"


def test_no_model_is_never_sent(router, loopback, memory_store, fake_key):
    _profile(router, loopback)
    with pytest.raises(errors.NoModelError) as ei:
        router.request("hi", "loop")
    assert "no model" in str(ei.value)
    assert loopback.seen() == []


def test_rejected_parameter_is_dropped_with_a_note(router, loopback, memory_store, fake_key):
    from byok_magic.router import Answer

    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    refusal = {
        "error": {
            "message": "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "unsupported_value",
        }
    }
    loopback.route(
        "POST",
        "/v1/chat/completions",
        [Reply.json(refusal, status=400), Reply.sse(chat_chunks(["fine"]))],
    )
    prof, req = router.request("hi", "loop:o-model", temperature=0.2, max_tokens=50)
    answer = Answer(target="loop:o-model")
    list(router.stream(prof, req, answer))
    first, second = (s.json for s in loopback.seen())
    assert first["temperature"] == 0.2 and "temperature" not in second
    assert second["max_tokens"] == 50
    assert answer.text == "fine"
    assert answer.notes == ["temperature was dropped: loop did not accept it for o-model"]


def test_unrelated_400_is_not_retried(router, loopback, memory_store, fake_key):
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply.json({"error": {"message": "messages must not be empty"}}, status=400),
    )
    with pytest.raises(errors.BadRequestError):
        router.ask("hi", "loop:m", temperature=0.5)
    assert len(loopback.seen()) == 1


def test_connections_are_reused_after_a_complete_answer(router, loopback, memory_store, fake_key):
    """The transport reads the stream's tail after [DONE], so the connection goes back to the
    pool: the next request does not pay a new TCP (and TLS) handshake."""
    _profile(router, loopback)
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["a", "b"])))
    from byok_magic.transport import Transport

    router._transport = Transport()
    try:
        for _ in range(3):
            assert router.ask("hi", "loop:m") == "ab"
    finally:
        router.transport.close()
    peers = {s.peer for s in loopback.seen()}
    assert len(peers) == 1, peers
