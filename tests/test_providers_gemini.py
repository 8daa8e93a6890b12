"""Gemini native API against the loopback server: URL, key header, body, thinking, usage,
safety blocks, the end of a stream without a marker, errors and model pages."""

from __future__ import annotations

import json

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import Finish, Message, ReasoningDelta, TextDelta, Usage
from byok_magic.router import Answer
from tests.loopback import Reply

STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def sse(*chunks: dict) -> Reply:
    """Gemini frames: ``data:`` only, ``\\r\\n\\r\\n`` separators, no terminal marker."""
    return Reply(
        200,
        {"content-type": "text/event-stream"},
        [f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks],
    )


def chunk(*parts: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    cand: dict = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    out: dict = {"candidates": [cand], "modelVersion": "gemini-2.5-flash"}
    if usage:
        out["usageMetadata"] = usage
    return out


U1 = {"promptTokenCount": 14, "totalTokenCount": 36, "thoughtsTokenCount": 22}
U2 = {"promptTokenCount": 14, "candidatesTokenCount": 3, "thoughtsTokenCount": 22}


@pytest.fixture
def gemini(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="gemini", type="gemini", base_url=loopback.url))
    memory_store.set("gemini", fake_key)
    return router


def test_streams_thoughts_text_and_cumulative_usage(gemini, loopback, fake_key):
    loopback.route(
        "POST",
        STREAM,
        sse(
            chunk({"text": "Adding.", "thought": True}, usage=U1),
            chunk({"text": "4"}, usage=U1),
            chunk({"text": " it is", "thoughtSignature": "c2ln"}, finish="STOP", usage=U2),
        ),
    )
    prof, req = gemini.request(
        "what is 2+2?",
        "gemini:gemini-2.5-flash",
        history=(Message("user", "hello"), Message("assistant", "Hi.")),
        system="Answer in one line.",
        max_tokens=800,
        temperature=0.3,
    )
    events = list(gemini.stream(prof, req))
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [ReasoningDelta("Adding.")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "4 it is"
    # cumulative counts: said again only when they change; output includes the thoughts
    assert [e for e in events if isinstance(e, Usage)] == [
        Usage(14, 22, 22),
        Usage(14, 25, 22),
    ]
    assert events[-1] == Finish("stop", "STOP")
    (seen,) = loopback.seen()
    assert seen.query == {"alt": ["sse"]}
    assert seen.header("x-goog-api-key") == fake_key
    assert seen.header("authorization") is None
    assert fake_key not in seen.path + json.dumps(seen.query)
    assert seen.json == {
        "systemInstruction": {"parts": [{"text": "Answer in one line."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hello"}]},
            {"role": "model", "parts": [{"text": "Hi."}]},
            {"role": "user", "parts": [{"text": "what is 2+2?"}]},
        ],
        "generationConfig": {
            "maxOutputTokens": 800,
            "temperature": 0.3,
            "thinkingConfig": {"includeThoughts": True},
        },
    }


@pytest.mark.parametrize(
    ("model", "effort", "config"),
    [
        ("gemini-2.5-pro", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 16000, "includeThoughts": True}),
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.0-flash", None, None),  # does not think: no thinkingConfig at all
    ],
)
def test_thinking_config(gemini, loopback, model, effort, config):
    loopback.route("POST", "*", sse(chunk({"text": "ok"}, finish="STOP")))
    prof, req = gemini.request("hi", f"gemini:{model}", reasoning_effort=effort)
    list(gemini.stream(prof, req))
    sent = loopback.seen()[0]
    assert sent.path == f"/v1beta/models/{model}:streamGenerateContent"
    assert sent.json.get("generationConfig", {}).get("thinkingConfig") == config


def test_end_of_body_without_finish_reason_is_interrupted(gemini, loopback):
    loopback.route("POST", STREAM, sse(chunk({"text": "Once upon"})))
    prof, req = gemini.request("hi", "gemini:gemini-2.5-flash")
    answer = Answer(target="gemini:gemini-2.5-flash")
    with pytest.raises(errors.StreamInterrupted):
        list(gemini.stream(prof, req, answer))
    assert answer.text == "Once upon"


def test_max_tokens_is_length(gemini, loopback):
    loopback.route("POST", STREAM, sse(chunk({"text": "Here are"}, finish="MAX_TOKENS")))
    prof, req = gemini.request("hi", "gemini:gemini-2.5-flash")
    assert list(gemini.stream(prof, req))[-1] == Finish("length", "MAX_TOKENS")


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "RECITATION"])
def test_answer_blocked_before_any_text(gemini, loopback, reason):
    blocked = {"candidates": [{"finishReason": reason, "index": 0}]}
    loopback.route("POST", STREAM, sse(blocked))
    with pytest.raises(errors.BlockedError) as ei:
        gemini.ask("hi", "gemini:gemini-2.5-flash")
    assert str(ei.value).startswith(f"blocked: {reason}")


