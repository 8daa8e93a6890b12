"""byok and the official ``openai`` / ``anthropic`` SDKs read the same replayed bytes alike.

Every recording in an OpenAI wire format (Chat Completions from OpenAI, Azure and the compatible
vendors, the Responses API, model lists) and every Anthropic recording is served by the loopback
server twice: once to the official SDK, once to byok's router. The text, reasoning (where the SDK
exposes it), token usage and finish reason they assemble must be the same; for error replies the
SDK's exception class and byok's error class must name the same kind of failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from byok_magic import errors
from byok_magic.events import Finish, ReasoningDelta, TextDelta, Usage
from tests.recordings import recording_params
from tests.replay import family, is_models, recorded_model, reply, setup

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
# the anthropic SDK warns about the (recorded, real) model ids reaching end-of-life
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "filtered",
    "tool_calls": "tool",
    "tool_use": "tool",
    "completed": "stop",
    "max_output_tokens": "length",
}


@dataclass
class Seen:
    text: str = ""
    reasoning: str = ""
    usage: tuple[Any, Any] | None = None
    finish: str | None = None
    error: BaseException | None = None


# SDK exception → the byok errors that name the same failure. byok may be more precise about a
# 400 (context length, unknown model) than the status code alone.
AGREE: list[tuple[str, tuple[type[errors.ByokError], ...]]] = [
    ("AuthenticationError", (errors.AuthError,)),
    ("PermissionDeniedError", (errors.PermissionDenied,)),
    ("NotFoundError", (errors.ModelNotFoundError,)),
    ("RateLimitError", (errors.RateLimitError,)),
    ("InternalServerError", (errors.ServerError,)),
    (
        "BadRequestError",
        (errors.BadRequestError, errors.ContextLengthError, errors.ModelNotFoundError),
    ),
    ("APIError", (errors.ProviderError,)),  # an error inside a 200 stream
]


def _sdk_base(rec: dict, url: str) -> str:
    path = urlsplit(rec["request"]["url"]).path
    for op in ("/chat/completions", "/responses", "/models", "/v1/messages"):
        if path.endswith(op):
            return url + path[: -len(op)]
    return url


def _openai_client(rec: dict, url: str, key: str) -> Any:
    split = urlsplit(rec["request"]["url"])
    if "/openai/deployments/" in split.path:
        version = parse_qs(split.query)["api-version"][0]
        return openai.AzureOpenAI(
            azure_endpoint=url, api_version=version, api_key=key, max_retries=0
        )
    return openai.OpenAI(base_url=_sdk_base(rec, url), api_key=key, max_retries=0)


def _chat_sdk(client: Any, model: str, stream: bool) -> Seen:
    s = Seen()
    msgs = [{"role": "user", "content": "hello"}]
    if not stream:
        out = client.chat.completions.create(model=model, messages=msgs)
        choice = out.choices[0]
        message = choice.message  # None when Azure's filter cut the whole answer
        s.text = (message.content if message else None) or ""
        extra = (message.model_extra if message else None) or {}
        s.reasoning = extra.get("reasoning_content") or extra.get("reasoning") or ""
        s.finish = choice.finish_reason
        if out.usage:
            s.usage = (out.usage.prompt_tokens, out.usage.completion_tokens)
        return s
    for chunk in client.chat.completions.create(model=model, messages=msgs, stream=True):
        for ch in chunk.choices or ():
            if ch.index != 0:
                continue
            if isinstance(ch.delta.content, str):
                s.text += ch.delta.content
            extra = ch.delta.model_extra or {}
            piece = extra.get("reasoning_content") or extra.get("reasoning")
            s.reasoning += piece if isinstance(piece, str) else ""
            s.finish = ch.finish_reason or s.finish
        if chunk.usage:
            s.usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    return s


def _responses_sdk(client: Any, model: str, stream: bool) -> Seen:
    s = Seen()
    if not stream:
        final = client.responses.create(model=model, input="hello")
        s.text = final.output_text
    else:
        final = None
        parts: dict[Any, str] = {}
        for ev in client.responses.create(model=model, input="hello", stream=True):
            if ev.type == "response.output_text.delta":
                s.text += ev.delta
            elif ev.type == "response.reasoning_summary_text.delta":
                key = (ev.item_id, ev.summary_index)
                parts[key] = parts.get(key, "") + ev.delta
            elif ev.type in ("response.completed", "response.incomplete"):
                final = ev.response
        s.reasoning = "\n\n".join(parts.values())
        assert final is not None
        assert final.output_text == s.text  # the SDK agrees with itself
    if final.usage:
        s.usage = (final.usage.input_tokens, final.usage.output_tokens)
    reason = final.incomplete_details.reason if final.incomplete_details else final.status
    s.finish = "tool_calls" if any(o.type.endswith("call") for o in final.output) else reason
    return s


def _anthropic_sdk(rec: dict, url: str, key: str, model: str, stream: bool) -> Seen:
    client = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)
    args = {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        with client.messages.stream(**args) as st:
            msg = st.get_final_message()
    else:
        msg = client.messages.create(**args)
    s = Seen()
    s.text = "".join(b.text for b in msg.content if b.type == "text")
    s.reasoning = "".join(b.thinking for b in msg.content if b.type == "thinking")
    u = msg.usage  # byok counts all input tokens, cache reads and writes included
    cache = (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
    s.usage = (u.input_tokens + cache, u.output_tokens)
    s.finish = msg.stop_reason
    return s


def _sdk(rec: dict, url: str, key: str) -> Seen:
    model = recorded_model(rec)
    stream = bool(rec["streaming"])
    try:
        if family(rec) == "anthropic":
            return _anthropic_sdk(rec, url, key, model, stream)
        client = _openai_client(rec, url, key)
        if family(rec) == "responses":
            return _responses_sdk(client, model, stream)
        return _chat_sdk(client, model, stream)
    except (openai.APIError, anthropic.APIError) as exc:
        return Seen(error=exc)


def _byok(router, rec: dict, url: str, key: str, memory_store) -> Seen:
    s = setup(rec, url)
    router.config.add(s.profile)
    memory_store.set(s.profile.name, key)
    seen = Seen()
    try:
        for e in router.stream(router.config.get(s.profile.name), s.request):
            if isinstance(e, TextDelta):
                seen.text += e.text
            elif isinstance(e, ReasoningDelta):
                seen.reasoning += e.text
            elif isinstance(e, Usage):
                seen.usage = (e.input_tokens, e.output_tokens)
            elif isinstance(e, Finish):
                seen.finish = e.reason
    except errors.ByokError as err:
        seen.error = err
    return seen


def _wire(rec: dict) -> bool:
    if is_models(rec):
        return rec["provider"] not in ("gemini", "ollama")
    return family(rec) in ("chat", "responses", "anthropic")


@pytest.mark.parametrize("rec", recording_params(lambda r: _wire(r) and not is_models(r)))
def test_byok_and_sdk_agree(router, loopback, memory_store, fake_key, monkeypatch, rec):
    monkeypatch.setattr(router.transport, "sleep", lambda s: None)
    loopback.route("POST", "*", reply(rec))
    sdk = _sdk(rec, loopback.url, fake_key)
    ours = _byok(router, rec, loopback.url, fake_key, memory_store)
    if sdk.error is not None:
        assert ours.error is not None, f"the SDK raised {type(sdk.error).__name__}, byok did not"
        names = {c.__name__ for c in type(sdk.error).__mro__}
        rule = next((ok for name, ok in AGREE if name in names), None)
        assert rule is not None, f"no agreement rule for {type(sdk.error).__name__}"
        assert isinstance(ours.error, rule), (type(sdk.error), ours.error)
        return
    assert ours.error is None, f"byok raised {ours.error!r}; the SDK did not"
    assert ours.text == sdk.text
    if sdk.reasoning:  # the SDKs expose reasoning only for some servers
        assert ours.reasoning == sdk.reasoning
    if sdk.usage is not None:
        assert ours.usage == sdk.usage
    assert ours.finish == FINISH.get(str(sdk.finish), "stop")


@pytest.mark.parametrize("rec", recording_params(lambda r: _wire(r) and is_models(r)))
def test_model_lists_agree(router, loopback, memory_store, fake_key, rec):
    from byok_magic.config import Profile

    loopback.route("GET", "*", reply(rec))
    client = openai.OpenAI(base_url=_sdk_base(rec, loopback.url), api_key=fake_key, max_retries=0)
    sdk_ids = sorted(m.id for m in client.models.list())
    router.config.add(Profile(name="rec", type="openai", base_url=_sdk_base(rec, loopback.url)))
    memory_store.set("rec", fake_key)
    ours = sorted(m.id for m in router.list_models("rec", refresh=True))
    assert ours == sdk_ids and ours
