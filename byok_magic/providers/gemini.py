"""Google Gemini API, native: ``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse``.

The key travels only in the ``x-goog-api-key`` header, never in the URL (URLs end up in logs,
proxies and error messages). The stream has no terminal marker: it is finished when a chunk
carried a ``finishReason``, otherwise the connection was cut.

The request and stream halves (:func:`request_body`, :class:`GeminiStream`, :func:`gemini_error`)
are plain functions over dicts so that a Vertex AI adapter can reuse them with its own URL/auth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import errors
from ..events import Event, Finish, ModelInfo, ReasoningDelta, TextDelta, Usage, normalise_finish
from .base import (
    WireRequest,
    auth_for,
    clean_message,
    http_error,
    loads,
    parse_json_body,
    split_reply,
)
from .base import retry_after as _retry_after

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest
    from ..streaming import SSEEvent

API_VERSION = "v1beta"
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 4096, "high": 16000}
THINKING_BUDGETS.update({"xhigh": 24576, "max": 24576})
BLOCK_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
    | {"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR", "JAILBREAK"}
)
_VERSIONED = re.compile(r"/v\d+(?:alpha|beta)?\d*$")


def api_root(profile: Profile) -> str:
    """``https://generativelanguage.googleapis.com/v1beta`` (a version in the base is kept)."""
    base = (profile.base_url or "https://generativelanguage.googleapis.com").strip().rstrip("/")
    return base if _VERSIONED.search(base) else f"{base}/{API_VERSION}"


def model_path(model: str) -> str:
    return quote(model.removeprefix("models/"), safe="-._~")


def thinks_by_default(model: str) -> bool:
    """Model families that think (so asking for their thought summaries is accepted)."""
    return bool(re.search(r"gemini-(2\.5|[3-9])|thinking", model))


def request_body(request: ChatRequest) -> dict[str, Any]:
    """``contents`` (roles user/model, same-role turns merged), ``systemInstruction`` and
    ``generationConfig``."""
    contents: list[dict[str, Any]] = []
    system = [request.system] if request.system else []
    for m in request.messages:
        if m.role == "system":
            system.append(m.content)
            continue
        role = "model" if m.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append({"text": m.content})
        else:
            contents.append({"role": role, "parts": [{"text": m.content}]})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    effort = (request.reasoning_effort or "").lower()
    if effort in THINKING_BUDGETS:
        budget = THINKING_BUDGETS[effort]
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    elif thinks_by_default(request.model):
        config["thinkingConfig"] = {"includeThoughts": True}
    if config:
        body["generationConfig"] = config
    return body


