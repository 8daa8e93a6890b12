"""OpenAI Chat Completions: OpenAI, Azure, vLLM, LiteLLM, Foundry Local, Ark and every
OpenAI-compatible server. Vendors differ only by data (``Profile.quirks``), never by class."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..events import Event, Finish, ModelInfo, ReasoningDelta, TextDelta, Usage, normalise_finish
from .base import WireRequest, auth_for, clean_message, http_error, loads, parse_json_body
from .base import retry_after as _retry_after

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest
    from ..streaming import SSEEvent

_REASONING_FIELDS = ("reasoning_content", "reasoning")


def endpoint(profile: Profile, operation: str, model: str | None = None) -> tuple[str, dict]:
    """The request URL and query parameters for ``operation`` on this profile."""
    from ..config import openai_url

    base = profile.base_url
    if not base:
        raise errors.ConfigError(
            f"profile {profile.name!r} has no base URL",
            f"set one with `%byok add {profile.name} --base-url URL`",
        )
    if profile.type == "azure":
        root = base.strip().rstrip("/")
        for tail in ("/openai/v1", "/openai"):
            if root.endswith(tail):
                root = root[: -len(tail)]
        if profile.api_version:
            params = {"api-version": profile.api_version}
            if operation == "models":
                return f"{root}/openai/models", params
            return f"{root}/openai/deployments/{model}/{operation}", params
        return f"{root}/openai/v1/{operation}", {}
    return openai_url(base, operation), {}


def credential_auth(profile: Profile, credential: Credential | None) -> dict[str, Any]:
    """Azure keys travel in ``api-key``; everything else (and every bearer token) as Bearer."""
    if profile.type == "azure":
        return auth_for(credential, "api-key")
    return auth_for(credential, "Authorization", "Bearer ")


def messages_for(request: ChatRequest) -> list[dict[str, str]]:
    out = [{"role": "system", "content": request.system}] if request.system else []
    out += [{"role": m.role, "content": m.content} for m in request.messages]
    return out


class OpenAIChatAdapter:
    """Chat Completions wire format (SSE, ``data:`` only, ``[DONE]`` terminated)."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        quirks = profile.quirks
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages_for(request),
            "stream": request.stream,
        }
        if request.stream and quirks.get("stream_options", True):
            body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            body[quirks.get("max_tokens_field", "max_tokens")] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.reasoning_effort:
            body["reasoning_effort"] = request.reasoning_effort
        url, params = endpoint(profile, "chat/completions", request.model)
        return WireRequest(
            "POST",
            url,
            headers=dict(profile.headers),
            json=body,
            params=params,
            framing="sse" if request.stream else "json",
            **credential_auth(profile, credential),
        )

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        finish: str | None = None
        for frame in frames:
            data = frame.data if not isinstance(frame, str) else frame
            if data.startswith("[DONE]"):
                yield normalise_finish(finish) if finish else Finish("stop", None)
                return
            if not data.strip():
                continue
            chunk = loads(data)
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                raise stream_error(chunk["error"])
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or choice.get("message") or {}
                for name in _REASONING_FIELDS:
                    piece = delta.get(name)
                    if isinstance(piece, str) and piece:
                        yield ReasoningDelta(piece)
                        break
                text = delta.get("content")
                if isinstance(text, str) and text:
                    yield TextDelta(text)
                refusal = delta.get("refusal")
                if isinstance(refusal, str) and refusal:
                    yield TextDelta(refusal)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                yield usage_from(usage)
        if finish:
            yield normalise_finish(finish)

    def error(
        self, status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
    ) -> errors.ByokError:
        data = parse_json_body(body)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, str):
            err = {"message": err}
        if not isinstance(err, dict):
            err = {"message": data.get("message", "")} if isinstance(data, dict) else {}
        code = str(err.get("code") or err.get("type") or "")
        if profile.type == "azure" and code == "DeploymentNotFound":
            return errors.ModelNotFoundError(
                f"{status} from Azure: deployment not found for profile {profile.name!r}: "
                f"{clean_message(err.get('message'))}",
                "Azure wants the deployment name as the model; check it in the Azure portal",
                status=status,
                code=code,
            )
        return http_error(
            status,
            profile=profile,
            url=url,
            message=str(err.get("message") or ""),
            code=code,
            retry_after_s=_retry_after(headers),
            auth_rejected=code in ("invalid_api_key", "authentication_error"),
        )

    def models_request(self, profile: Profile, credential: Credential | None) -> WireRequest:
        url, params = endpoint(profile, "models")
        return WireRequest(
            "GET",
            url,
            headers=dict(profile.headers),
            params=params,
            framing="json",
            **credential_auth(profile, credential),
        )

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]:
        data = parse_json_body(body)
        items = data.get("data", []) if isinstance(data, dict) else []
        out = []
        for m in items:
            if not isinstance(m, dict) or not m.get("id"):
                continue
            window = m.get("context_window") or m.get("context_length") or m.get("max_model_len")
            out.append(
                ModelInfo(
                    id=str(m["id"]),
                    profile=profile.name,
                    name=m.get("name") or m.get("display_name"),
                    context_window=window if isinstance(window, int) else None,
                )
            )
        return sorted(out, key=lambda mi: mi.id)


def usage_from(u: Mapping[str, Any]) -> Usage:
    pd = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    cd = u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    return Usage(
        input_tokens=u.get("prompt_tokens", u.get("input_tokens")),
        output_tokens=u.get("completion_tokens", u.get("output_tokens")),
        reasoning_tokens=cd.get("reasoning_tokens") if isinstance(cd, dict) else None,
        cached_tokens=pd.get("cached_tokens") if isinstance(pd, dict) else None,
    )


def stream_error(err: Any) -> errors.ByokError:
    """An ``{"error": …}`` object inside a 200 stream."""
    if not isinstance(err, dict):
        err = {"message": str(err)}
    msg = clean_message(err.get("message") or err.get("type") or "unknown error")
    code = err.get("code")
    kind: type[errors.ProviderError] = errors.ProviderError
    text = f"{err.get('type', '')} {code or ''} {msg}".lower()
    if code in (429, "429") or "rate" in text:
        kind = errors.RateLimitError
    elif code in (500, 502, 503, "500", "502", "503") or "overloaded" in text or "server" in text:
        kind = errors.ServerError
    return kind(
        f"the provider reported an error mid-stream: {msg}",
        "the answer so far is kept; run the cell again",
        code=code,
    )
