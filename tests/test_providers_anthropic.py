"""Anthropic Messages against the loopback server: headers, body, thinking, errors, models."""

from __future__ import annotations

import json

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import Finish, Message, ReasoningDelta, TextDelta, Usage
from byok_magic.router import Answer
from tests.loopback import Reply


def sse(*events: dict) -> Reply:
    chunks = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    return Reply(200, {"content-type": "text/event-stream"}, chunks)


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "role": "assistant",
        "content": [],
        "usage": {"input_tokens": 40, "output_tokens": 1, "cache_read_input_tokens": 5},
    },
}


def block(index: int, kind: str, **extra) -> dict:
    return {"type": "content_block_start", "index": index, "content_block": {"type": kind, **extra}}


def delta(index: int, kind: str, **fields) -> dict:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def end(stop: str = "end_turn", output: int = 71) -> list[dict]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop},
            "usage": {"output_tokens": output},
        },
        {"type": "message_stop"},
    ]


THINKING_ANSWER = [
    START,
    block(0, "thinking", thinking="", signature=""),
    {"type": "ping"},
    delta(0, "thinking_delta", thinking="Two and two"),
    delta(0, "thinking_delta", thinking=" is four."),
    delta(0, "signature_delta", signature="c2ln"),
    {"type": "content_block_stop", "index": 0},
    block(1, "redacted_thinking", data="opaque"),
    {"type": "content_block_stop", "index": 1},
    block(2, "text", text=""),
    delta(2, "text_delta", text="4"),
    {"type": "some_future_event", "x": 1},
    {"type": "content_block_stop", "index": 2},
    *end(),
]


@pytest.fixture
def claude(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="anthropic", type="anthropic", base_url=loopback.url))
    memory_store.set("anthropic", fake_key)
    return router


def test_streams_thinking_and_text(claude, loopback, fake_key):
    loopback.route("POST", "/v1/messages", sse(*THINKING_ANSWER))
    prof, req = claude.request(
        "what is 2+2?",
        "anthropic:claude-sonnet-4-5",
        history=(Message("user", "hello"), Message("user", "are you there?")),
        system="Answer in one line.",
        temperature=0.3,
    )
    events = list(claude.stream(prof, req))
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [
        ReasoningDelta("Two and two"),
        ReasoningDelta(" is four."),
    ]
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("4")]
    usages = [e for e in events if isinstance(e, Usage)]
    # 40 uncached + 5 cache reads: the shared vocabulary counts all input tokens
    assert usages[-1] == Usage(input_tokens=45, output_tokens=71, cached_tokens=5)
    assert events[-1] == Finish("stop", "end_turn")
    (seen,) = loopback.seen()
    assert seen.header("x-api-key") == fake_key
    assert seen.header("authorization") is None
    assert seen.header("anthropic-version") == "2023-06-01"
    assert seen.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "system": "Answer in one line.",
        "messages": [  # consecutive user turns merged: the API wants them alternating
            {"role": "user", "content": "hello\n\nare you there?\n\nwhat is 2+2?"},
        ],
        "stream": True,
        "temperature": 0.3,
    }


@pytest.mark.parametrize(
    ("effort", "max_tokens", "budget", "sent_max"),
    [
        ("low", None, 1024, 8192),
        ("medium", None, 4096, 8192),
        ("high", None, 16000, 16000 + 8192),
        ("low", 500, 1024, 1524),
    ],
)
def test_reasoning_effort_becomes_a_thinking_budget(
    claude, loopback, effort, max_tokens, budget, sent_max
):
    loopback.route("POST", "/v1/messages", sse(*THINKING_ANSWER))
    prof, req = claude.request(
        "hi", "anthropic:claude-opus-4-1", reasoning_effort=effort, max_tokens=max_tokens
    )
    list(claude.stream(prof, req))
    body = loopback.seen()[0].json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == sent_max > budget


def test_claude_3_models_get_their_smaller_default(claude, loopback):
    loopback.route("POST", "/v1/messages", sse(*THINKING_ANSWER))
    claude.ask("hi", "anthropic:claude-3-haiku-20240307")
    assert loopback.seen()[0].json["max_tokens"] == 4096


