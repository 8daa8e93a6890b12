"""The router: target → profile + credential + adapter → a stream of events.

Every face (magics, panel, CLI, Python API) calls this. It knows nothing of IPython.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import errors
from .answer import Answer
from .events import (
    ChatRequest,
    Event,
    Message,
    ModelInfo,
)

if TYPE_CHECKING:
    from .config import Config, Profile
    from .credentials import KeyStore
    from .transport import Transport


Listener = Callable[[Answer], None]
ModelLister = Callable[[], list[Any]]


class Router:
    """Resolves targets and streams answers. One per process is usual (:func:`router`)."""

    def __init__(
        self,
        config: Config | None = None,
        store: KeyStore | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._transport = transport
        self.listeners: list[Listener] = []
        self.model_listers: dict[str, ModelLister] = {}
        self._lock = threading.Lock()

    # -- collaborators, created lazily so importing byok stays cheap ---------------------------

    @property
    def config(self) -> Config:
        if self._config is None:
            from .config import Config

            self._config = Config()
        return self._config

    @property
    def store(self) -> KeyStore:
        if self._store is None:
            from .credentials import keystore

            self._store = keystore()
        return self._store

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            from .transport import transport

            self._transport = transport()
        return self._transport

    # -- requests ------------------------------------------------------------------------------

    def request(
        self,
        prompt: str,
        target: str | None = None,
        *,
        history: tuple[Message, ...] = (),
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: str | None = None,
    ) -> tuple[Profile, ChatRequest]:
        """Resolve ``target`` and build the provider-neutral request."""
        if not prompt or not prompt.strip():
            raise errors.ConfigError(
                "the prompt is empty: nothing was sent", "write the question in the cell"
            )
        profile, model = self.config.resolve(target)
        req = ChatRequest(
            model=model,
            messages=(*history, Message("user", prompt)),
            system=system,
            temperature=temperature,
            max_tokens=max_tokens,
            reasoning_effort=reasoning_effort,
        )
        return profile, req

    def stream(
        self, profile: Profile, request: ChatRequest, answer: Answer | None = None
    ) -> Iterator[Event]:
        """Events of one answer. Ends with a :class:`Finish`, or raises a ByokError."""
        from .config import check_profile
        from .credentials import require
        from .providers import adapter_for

        answer = answer or Answer(target=f"{profile.name}:{request.model}")
        answer.profile, answer.provider, answer.model = profile.name, profile.type, request.model
        if answer.prompt is None and request.messages:
            answer.prompt = request.messages[-1].content
        try:
            check_profile(profile)
            profile = self._discover(profile)
            adapter = adapter_for(profile)
            credential = require(profile, self.store, self.transport)
            if credential is not None:
                answer.key_fingerprint = fingerprint(credential.secret.reveal())
            retried = renewed = renew_now = False
            while True:
                if renew_now and credential is not None and credential.renew is not None:
                    # Outside the except block, so a refused refresh has no __context__.
                    renew_now = False
                    credential = credential.renew()
                wire = adapter.build(request, profile, credential)
                current = profile

                def on_error(
                    status: int, headers: Any, body: bytes, p: Profile = current, u: str = wire.url
                ) -> Any:
                    return adapter.error(status, headers, body, p, u)

                frames = self.transport.frames(wire, profile, on_error, answer._opened)
                try:
                    first = True
                    for event in adapter.parse(frames):
                        first = False
                        answer.add(event)
                        yield event
                    if answer._stream is not None:
                        answer._stream.reusable = True  # ended cleanly: keep the connection
                    break
                except errors.AuthError:
                    # A renewable credential (an OAuth access token) rejected before any answer
                    # byte: renew it once and send again.
                    if not first or renewed or credential is None or credential.renew is None:
                        raise
                    renewed = renew_now = True
                except errors.BadRequestError as err:
                    if not first:
                        raise
                    if not retried and _rejects_stream_options(err, wire.json):
                        retried = True
                        profile = replace(
                            profile, quirks={**profile.quirks, "stream_options": False}
                        )
                        continue
                    dropped = _rejected_param(err, request)
                    if dropped is None:
                        raise
                    unset: dict[str, Any] = {dropped: None}
                    request = replace(request, **unset)
                    answer.notes.append(
                        f"{dropped.replace('_', ' ')} was dropped: {profile.name} did not accept "
                        f"it for {request.model}"
                    )
                    continue
                finally:
                    close = getattr(frames, "close", None)
                    if close is not None:
                        close()
            if answer.finish is None:
                raise errors.StreamInterrupted(
                    f"stream interrupted: {profile.name} closed the stream before the answer "
                    "was complete",
                    "the answer so far is kept; run the cell again",
                )
        except errors.ByokError as err:
            answer.error = err
            if isinstance(err, errors.AuthError):
                self.store.forget_cache()  # a key replaced elsewhere is read afresh next time
            raise
        except KeyboardInterrupt:
            answer.error = errors.StreamInterrupted(
                "stopped", "the answer so far is kept", stopped=True
            )
            raise
        finally:
            answer.ended = time.monotonic()
            answer._stream = None  # the response (and its request headers) must not outlive it
            self._notify(answer)

    def _notify(self, answer: Answer) -> None:
        for listener in list(self.listeners):
            try:
                listener(answer)
            except Exception:  # a listener (usage log, history) must never break a request
                import logging

                logging.getLogger("byok_magic").warning(
                    "a listener failed after a request", exc_info=False
                )

    def _discover(self, profile: Profile) -> Profile:
        """Hook for profiles whose base URL is found at run time (Foundry Local, OLLAMA_HOST)."""
        if not profile.quirks.get("discover"):
            return profile
        from .discovery import discover

        return discover(profile)

    def ask(self, prompt: str, target: str | None = None, **params: Any) -> str:
        """The whole answer text (blocking)."""
        profile, req = self.request(prompt, target, **params)
        answer = Answer(target=f"{profile.name}:{req.model}")
        for _ in self.stream(profile, req, answer):
            pass
        return answer.text

    # -- models --------------------------------------------------------------------------------

    def context_window(self, profile: Profile, model: str) -> int | None:
        """The model's context window in tokens when known (profile file, lister, hints)."""
        for m in profile.models:
            if m.id == model and m.context_window:
                return m.context_window
        from .models import cached, hints

        for m in cached(profile) or ():
            if m.id == model and m.context_window:
                return m.context_window
        window = hints(model).get("context_window")
        return window if isinstance(window, int) else None

    def list_models(self, profile_name: str, refresh: bool = False) -> list[ModelInfo]:
        """Models a profile offers: a registered lister, the profile file, or live discovery."""
        from .credentials import lookup, require
        from .providers import adapter_for

        profile = self.config.get(profile_name)
        lister = self.model_listers.get(profile.name)
        if lister is not None:
            return [_as_model(m, profile.name) for m in lister()]
        if profile.models:
            return [replace(m, profile=profile.name) for m in profile.models]
        from .models import discover

        profile = self._discover(profile)
        adapter = adapter_for(profile)
        credential = lookup(profile, self.store, self.transport)
        try:  # some servers list their models without a key, so ask even without one
            return discover(adapter, profile, credential, self.transport, refresh=refresh)
        except errors.AuthError:
            if credential is not None or not profile.needs_secret:
                raise
        # This one wants a key and none was sent: say how to add one, not "key rejected".
        credential = require(profile, self.store, self.transport)
        return discover(adapter, profile, credential, self.transport, refresh=refresh)


