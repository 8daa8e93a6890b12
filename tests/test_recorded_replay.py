"""Every recorded provider exchange, replayed by the loopback server to the real router.

For each recording: a user's profile (the provider's preset where there is one) points at the
loopback server, a key sits in the store, and ``router.stream`` runs. The test checks what the
server was asked (path, auth header, model) and what the user gets: the text, the reasoning, the
usage and the finish reason read from the recorded body by ``tests/replay.py``'s plain oracle,
or, for error replies, the error class and a message that says what happened and what to do.
Streams are replayed twice: in the provider's own write pattern and cut into 7-byte pieces.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from byok_magic import errors
from byok_magic.events import Finish, ReasoningDelta, TextDelta, Usage
from tests.recordings import recording_params
from tests.replay import expected, family, is_models, recorded_model, reply, setup

E = errors
# id → (error class, words the message must contain)
ERRORS: dict[str, tuple[type[errors.ByokError], str]] = {
    "anthropic/messages-400-invalid-request": (E.BadRequestError, "effort level"),
    "anthropic/messages-400-prompt-too-long": (E.ContextLengthError, "prompt is too long"),
    "anthropic/messages-401-invalid-x-api-key": (E.AuthError, "rejected the API key"),
    "anthropic/messages-404-model-not-found": (E.ModelNotFoundError, "not found"),
    "anthropic/messages-404-model-not-found-stream": (E.ModelNotFoundError, "not found"),
    "azure-openai/chat-404-deployment-not-found": (E.ModelNotFoundError, "deployment not found"),
    "azure-openai/foundry-models-chat-429-retry-after": (E.RateLimitError, "429"),
    "deepseek/chat-400-context-length-exceeded": (E.ContextLengthError, "too long"),
    "deepseek/chat-401-invalid-api-key": (E.AuthError, "rejected the API key"),
    "gemini/generate-content-400-api-key-invalid": (E.AuthError, "API key not valid"),
    "gemini/stream-400-api-key-invalid": (E.AuthError, "API key not valid"),
    "gemini/generate-content-404-model-not-found": (E.ModelNotFoundError, "not found"),
    "gemini/stream-404-model-not-found": (E.ModelNotFoundError, "not found"),
    "gemini/generate-content-429-quota-exceeded": (E.RateLimitError, "retry after 48 s"),
    "gemini/generate-content-429-resource-exhausted": (E.RateLimitError, "Resource exhausted"),
    "groq/chat-404-model-not-found": (E.ModelNotFoundError, "does not exist"),
    "groq/chat-stream-error-event-tool-use-failed": (E.BadRequestError, "Tool call validation"),
    "mistral/chat-401-invalid-api-key": (E.AuthError, "Invalid API Key"),
    "ollama/cloud-v1-400-prompt-too-long": (E.ContextLengthError, "prompt too long"),
    "ollama/cloud-v1-401-unauthorized": (E.AuthError, "rejected the API key"),
    "openai/chat-400-unsupported-parameter-stop": (E.BadRequestError, "'stop' is not supported"),
    "openai/chat-400-unsupported-value": (E.BadRequestError, "does not support 'developer'"),
    "openai/chat-401-invalid-api-key": (E.AuthError, "rejected the API key"),
    "openai/chat-401-invalid-api-key-stream": (E.AuthError, "rejected the API key"),
    "openai/chat-404-model-not-found": (E.ModelNotFoundError, "does not exist"),
    "openai/responses-400-context-length-exceeded": (E.ContextLengthError, "too long"),
    "openai/responses-400-model-not-found": (E.ModelNotFoundError, "does not exist"),
    "openai/responses-401-invalid-api-key": (E.AuthError, "rejected the API key"),
    "openrouter/chat-400-context-length-exceeded": (E.ContextLengthError, "too long"),
    "openrouter/chat-401-no-auth": (E.AuthError, "rejected the API key"),
    "openrouter/chat-429-upstream-rate-limited": (E.RateLimitError, "rate-limited upstream"),
    "openrouter/chat-stream-error-mid-stream": (E.BadRequestError, "Token limit reached"),
}
# What each provider's finish reason is shown as.
FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "STOP": "stop",
    "completed": "stop",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "max_output_tokens": "length",
    "content_filter": "filtered",
    "tool_calls": "tool",
    "tool_use": "tool",
}


@pytest.fixture
def no_wait(router, monkeypatch):
    """Retries of recorded 429s happen at once (the server-given delay is asserted instead)."""
    waits: list[float] = []
    monkeypatch.setattr(router.transport, "sleep", waits.append)
    return waits


def _run(router, loopback, memory_store, fake_key, rec, size=None):
    s = setup(rec, loopback.url)
    router.config.add(s.profile)
    if s.keyed:
        memory_store.set(s.profile.name, fake_key)
    loopback.route("POST", "*", reply(rec, size))
    profile = router.config.get(s.profile.name)
    events, error = [], None
    try:
        for e in router.stream(profile, s.request):
            events.append(e)
    except errors.ByokError as err:
        error = err
    return s, events, error


def _check_request(loopback, rec, s, fake_key):
    seen = loopback.seen()
    assert seen, "nothing reached the server"
    first = seen[0]
    assert first.path == s.path
    assert fake_key not in first.path + str(first.query)
    fam = family(rec)
    if not s.keyed:
        assert first.header("authorization") is None
    elif fam == "anthropic":
        assert first.header("x-api-key") == fake_key
        assert first.header("anthropic-version") == "2023-06-01"
    elif fam == "gemini":
        assert first.header("x-goog-api-key") == fake_key
        assert first.query.get("alt") == (["sse"] if s.request.stream else None)
    elif s.profile.type == "azure":
        assert first.header("api-key") == fake_key
        assert first.header("authorization") is None
    else:
        assert first.header("authorization") == f"Bearer {fake_key}"
    body = first.json
    if fam != "gemini" and s.profile.type != "azure":
        assert body["model"] == recorded_model(rec)
    assert body.get("stream", s.request.stream) == s.request.stream


def _params(size):
    def keep(r):
        return not is_models(r) and (size is None or r["stream_format"] is not None)

    return recording_params(keep)


@pytest.mark.parametrize("rec", _params(None))
def test_replay(router, loopback, memory_store, fake_key, no_wait, rec):
    s, events, error = _run(router, loopback, memory_store, fake_key, rec)
    _check_request(loopback, rec, s, fake_key)
    _check_answer(rec, events, error, fake_key)
    status = rec["response"]["status"]
    if status == 429:  # retried twice, as the SDKs do, then shown
        assert len(loopback.seen()) == 3
    if rec["id"] == "gemini/generate-content-429-quota-exceeded":
        assert no_wait == [48.0, 48.0]  # RetryInfo.retryDelay
    if rec["id"] == "azure-openai/foundry-models-chat-429-retry-after":
        assert urlsplit(rec["request"]["url"]).path == s.path


@pytest.mark.parametrize("rec", _params(7))
def test_replay_cut_into_pieces(router, loopback, memory_store, fake_key, no_wait, rec):
    _, events, error = _run(router, loopback, memory_store, fake_key, rec, size=7)
    _check_answer(rec, events, error, fake_key)


def _check_answer(rec, events, error, fake_key):
    status = rec["response"]["status"]
    if rec["id"] in ERRORS:
        kind, words = ERRORS[rec["id"]]
        assert type(error) is kind, f"{type(error).__name__}: {error}"
        assert words in str(error)
        assert error.fix, "every error says what to do"
        assert fake_key not in str(error) + repr(error.info)
        return
    assert status == 200
    assert error is None, f"{type(error).__name__}: {error}"
    want = expected(rec)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    usages = [e for e in events if isinstance(e, Usage)]
    assert text == want.text
    assert reasoning == want.reasoning
    if want.input_tokens is not None:
        assert usages, "usage was in the body"
        assert (usages[-1].input_tokens, usages[-1].output_tokens) == (
            want.input_tokens,
            want.output_tokens,
        )
    assert isinstance(events[-1], Finish)
    assert events[-1].reason == FINISH.get(str(want.finish), "stop")


def test_the_oracle_reads_what_a_person_reads():
    """Spot checks of the oracle itself against text read by eye in the recordings."""
    from tests.recordings import recordings

    recs = {r["id"]: r for r in recordings(require=True)}
    e = expected(recs["gemini/stream-generate-content-json-array"])
    assert e.text == "Scoop" and e.reasoning.startswith("**Considering the Constraint**")
    e = expected(recs["anthropic/messages-stream-thinking"])
    assert e.text == "- Captain\n- Scoop" or e.text.endswith("\n- Scoop")
    assert e.reasoning.startswith("The user wants two names")
    assert (e.input_tokens, e.output_tokens, e.finish) == (46, 84, "end_turn")
    e = expected(recs["openai/responses-stream-incomplete-max-output-tokens"])
    assert e.text.endswith("9. Florida") and e.finish == "max_output_tokens"
    e = expected(recs["ollama/api-chat-stream-ndjson"])
    assert e.text.startswith("Why did the OpenTelemetry agent") and e.output_tokens == 50


# ---------------------------------------------------------------------------------------------
# model lists


def _model_ids(rec):
    import json

    data = json.loads(rec["response"]["body"])
    if rec["provider"] == "gemini":
        return {
            m["name"].removeprefix("models/")
            for m in data["models"]
            if "generateContent" in m.get("supportedGenerationMethods", [])
        }
    if rec["provider"] == "ollama":
        return {m["name"] for m in data["models"]}
    return {m["id"] for m in data["data"]}


@pytest.mark.parametrize("rec", recording_params(is_models))
def test_replay_model_list(router, loopback, memory_store, fake_key, rec):
    from byok_magic.config import Profile
    from tests.loopback import Reply

    prov = rec["provider"]
    path = urlsplit(rec["request"]["url"]).path
    base = loopback.url + path.removesuffix("/models")
    if prov == "gemini":
        prof = Profile(name="gemini", type="gemini", base_url=loopback.url)
        last = Reply.json({"models": []})
    elif prov == "ollama":
        prof = Profile(name="ollama", type="ollama", base_url=loopback.url)
        last = Reply.json({"models": []})
    else:
        prof = Profile(name="rec", type="openai", base_url=base)
        last = Reply.json({"data": []})
    router.config.add(prof)
    memory_store.set(prof.name, fake_key)
    loopback.route("GET", "*", [reply(rec), last])
    models = router.list_models(prof.name, refresh=True)
    assert {m.id for m in models} == _model_ids(rec)
    assert all(m.profile == prof.name for m in models)
    seen = loopback.seen()
    assert seen[0].path == path
    if prov == "gemini":  # the recorded page has a nextPageToken: byok asks for page two
        assert len(seen) == 2 and seen[1].query["pageToken"]
        assert seen[0].header("x-goog-api-key") == fake_key
        flash = next(m for m in models if m.id == "gemini-2.5-flash")
        assert flash.context_window == 1048576 and flash.name == "Gemini 2.5 Flash"
    else:
        assert len(seen) == 1
