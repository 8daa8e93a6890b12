"""Chat Completions chunks → events: deltas, reasoning fields, ``<think>`` blocks, usage and
in-band errors. Shared by every OpenAI-compatible server (and the Responses adapter's usage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import errors
from ..events import Event, ReasoningDelta, TextDelta, Usage
from .base import clean_message

_REASONING_FIELDS = ("reasoning_content", "reasoning")


class ChunkState:
    """What one Chat Completions answer has seen so far: its finish reason, and whether its
    content opened with ``<think>`` (reasoning inlined by models served without a parser)."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self.mode = ""  # "" undecided, "think" inside <think>, "plain" answer text
        self.held = ""

    def chunk(self, chunk: Mapping[str, Any]) -> Iterator[Event]:
        choices = chunk.get("choices")
        if (  # the hot path: a plain content piece in an answer already known to be plain text
            self.mode == "plain"
            and type(choices) is list
            and len(choices) == 1
            and not chunk.get("usage")
            and "error" not in chunk
            and "x_groq" not in chunk
        ):
            choice = choices[0]
            delta = choice.get("delta") if type(choice) is dict else None
            if (
                type(delta) is dict
                and len(delta) == 1
                and type(delta.get("content")) is str
                and not choice.get("finish_reason")
                and choice.get("index", 0) == 0
            ):
                if delta["content"]:
                    yield TextDelta(delta["content"])
                return
        if chunk.get("error"):
            raise stream_error(chunk["error"])
        for choice in chunk.get("choices") or ():  # Azure filter chunks have none
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            for name in _REASONING_FIELDS:
                piece = delta.get(name)
                if isinstance(piece, str) and piece:
                    yield ReasoningDelta(piece)
                    break
            yield from self.content(delta.get("content"))
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                yield TextDelta(refusal)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        usage = chunk.get("usage")
        if not isinstance(usage, dict):
            usage = (chunk.get("x_groq") or {}).get("usage")  # Groq's last chunk
        if isinstance(usage, dict):
            yield usage_from(usage)

    def content(self, content: Any) -> Iterator[Event]:
        if isinstance(content, str):
            if content:
                yield from self.text(content)
            return
        if not isinstance(content, list):
            return
        for part in content:  # Mistral magistral: a list of text / thinking parts
            if not isinstance(part, dict):
                continue
            if part.get("type") == "thinking":
                for sub in part.get("thinking") or ():
                    if isinstance(sub, dict) and isinstance(sub.get("text"), str) and sub["text"]:
                        yield ReasoningDelta(sub["text"])
            elif isinstance(part.get("text"), str) and part["text"]:
                yield from self.text(part["text"])

    def text(self, text: str) -> Iterator[Event]:
        if self.mode == "plain":
            yield TextDelta(text)
            return
        text = self.held + text
        self.held = ""
        if not self.mode:
            probe = text.lstrip()
            if _OPEN.startswith(probe):  # could still become "<think>": wait for more
                self.held = text
                return
            if not probe.startswith(_OPEN):
                self.mode = "plain"
                yield TextDelta(text)
                return
            self.mode, text = "think", probe[len(_OPEN) :]
        at = text.find(_CLOSE)
        if at < 0:
            keep = _partial_suffix(text, _CLOSE)  # the tag may be cut between two chunks
            text, self.held = text[: len(text) - keep], text[len(text) - keep :]
            if text:
                yield ReasoningDelta(text)
            return
        if at:
            yield ReasoningDelta(text[:at])
        self.mode = "plain"
        rest = text[at + len(_CLOSE) :].lstrip("\n")
        if rest:
            yield TextDelta(rest)

    def flush(self) -> Iterator[Event]:
        if self.held:
            yield ReasoningDelta(self.held) if self.mode == "think" else TextDelta(self.held)
            self.held = ""


_OPEN, _CLOSE = "<think>", "</think>"


def _partial_suffix(text: str, tag: str) -> int:
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def usage_from(u: Mapping[str, Any]) -> Usage:
    """OpenAI-style usage (Chat Completions or Responses names) as a :class:`Usage`."""
    pd = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    cd = u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    return Usage(
        input_tokens=u.get("prompt_tokens", u.get("input_tokens")),
        output_tokens=u.get("completion_tokens", u.get("output_tokens")),
        reasoning_tokens=cd.get("reasoning_tokens") if isinstance(cd, dict) else None,
        cached_tokens=pd.get("cached_tokens") if isinstance(pd, dict) else None,
    )


def error_fields(data: Any) -> tuple[str, str]:
    """``(message, code)`` from the error shapes OpenAI-compatible servers use."""
    if not isinstance(data, dict):
        return "", ""
    err = data.get("error")
    if isinstance(err, str):  # Ollama, some proxies
        return err, ""
    if not isinstance(err, dict):  # Mistral {"detail": …}, bare {"message": …}
        detail = data.get("detail") or data.get("message") or ""
        return (detail if isinstance(detail, str) else str(detail)), ""
    message = str(err.get("message") or "")
    raw = (err.get("metadata") or {}).get("raw") if isinstance(err.get("metadata"), dict) else None
    if isinstance(raw, str) and raw and raw not in message:  # OpenRouter: the upstream's words
        message = f"{message}: {raw}" if message else raw
    code = err.get("code")
    if not code or str(code).isdigit():  # LiteLLM, OpenRouter: the status again; type says more
        code = err.get("type") or code or ""
    return message, str(code)


_STATUS_KINDS: dict[int, type[errors.ProviderError]] = {
    400: errors.BadRequestError,
    401: errors.AuthError,
    403: errors.PermissionDenied,
    404: errors.ModelNotFoundError,
    429: errors.RateLimitError,
}


def stream_error(err: Any) -> errors.ByokError:
    """An ``{"error": …}`` object inside a 200 stream."""
    if not isinstance(err, dict):
        err = {"message": str(err)}
    msg = clean_message(err.get("message") or err.get("type") or "unknown error")
    code = err.get("code")
    status = err.get("status_code") or (code if isinstance(code, int) else None)
    if isinstance(code, str) and code.isdigit():
        status = int(code)
    kind: type[errors.ProviderError] = errors.ProviderError
    text = f"{err.get('type', '')} {code or ''} {msg}".lower()
    if isinstance(status, int) and status in _STATUS_KINDS:
        kind = _STATUS_KINDS[status]
    elif isinstance(status, int) and status >= 500:
        kind = errors.ServerError
    elif "rate" in text:
        kind = errors.RateLimitError
    elif "overloaded" in text or "server" in text:
        kind = errors.ServerError
    return kind(
        f"the provider reported an error mid-stream: {msg}",
        "the answer so far is kept; run the cell again",
        code=code,
        status=status if isinstance(status, int) else None,
    )
