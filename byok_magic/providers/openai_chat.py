"""OpenAI Chat Completions: OpenAI, Azure, vLLM, LiteLLM, Foundry Local, Ark and every
OpenAI-compatible server. Vendors differ only by data (``Profile.quirks``), never by class.

Quirks read here (all optional):

``max_tokens_field``   ``max_tokens`` or ``max_completion_tokens`` (OpenAI; the azure type's
                       default unless its api-version predates it)
``stream_options``     False: never send ``stream_options`` (the router also turns it off after a
                       400 that mentions it)
``reasoning_param``    how ``--reasoning-effort`` travels: ``reasoning_effort`` (default),
                       ``reasoning`` (OpenRouter's ``{"effort": …}``), ``thinking`` (Ark's
                       ``{"type": "enabled"}``), ``enable_thinking`` (DashScope), or False (drop)

Reasoning text is read from ``reasoning_content`` and ``reasoning`` (whichever a server uses),
from Mistral's ``thinking`` content parts, and from a ``<think>…</think>`` block that opens the
content (models served without a reasoning parser).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..events import Event, Finish, ModelInfo, normalise_finish
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
from .chat_chunks import ChunkState, error_fields, stream_error

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest
    from ..streaming import SSEEvent

# Azure puts these under /openai/deployments/{deployment}/ on its dated route (openai lib/azure.py)
_DEPLOYMENT_OPS = ("chat/completions", "completions", "embeddings")
# api-versions before this reject max_completion_tokens and stream_options
_AZURE_MODERN = "2024-09-01"


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
            if operation in _DEPLOYMENT_OPS:
                return f"{root}/openai/deployments/{model}/{operation}", params
            return f"{root}/openai/{operation}", params
        return f"{root}/openai/v1/{operation}", {}
    return openai_url(base, operation), {}


def credential_auth(profile: Profile, credential: Credential | None) -> dict[str, Any]:
    """Azure keys travel in ``api-key``; everything else (and every bearer token) as Bearer."""
    if profile.type == "azure":
        return auth_for(credential, "api-key")
    return auth_for(credential, "Authorization", "Bearer ")


def post(
    profile: Profile,
    credential: Credential | None,
    operation: str,
    request: ChatRequest,
    body: dict[str, Any],
) -> WireRequest:
    """A request to an OpenAI-family operation: its URL and query (Azure routes included),
    the profile's headers and the credential in the header this profile's type wants."""
    url, params = endpoint(profile, operation, request.model)
    return WireRequest(
        "POST",
        url,
        headers=dict(profile.headers),
        json=body,
        params=params,
        framing="sse" if request.stream else "json",
        **credential_auth(profile, credential),
    )


def messages_for(request: ChatRequest) -> list[dict[str, str]]:
    """The system prompt as a first ``system`` message, then the turns as they are."""
    out = [{"role": "system", "content": request.system}] if request.system else []
    out += [{"role": m.role, "content": m.content} for m in request.messages]
    return out


def _old_azure(profile: Profile) -> bool:
    return (
        profile.type == "azure"
        and bool(profile.api_version)
        and (str(profile.api_version) < _AZURE_MODERN)
    )


def reasoning_fields(effort: str, how: Any) -> dict[str, Any]:
    """Body fields that carry a reasoning effort in the vendor's own dialect."""
    off = effort in ("none", "off")
    if how == "reasoning":
        return {"reasoning": {"effort": effort}}
    if how == "thinking":
        return {"thinking": {"type": "disabled" if off else "enabled"}}
    if how == "enable_thinking":
        return {"enable_thinking": not off}
    if how in (False, None, "none"):
        return {}
    return {"reasoning_effort": effort}


class OpenAIChatAdapter:
    """Chat Completions wire format (SSE, ``data:`` only, ``[DONE]`` terminated)."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        quirks = profile.quirks
        old_azure = _old_azure(profile)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages_for(request),
            "stream": request.stream,
        }
        if request.stream and quirks.get("stream_options", True) and not old_azure:
            body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            default = "max_completion_tokens" if profile.type == "azure" else "max_tokens"
            field = "max_tokens" if old_azure else quirks.get("max_tokens_field", default)
            body[field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.reasoning_effort:
            how = quirks.get("reasoning_param", "reasoning_effort")
            body.update(reasoning_fields(request.reasoning_effort, how))
        return post(profile, credential, "chat/completions", request, body)

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        body, events = split_reply(frames)
        if events is None:  # a whole JSON body (stream: false)
            state = ChunkState()
            if isinstance(body, dict):
                yield from state.chunk(body)
                yield from state.flush()
            yield normalise_finish(state.finish) if state.finish else Finish("stop", None)
            return
        yield from self._stream(events)

    def _stream(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        state = ChunkState()
        for frame in frames:
            data = frame.data if not isinstance(frame, str) else frame
            if data.startswith("[DONE]"):
                yield from state.flush()
                yield normalise_finish(state.finish) if state.finish else Finish("stop", None)
                return
            if not data or data.isspace():
                continue
            chunk = loads(data)
            if not isinstance(chunk, dict):
                continue
            if not isinstance(frame, str) and frame.event == "error" and not chunk.get("error"):
                raise stream_error(chunk)  # Groq-style `event: error`
            yield from state.chunk(chunk)
        yield from state.flush()
        if state.finish:
            yield normalise_finish(state.finish)

    def error(
        self, status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
    ) -> errors.ByokError:
        message, code = error_fields(parse_json_body(body))
        info = {"status": status, "code": code}
        host = url.split("://", 1)[-1].split("/", 1)[0]
        if profile.type == "azure" and code == "DeploymentNotFound":
            return errors.ModelNotFoundError(
                f"{status} from Azure: deployment not found for profile {profile.name!r}: "
                f"{clean_message(message)}",
                "Azure wants the deployment name as the model; check it in the Azure portal",
                **info,
            )
        if code == "model_not_found" and status < 500:
            return errors.ModelNotFoundError(
                f"{status} from {host}: model not found: {clean_message(message)}",
                f"check the model name (`%byok models {profile.name}`)",
                **info,
            )
        if code in ("content_filter", "content_policy_violation") and status == 400:
            return errors.BlockedError(
                f"blocked: {code} — {host} refused the prompt: {clean_message(message)}",
                "rephrase the prompt; the provider's content filter stopped it",
                **info,
            )
        return http_error(
            status,
            profile=profile,
            url=url,
            message=message,
            code=code,
            retry_after_s=_retry_after(headers),
            # LiteLLM without a database answers any key but its master key this way
            auth_rejected=code in ("invalid_api_key", "authentication_error", "no_db_connection"),
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
            window = (
                m.get("context_window")  # Groq
                or m.get("context_length")  # OpenRouter
                or m.get("max_model_len")  # vLLM
                or m.get("max_input_tokens")  # LiteLLM
            )
            out.append(
                ModelInfo(
                    id=str(m["id"]),
                    profile=profile.name,
                    name=m.get("name") or m.get("display_name"),
                    context_window=window if isinstance(window, int) else None,
                )
            )
        return sorted(out, key=lambda mi: mi.id)
