"""OpenAI Responses API (``wire_api = "responses"``) for the openai and azure types.

Stateless: the whole history goes out as ``input`` items every turn, the system prompt as
``instructions``, and ``store`` is false unless the profile's quirks say otherwise (an answer
shown in a notebook need not be kept on the provider's side for 30 days).
Errors before the stream, the model list and the URL/auth rules are Chat Completions' own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..events import Event, Finish, ReasoningDelta, TextDelta
from .base import WireRequest, clean_message, loads, split_reply
from .chat_chunks import usage_from
from .openai_chat import OpenAIChatAdapter, post

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest
    from ..streaming import SSEEvent

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "filtered"}
_TEXT_EVENTS = ("response.output_text.delta", "response.refusal.delta")
_REASONING_EVENTS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


def input_items(request: ChatRequest) -> list[dict[str, Any]]:
    """The conversation as Responses ``input`` message items."""
    return [{"role": m.role, "content": m.content} for m in request.messages]


class OpenAIResponsesAdapter(OpenAIChatAdapter):
    """``POST {base}/responses`` with ``event:``-named SSE; ends at a ``response.*`` status."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        body: dict[str, Any] = {
            "model": request.model,
            "input": input_items(request),
            "stream": request.stream,
            "store": bool(profile.quirks.get("store", False)),
        }
        if request.system:
            body["instructions"] = request.system
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.reasoning_effort:
            body["reasoning"] = {"effort": request.reasoning_effort, "summary": "auto"}
        return post(profile, credential, "responses", request, body)

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        body, events = split_reply(frames)
        if events is None:  # stream: false → one response object
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                raise failed_error(body["error"])
            yield from response_events(body if isinstance(body, dict) else {})
            return
        yield from _stream(events)


def _stream(frames: Iterable[SSEEvent]) -> Iterator[Event]:
    last_part: tuple[Any, Any] | None = None
    tools = False
    for frame in frames:
        ev = loads(frame.data)
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type") or frame.event
        if kind in _TEXT_EVENTS:
            if ev.get("delta"):
                yield TextDelta(str(ev["delta"]))
        elif kind in _REASONING_EVENTS:
            part = (ev.get("item_id"), ev.get("summary_index", ev.get("content_index")))
            if ev.get("delta"):
                if last_part is not None and part != last_part:
                    yield ReasoningDelta("\n\n")  # summary parts are paragraphs
                last_part = part
                yield ReasoningDelta(str(ev["delta"]))
        elif kind == "response.output_item.added":
            item = ev.get("item") or {}
            tools = tools or str(item.get("type", "")).endswith("call")
        elif kind in ("response.completed", "response.incomplete"):
            yield from _final(ev.get("response") or {}, tools)
            return
        elif kind == "response.failed":
            response = ev.get("response") or {}
            raise failed_error(response.get("error") or {"message": "the response failed"})
        elif kind == "error":
            raise failed_error(ev.get("error") if isinstance(ev.get("error"), dict) else ev)
        # everything else (created, in_progress, part boundaries, tool calls...) is status only


def _final(response: Mapping[str, Any], tools: bool) -> Iterator[Event]:
    usage = response.get("usage")
    if isinstance(usage, dict):
        yield usage_from(usage)
    status = response.get("status") or "completed"
    if status == "incomplete":
        reason = str((response.get("incomplete_details") or {}).get("reason") or "incomplete")
        yield Finish(_INCOMPLETE.get(reason, "other"), reason)  # type: ignore[arg-type]
    elif tools:
        yield Finish("tool", status)
    else:
        yield Finish("stop", status)


def response_events(response: Mapping[str, Any]) -> Iterator[Event]:
    """A whole (non-streamed) response object as events."""
    if response.get("status") == "failed":
        raise failed_error(response.get("error") or {"message": "the response failed"})
    tools = False
    for item in response.get("output") or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            texts = [s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict)]
            if any(texts):
                yield ReasoningDelta("\n\n".join(t for t in texts if t))
        elif kind == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") in ("output_text", "refusal"):
                    text = part.get("text") or part.get("refusal") or ""
                    if text:
                        yield TextDelta(text)
        elif str(kind).endswith("call"):
            tools = True
    yield from _final(response, tools)


_FAILED_KINDS: dict[str, type[errors.ProviderError]] = {
    "rate_limit_exceeded": errors.RateLimitError,
    "insufficient_quota": errors.RateLimitError,
    "server_error": errors.ServerError,
    "server_is_overloaded": errors.ServerError,
    "context_length_exceeded": errors.ContextLengthError,
    "invalid_prompt": errors.BadRequestError,
    "invalid_request_error": errors.BadRequestError,
    "model_not_found": errors.ModelNotFoundError,
}


def failed_error(err: Any) -> errors.ProviderError:
    """``response.failed``'s ``response.error`` or an ``error`` event as a clear error."""
    if not isinstance(err, dict):
        err = {"message": str(err)}
    code = str(err.get("code") or err.get("type") or "")
    msg = clean_message(err.get("message") or code or "unknown error")
    kind = _FAILED_KINDS.get(code, errors.ProviderError)
    if kind is errors.ProviderError and code.startswith("image_"):
        kind = errors.BadRequestError
    fix = {
        errors.RateLimitError: "wait a moment and run the cell again, or check your plan",
        errors.ServerError: "this is on the provider's side; run the cell again in a moment",
        errors.ContextLengthError: "shorten the prompt or start a new thread (`--new`)",
    }.get(kind, "the answer so far is kept; run the cell again")
    return kind(f"the response failed ({code or 'error'}): {msg}", fix, code=code)