def test_bearer_token_uses_authorization_and_the_oauth_beta(
    router, loopback, memory_store, fake_key
):
    router.config.add(
        Profile(
            name="anthropic",
            type="anthropic",
            base_url=loopback.url + "/v1/",  # a pasted /v1 is not doubled
            headers={"anthropic-beta": "files-api-2025-04-14"},
        )
    )
    memory_store.set("anthropic", fake_key)
    memory_store.set("anthropic#bearer", "sk-ant-oat01-test-token")
    loopback.route("POST", "/v1/messages", sse(*THINKING_ANSWER))
    assert router.ask("hi", "anthropic:claude-sonnet-4-5") == "4"
    seen = loopback.seen()[0]
    assert seen.header("authorization") == "Bearer sk-ant-oat01-test-token"
    assert seen.header("x-api-key") is None
    assert seen.header("anthropic-beta") == "files-api-2025-04-14,oauth-2025-04-20"
    assert fake_key not in seen.raw


def test_overloaded_mid_stream_keeps_the_partial_answer(claude, loopback):
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    loopback.route(
        "POST",
        "/v1/messages",
        sse(START, block(0, "text"), delta(0, "text_delta", text="Par"), overloaded),
    )
    prof, req = claude.request("hi", "anthropic:claude-sonnet-4-5")
    answer = Answer(target="anthropic:claude-sonnet-4-5")
    with pytest.raises(errors.ServerError) as ei:
        list(claude.stream(prof, req, answer))
    assert str(ei.value).startswith("overloaded:")
    assert ei.value.retryable
    assert answer.text == "Par" and answer.error is ei.value


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("rate_limit_error", errors.RateLimitError),
        ("invalid_request_error", errors.BadRequestError),
    ],
)
def test_other_mid_stream_errors(claude, loopback, kind, cls):
    err = {"type": "error", "error": {"type": kind, "message": "nope"}}
    loopback.route("POST", "/v1/messages", sse(START, err))
    with pytest.raises(cls, match="nope"):
        claude.ask("hi", "anthropic:m")


def test_stream_without_message_stop_is_interrupted(claude, loopback):
    loopback.route(
        "POST", "/v1/messages", sse(START, block(0, "text"), delta(0, "text_delta", text="a"))
    )
    with pytest.raises(errors.StreamInterrupted):
        claude.ask("hi", "anthropic:m")


def test_max_tokens_stop_is_length(claude, loopback):
    loopback.route(
        "POST", "/v1/messages", sse(START, delta(0, "text_delta", text="a"), *end("max_tokens"))
    )
    prof, req = claude.request("hi", "anthropic:m")
    assert list(claude.stream(prof, req))[-1] == Finish("length", "max_tokens")


def test_529_overloaded_is_retried_then_shown(claude, loopback, monkeypatch):
    monkeypatch.setattr(claude.transport, "sleep", lambda s: None)
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    loopback.route("POST", "/v1/messages", Reply.json(body, status=529))
    with pytest.raises(errors.ServerError, match=r"529 .*Overloaded"):
        claude.ask("hi", "anthropic:m")
    assert len(loopback.seen()) == 3


def test_models_follow_pagination(claude, loopback, fake_key):
    page1 = {
        "data": [{"type": "model", "id": "claude-opus-4-1", "display_name": "Claude Opus 4.1"}],
        "has_more": True,
        "first_id": "claude-opus-4-1",
        "last_id": "claude-opus-4-1",
    }
    page2 = {
        "data": [{"type": "model", "id": "claude-3-5-haiku-latest", "display_name": "Haiku"}],
        "has_more": False,
        "last_id": "claude-3-5-haiku-latest",
    }
    loopback.route("GET", "/v1/models", [Reply.json(page1), Reply.json(page2)])
    models = claude.list_models("anthropic", refresh=True)
    assert [(m.id, m.name) for m in models] == [
        ("claude-opus-4-1", "Claude Opus 4.1"),
        ("claude-3-5-haiku-latest", "Haiku"),
    ]
    assert models[0].reasoning is True and models[0].context_window == 200_000  # hints
    first, second = loopback.seen()
    assert "after_id" not in first.query and second.query["after_id"] == ["claude-opus-4-1"]
    assert first.header("x-api-key") == fake_key
    assert first.header("anthropic-version") == "2023-06-01"