class GeminiStream:
    """Feed it ``GenerateContentResponse`` dicts; it yields events and decides the ending."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self.text_seen = False
        self._usage: Usage | None = None

    def feed(self, chunk: Mapping[str, Any]) -> Iterator[Event]:
        if isinstance(chunk.get("error"), dict):
            raise stream_error(chunk["error"])
        blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise blocked_error(str(blocked), prompt=True)
        candidates = chunk.get("candidates") or []
        cand = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        for part in (cand.get("content") or {}).get("parts") or ():
            text = part.get("text") if isinstance(part, dict) else None
            if not isinstance(text, str) or not text:
                continue
            if part.get("thought"):
                yield ReasoningDelta(text)
            else:
                self.text_seen = True
                yield TextDelta(text)
        if cand.get("finishReason"):
            self.finish = str(cand["finishReason"])
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict):
            usage = usage_from(meta)
            if usage != self._usage:  # cumulative: only say it again when it changed
                self._usage = usage
                yield usage

    def end(self) -> Iterator[Event]:
        """At the end of the body: a Finish if a finishReason came, else nothing (= cut)."""
        if self.finish is None:
            return
        if self.finish in BLOCK_REASONS:
            if not self.text_seen:
                raise blocked_error(self.finish, prompt=False)
            yield Finish("filtered", self.finish)
            return
        if self.finish == "FINISH_REASON_UNSPECIFIED":
            yield Finish("stop", self.finish)
            return
        yield normalise_finish(self.finish)


def usage_from(meta: Mapping[str, Any]) -> Usage:
    """Output counts include thinking, as OpenAI's and Anthropic's do."""
    thoughts = meta.get("thoughtsTokenCount")
    out = meta.get("candidatesTokenCount")
    if isinstance(thoughts, int):
        out = (out if isinstance(out, int) else 0) + thoughts
    return Usage(
        input_tokens=meta.get("promptTokenCount"),
        output_tokens=out,
        reasoning_tokens=thoughts,
        cached_tokens=meta.get("cachedContentTokenCount"),
    )


def blocked_error(reason: str, *, prompt: bool) -> errors.BlockedError:
    what = "the prompt" if prompt else "the answer"
    return errors.BlockedError(
        f"blocked: {reason} — Gemini's safety filter stopped {what}",
        "rephrase the prompt; the provider's safety settings decided this",
        code=reason,
    )


def stream_error(err: Mapping[str, Any]) -> errors.ProviderError:
    """An ``{"error": …}`` object inside a 200 stream."""
    code = err.get("code")
    status = code if isinstance(code, int) else None
    msg = clean_message(err.get("message") or err.get("status") or "unknown error")
    kind: type[errors.ProviderError] = errors.ProviderError
    if status == 429:
        kind = errors.RateLimitError
    elif status is not None and status >= 500:
        kind = errors.ServerError
    elif status is not None and status >= 400:
        kind = errors.BadRequestError
    return kind(
        f"Gemini reported an error mid-stream: {msg}",
        "the answer so far is kept; run the cell again",
        status=status,
        code=err.get("status"),
    )


def _delay(value: Any) -> float | None:
    """``"31s"`` / ``"1.5s"`` (protobuf Duration JSON) → seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def gemini_error(
    status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
) -> errors.ByokError:
    """Google's ``{"error": {code, message, status, details}}`` (maybe in a one-element
    array, maybe pretty-printed) as a clear error; a bad key is 400 ``API_KEY_INVALID``."""
    data = parse_json_body(body)
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    reasons, wait = set(), _retry_after(headers)
    for d in err.get("details") or ():
        if not isinstance(d, dict):
            continue
        if d.get("reason"):
            reasons.add(str(d["reason"]))
        if wait is None and str(d.get("@type", "")).endswith("RetryInfo"):
            wait = _delay(d.get("retryDelay"))
    code = next(iter(sorted(reasons)), "") or str(err.get("status") or "")
    return http_error(
        status,
        profile=profile,
        url=url,
        message=str(err.get("message") or ""),
        code=code,
        retry_after_s=wait,
        auth_rejected=bool(reasons & {"API_KEY_INVALID", "API_KEY_EXPIRED"}),
    )


class GeminiAdapter:
    """Native Gemini API with an API key (or a bearer token, for proxies that take one)."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        method = "streamGenerateContent" if request.stream else "generateContent"
        return WireRequest(
            "POST",
            f"{api_root(profile)}/models/{model_path(request.model)}:{method}",
            headers=dict(profile.headers),
            json=request_body(request),
            params={"alt": "sse"} if request.stream else {},
            framing="sse" if request.stream else "json",
            **auth_for(credential, "x-goog-api-key"),
        )

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        state = GeminiStream()
        body, events = split_reply(frames)
        if events is None:  # generateContent: one object (or a streamed JSON array)
            for chunk in body if isinstance(body, list) else [body]:
                if isinstance(chunk, dict):
                    yield from state.feed(chunk)
        else:
            for frame in events:
                chunk = loads(frame.data)
                if isinstance(chunk, dict):
                    yield from state.feed(chunk)
        yield from state.end()

    error = staticmethod(gemini_error)

    def models_request(
        self, profile: Profile, credential: Credential | None, page: str | None = None
    ) -> WireRequest:
        params = {"pageSize": "1000"}
        if page:
            params["pageToken"] = page
        return WireRequest(
            "GET",
            f"{api_root(profile)}/models",
            headers=dict(profile.headers),
            params=params,
            framing="json",
            **auth_for(credential, "x-goog-api-key"),
        )

    def next_models_request(
        self, body: bytes, profile: Profile, credential: Credential | None
    ) -> WireRequest | None:
        """The next page while the answer carries a ``nextPageToken``."""
        data = parse_json_body(body)
        token = data.get("nextPageToken") if isinstance(data, dict) else None
        return self.models_request(profile, credential, page=str(token)) if token else None

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]:
        data = parse_json_body(body)
        out = []
        for m in data.get("models", []) if isinstance(data, dict) else []:
            if not isinstance(m, dict) or not m.get("name"):
                continue
            if "generateContent" not in (m.get("supportedGenerationMethods") or ()):
                continue
            window = m.get("inputTokenLimit")
            thinking = m.get("thinking")
            out.append(
                ModelInfo(
                    id=str(m["name"]).removeprefix("models/"),
                    profile=profile.name,
                    name=m.get("displayName"),
                    reasoning=thinking if isinstance(thinking, bool) else None,
                    context_window=window if isinstance(window, int) else None,
                )
            )
        return out