def test_prompt_blocked(gemini, loopback):
    loopback.route("POST", STREAM, sse({"promptFeedback": {"blockReason": "JAILBREAK"}}))
    with pytest.raises(errors.BlockedError, match=r"blocked: JAILBREAK .* the prompt"):
        gemini.ask("hi", "gemini:gemini-2.5-flash")


def test_answer_filtered_after_some_text(gemini, loopback):
    loopback.route("POST", STREAM, sse(chunk({"text": "Well"}), chunk(finish="SAFETY")))
    prof, req = gemini.request("hi", "gemini:gemini-2.5-flash")
    events = list(gemini.stream(prof, req))
    assert TextDelta("Well") in events and events[-1] == Finish("filtered", "SAFETY")


def _google_error(code: int, status: str, message: str, *details: dict) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def test_bad_key_is_an_auth_error(gemini, loopback, fake_key):
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    body = _google_error(400, "INVALID_ARGUMENT", "API key not valid.", info)
    loopback.route("POST", STREAM, Reply.raw(json.dumps(body, indent=2), "text/event-stream", 400))
    with pytest.raises(errors.AuthError) as ei:
        gemini.ask("hi", "gemini:gemini-2.5-flash")
    assert "API key not valid" in str(ei.value)
    assert "%byok keys set gemini" in str(ei.value)
    assert fake_key not in str(ei.value)


def test_retry_delay_is_honoured(gemini, loopback, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(gemini.transport, "sleep", waits.append)
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}
    body = [_google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", retry)]  # an array
    loopback.route(
        "POST",
        STREAM,
        [Reply.json(body, status=429), sse(chunk({"text": "ok"}, finish="STOP"))],
    )
    assert gemini.ask("hi", "gemini:gemini-2.5-flash") == "ok"
    assert waits == [31.0]


def test_context_overflow(gemini, loopback):
    msg = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    loopback.route("POST", STREAM, Reply.json(_google_error(400, "INVALID_ARGUMENT", msg), 400))
    with pytest.raises(errors.ContextLengthError):
        gemini.ask("hi", "gemini:gemini-2.5-flash")


@pytest.mark.parametrize("base", ["/v1beta", "/v1beta/", "/v1"])
def test_a_version_in_the_base_url_is_kept(router, loopback, memory_store, fake_key, base):
    router.config.add(Profile(name="g", type="gemini", base_url=loopback.url + base))
    memory_store.set("g", fake_key)
    loopback.route("POST", "*", sse(chunk({"text": "ok"}, finish="STOP")))
    assert router.ask("hi", "g:models/gemini-2.5-flash") == "ok"
    version = base.strip("/")
    assert loopback.seen()[0].path == f"/{version}/models/gemini-2.5-flash:streamGenerateContent"


def test_models_pages_filter_and_strip(gemini, loopback, fake_key):
    def model(name, methods, **kw):
        return {"name": f"models/{name}", "supportedGenerationMethods": methods, **kw}

    page1 = {
        "models": [
            model("gemini-2.5-pro", ["generateContent", "countTokens"], inputTokenLimit=1048576),
            model("text-embedding-004", ["embedContent"]),
        ],
        "nextPageToken": "tok2",
    }
    page2 = {"models": [model("gemma-3-27b-it", ["generateContent"], displayName="Gemma 3")]}
    loopback.route("GET", "/v1beta/models", [Reply.json(page1), Reply.json(page2)])
    models = gemini.list_models("gemini", refresh=True)
    assert [m.id for m in models] == ["gemini-2.5-pro", "gemma-3-27b-it"]
    assert models[0].context_window == 1048576 and models[0].reasoning is True
    assert models[1].name == "Gemma 3"
    first, second = loopback.seen()
    assert second.query["pageToken"] == ["tok2"]
    assert first.header("x-goog-api-key") == fake_key and "key" not in first.query