def _as_model(m: Any, profile: str) -> ModelInfo:
    if isinstance(m, ModelInfo):
        return replace(m, profile=profile)
    if isinstance(m, str):
        return ModelInfo(id=m, profile=profile)
    if isinstance(m, dict) and "id" in m:
        known = {k: m[k] for k in ("name", "vision", "reasoning", "context_window") if k in m}
        return ModelInfo(id=str(m["id"]), profile=profile, **known)
    raise errors.ConfigError(
        f"the model lister for {profile!r} returned {type(m).__name__}",
        "return model ids (str), dicts with an 'id', or ModelInfo objects",
    )


# Request fields and the names providers use for them in their error messages.
_PARAM_NAMES = {
    "temperature": ("temperature",),
    "reasoning_effort": ("reasoning_effort", "reasoning.effort", "effort", "thinking", "think"),
    "max_tokens": (
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "maxOutputTokens",
        "num_predict",
    ),
}


def _rejected_param(err: errors.ByokError, request: ChatRequest) -> str | None:
    """The optional parameter a 400 complains about, if this request set it."""
    if isinstance(err, errors.ContextLengthError):
        return None
    import re

    text = err.cause
    for field_name, names in _PARAM_NAMES.items():
        if getattr(request, field_name) is None:
            continue
        if any(re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", text) for n in names):
            return field_name
    return None


def _rejects_stream_options(err: errors.ByokError, body: Any) -> bool:
    return isinstance(body, dict) and "stream_options" in body and "stream_options" in str(err)


def fingerprint(secret: str) -> str:
    """A short, one-way tag that tells keys apart without revealing them."""
    import hashlib

    return hashlib.sha256(("byok:" + secret).encode()).hexdigest()[:10]


_router: Router | None = None


def router() -> Router:
    """The process-wide router."""
    global _router
    if _router is None:
        from .usage import attach

        _router = Router()
        attach(_router)  # every request lands in usage.sqlite (off-thread, never fatal)
    return _router
