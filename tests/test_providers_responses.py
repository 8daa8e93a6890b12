"""The OpenAI Responses API (``wire_api = "responses"``) for openai and azure profiles."""

from __future__ import annotations

import json

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import ChatRequest, Finish, Message, ReasoningDelta, TextDelta, Usage
from tests.loopback import Reply


def named_sse(*events: dict) -> Reply:
    """``event: <type>`` + ``data: {...}`` frames, as the Responses API sends them."""
    chunks = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
    return Reply(200, {"content-type": "text/event-stream"}, chunks)


def completed(status="completed", **extra) -> dict:
    usage = {
        "input_tokens": 40,
        "input_tokens_details": {"cached_tokens": 8},
        "output_tokens": 70,
        "output_tokens_details": {"reasoning_tokens": 64},
        "total_tokens": 110,
    }
    kind = "response.completed" if status == "completed" else f"response.{status}"
    return {"type": kind, "response": {"id": "resp_1", "status": status, "usage": usage, **extra}}


def summary(delta: str, index: int) -> dict:
    return {
        "type": "response.reasoning_summary_text.delta",
        "item_id": "rs_1",
        "summary_index": index,
        "delta": delta,
    }


def text(delta: str) -> dict:
    return {"type": "response.output_text.delta", "item_id": "msg_1", "delta": delta}


CREATED = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}


@pytest.fixture
def responses(router, loopback, memory_store, fake_key):
    router.config.add(
        Profile(name="oai", type="openai", base_url=loopback.url + "/v1", wire_api="responses")
    )
    memory_store.set("oai", fake_key)
    return router


def test_streams_text_reasoning_summary_and_usage(responses, loopback, fake_key):
    loopback.route(
        "POST",
        "/v1/responses",
        named_sse(
            CREATED,
            {"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs_1"}},
            summary("Adding", 0),
            summary(" numbers.", 0),
            summary("Checking.", 1),
            {"type": "response.output_item.added", "item": {"type": "message", "id": "msg_1"}},
            text("4"),
            text("!"),
            {"type": "response.output_text.done", "text": "4!"},
            {"type": "response.web_search_call.in_progress"},  # unknown to byok: ignored
            completed(),
        ),
    )
    prof, req = responses.request(
        "what is 2+2?",
        "oai:gpt-demo",
        history=(Message("user", "hello"), Message("assistant", "Hi.")),
        system="Answer in one line.",
        max_tokens=800,
        temperature=0.3,
        reasoning_effort="low",
    )
    events = list(responses.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "4!"
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == "Adding numbers.\n\nChecking."
    assert Usage(40, 70, 64, 8) in events
    assert events[-1] == Finish("stop", "completed")
    (seen,) = loopback.seen("/v1/responses")
    assert seen.header("authorization") == f"Bearer {fake_key}"
    assert seen.json == {
        "model": "gpt-demo",
        "instructions": "Answer in one line.",
        "input": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "what is 2+2?"},
        ],
        "stream": True,
        "store": False,
        "max_output_tokens": 800,
        "temperature": 0.3,
        "reasoning": {"effort": "low", "summary": "auto"},
    }


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "filtered"), ("steered", "other")],
)
def test_incomplete_says_why(responses, loopback, reason, finish):
    loopback.route(
        "POST",
        "/v1/responses",
        named_sse(text("Sure"), completed("incomplete", incomplete_details={"reason": reason})),
    )
    prof, req = responses.request("list the states", "oai:m")
    events = list(responses.stream(prof, req))
    assert events[-1] == Finish(finish, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("rate_limit_exceeded", errors.RateLimitError),
        ("server_error", errors.ServerError),
        ("invalid_prompt", errors.BadRequestError),
        ("something_new", errors.ProviderError),
    ],
)
def test_failed_response_is_a_clear_error(responses, loopback, code, kind):
    failed = {
        "type": "response.failed",
        "response": {"status": "failed", "error": {"code": code, "message": "it broke"}},
    }
    loopback.route("POST", "/v1/responses", named_sse(text("par"), failed))
    prof, req = responses.request("hi", "oai:m")
    got = []
    with pytest.raises(kind) as ei:
        got.extend(responses.stream(prof, req))
    assert type(ei.value) is kind
    assert code in str(ei.value) and "it broke" in str(ei.value)


def test_error_event_mid_stream(responses, loopback):
    event = {"type": "error", "code": "server_is_overloaded", "message": "busy", "param": None}
    loopback.route("POST", "/v1/responses", named_sse(text("a"), event))
    prof, req = responses.request("hi", "oai:m")
    with pytest.raises(errors.ServerError, match="busy"):
        list(responses.stream(prof, req))


def test_stream_cut_before_a_status_event_is_interrupted(responses, loopback):
    loopback.route("POST", "/v1/responses", named_sse(CREATED, text("half")))
    prof, req = responses.request("hi", "oai:m")
    with pytest.raises(errors.StreamInterrupted):
        list(responses.stream(prof, req))


def test_not_streamed(responses, loopback):
    body = {
        "id": "resp_1",
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Hm."}]},
            {"type": "message", "content": [{"type": "output_text", "text": "Four."}]},
        ],
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    loopback.route("POST", "/v1/responses", Reply.json(body))
    prof = responses.config.get("oai")
    req = ChatRequest(model="m", messages=(Message("user", "2+2?"),), stream=False)
    events = list(responses.stream(prof, req))
    assert events == [
        ReasoningDelta("Hm."),
        TextDelta("Four."),
        Usage(5, 2),
        Finish("stop", "completed"),
    ]
    assert loopback.seen()[0].json["stream"] is False


@pytest.mark.parametrize(
    ("api_version", "path", "query"),
    [
        ("2025-04-01-preview", "/openai/responses", {"api-version": ["2025-04-01-preview"]}),
        (None, "/openai/v1/responses", {}),
    ],
)
def test_azure_responses_routes(router, loopback, memory_store, fake_key, api_version, path, query):
    router.config.add(
        Profile(
            name="az",
            type="azure",
            base_url=loopback.url,
            api_version=api_version,
            wire_api="responses",
        )
    )
    memory_store.set("az", fake_key)
    loopback.route("POST", path, named_sse(text("ok"), completed()))
    assert router.ask("hi", "az:my-deployment") == "ok"
    (seen,) = loopback.seen()
    assert seen.path == path and seen.query == query
    assert seen.header("api-key") == fake_key
    assert seen.header("authorization") is None
    assert seen.json["model"] == "my-deployment"
