"""OpenAI-compatible vendors are data rows: each preset, pointed at the loopback server with its
own path, streams a correct answer with its quirks. Plus the things every profile shares: the
stream_options retry, bearer tokens over keys, extra headers, and custom model lists."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from byok_magic import errors
from byok_magic.config import PRESETS, Profile
from byok_magic.events import Finish, ReasoningDelta, TextDelta, Usage
from tests.loopback import Reply, chat_chunks

BASE = {"id": "c1", "object": "chat.completion.chunk", "model": "m"}


def delta(**d) -> dict:
    return {**BASE, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}


def finish(reason="stop", usage=None) -> dict:
    out: dict = {**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    if usage:
        out["usage"] = usage
    return out


USAGE = {"prompt_tokens": 9, "completion_tokens": 4}


def point(router, name: str, url: str) -> Profile:
    """The preset, with its address moved to the loopback server (its path kept)."""
    path = urlsplit(PRESETS[name].base_url or "").path
    router.config.add(Profile(name=name, type=PRESETS[name].type, base_url=url + path))
    return router.config.get(name)


# preset → (path asked, reasoning chunks as that vendor sends them, body fields for effort)
ROWS = {
    "vllm": ("/v1/chat/completions", [delta(reasoning="hmm")], {"reasoning_effort": "high"}),
    "litellm": (
        "/v1/chat/completions",
        [delta(reasoning_content="hmm")],
        {"reasoning_effort": "high"},
    ),
    "ark": (
        "/api/v3/chat/completions",
        [delta(reasoning_content="hmm")],
        {"thinking": {"type": "enabled"}},
    ),
    "deepseek": ("/v1/chat/completions", [delta(reasoning_content="hmm")], {}),
    "openrouter": (
        "/api/v1/chat/completions",
        [": OPENROUTER PROCESSING", delta(reasoning="hmm")],
        {"reasoning": {"effort": "high"}},
    ),
    "groq": ("/openai/v1/chat/completions", [delta(reasoning="hmm")], {"reasoning_effort": "high"}),
    "mistral": (
        "/v1/chat/completions",
        [delta(content=[{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}])],
        {},
    ),
    "dashscope": (
        "/compatible-mode/v1/chat/completions",
        [delta(reasoning_content="hmm")],
        {"enable_thinking": True},
    ),
}


def _sse_with_comments(items: list) -> Reply:
    chunks = []
    for it in items:
        if isinstance(it, str):
            chunks.append(f"{it}\n\n".encode())  # an SSE comment line
        else:
            chunks.extend(Reply.sse([it], done=False).chunks)
    chunks.append(b"data: [DONE]\n\n")
    return Reply(200, {"content-type": "text/event-stream"}, chunks)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_vendor_row_streams_its_dialect(router, loopback, monkeypatch, fake_key, name):
    path, reasoning, effort_fields = ROWS[name]
    env = PRESETS[name].env_keys[0]
    monkeypatch.setenv(env, fake_key)  # the preset's env var is the fallback for its key
    prof = point(router, name, loopback.url)
    items = [*reasoning, delta(content="Hel"), delta(content="lo"), finish(usage=USAGE)]
    loopback.route("POST", path, _sse_with_comments(items))
    model = "ep-20260101-abcde" if name == "ark" else "some-model"
    _, req = router.request("hi", f"{name}:{model}", reasoning_effort="high", max_tokens=99)
    events = list(router.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "hmm"
    assert Usage(9, 4) in events and events[-1] == Finish("stop", "stop")
    (seen,) = loopback.seen()
    assert seen.path == path
    assert seen.header("authorization") == f"Bearer {fake_key}"
    body = seen.json
    assert body["model"] == model and body["max_tokens"] == 99
    for k, v in effort_fields.items():
        assert body[k] == v
    for other in ("reasoning_effort", "reasoning", "thinking", "enable_thinking"):
        if other not in effort_fields:
            assert other not in body, f"{name} must not get {other}"
    assert ("stream_options" in body) is (name != "mistral")


@pytest.mark.parametrize("name", ["vllm", "litellm"])
def test_local_gateways_need_no_key(router, loopback, name):
    prof = point(router, name, loopback.url)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    _, req = router.request("hi", f"{name}:m")
    assert "".join(e.text for e in router.stream(prof, req) if isinstance(e, TextDelta)) == "ok"
    assert loopback.seen()[0].header("authorization") is None


def test_think_tags_become_reasoning(router, loopback, memory_store, fake_key):
    prof = point(router, "vllm", loopback.url)
    pieces = ["<thi", "nk>Let me", " see.</th", "ink>\n\nThe answer", " is <think> literally."]
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(pieces)))
    _, req = router.request("hi", "vllm:deepseek-r1-distill")
    events = list(router.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Let me see."
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "The answer is <think> literally."


def test_stream_options_rejection_is_retried_once_without_it(
    router, loopback, memory_store, fake_key
):
    prof = point(router, "vllm", loopback.url)
    memory_store.set("vllm", fake_key)
    refusal = {"error": {"message": "Unrecognized request argument supplied: stream_options"}}
    loopback.route(
        "POST",
        "/v1/chat/completions",
        [Reply.json(refusal, status=400), Reply.sse(chat_chunks(["fine"]))],
    )
    _, req = router.request("hi", "vllm:m")
    assert "".join(e.text for e in router.stream(prof, req) if isinstance(e, TextDelta)) == "fine"
    first, second = loopback.seen()
    assert "stream_options" in first.json and "stream_options" not in second.json


def test_stream_options_rejection_twice_is_shown(router, loopback, memory_store, fake_key):
    point(router, "vllm", loopback.url)
    memory_store.set("vllm", fake_key)
    refusal = {"error": {"message": "stream_options is not allowed"}}
    loopback.route("POST", "/v1/chat/completions", Reply.json(refusal, status=400))
    with pytest.raises(errors.BadRequestError, match="stream_options"):
        router.ask("hi", "vllm:m")
    assert len(loopback.seen()) == 2


def test_groq_usage_in_x_groq(router, loopback, memory_store, fake_key):
    point(router, "groq", loopback.url)
    memory_store.set("groq", fake_key)
    last = {**finish(), "x_groq": {"id": "req_1", "usage": {**USAGE, "queue_time": 0.1}}}
    loopback.route("POST", "/openai/v1/chat/completions", Reply.sse([delta(content="ok"), last]))
    prof, req = router.request("hi", "groq:llama")
    assert Usage(9, 4) in list(router.stream(prof, req))


def test_bearer_token_wins_over_key_and_env(router, loopback, memory_store, monkeypatch, fake_key):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-from-env")
    router.config.add(Profile(name="openai", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("openai", fake_key)
    memory_store.set("openai#bearer", "sk-test-bearer-token")
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    assert router.ask("hi", "openai:gpt-4.1") == "ok"
    seen = loopback.seen()[0]
    assert seen.header("authorization") == "Bearer sk-test-bearer-token"
    assert fake_key not in seen.raw and "sk-test-from-env" not in seen.raw


def test_extra_profile_headers_are_sent(router, loopback, memory_store, fake_key):
    router.config.add(
        Profile(
            name="gw",
            type="openai",
            base_url=loopback.url + "/v1",
            headers={"X-Team": "ml", "OpenAI-Project": "proj_1"},
        )
    )
    memory_store.set("gw", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    loopback.route("GET", "/v1/models", Reply.json({"data": [{"id": "a"}]}))
    router.ask("hi", "gw:m")
    router.list_models("gw", refresh=True)
    for seen in loopback.seen():
        assert seen.header("x-team") == "ml" and seen.header("openai-project") == "proj_1"
        assert seen.header("authorization") == f"Bearer {fake_key}"


def test_no_model_for_a_preset_is_never_sent(router, loopback):
    point(router, "groq", loopback.url)
    with pytest.raises(errors.NoModelError, match="no model"):
        router.request("hi", "groq")
    assert loopback.seen() == []
