"""What every adapter is: a pure ``build`` half and a pure ``parse`` half.

Adapters never touch the network. ``build`` describes a request as a :class:`WireRequest`
whose secret stays wrapped; the transport reveals it only after pinning the origin.
``parse`` turns decoded frames (SSE events or NDJSON lines) into :mod:`byok_magic.events`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .. import errors

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential, Secret
    from ..events import ChatRequest, Event, ModelInfo
    from ..streaming import SSEEvent

Framing = Literal["sse", "ndjson", "json"]


@dataclass(frozen=True)
class WireRequest:
    """An HTTP request as an adapter describes it; the transport sends it.

    The secret is not in ``headers``: it travels as ``auth_header``/``auth_prefix``/``secret``
    and is set by the transport after it checked the URL's origin. ``form`` is a
    form-encoded body instead of ``json`` (an OAuth token refresh); its
    :class:`~byok_magic.credentials.Secret` values are revealed by the transport too.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    auth_header: str | None = None
    auth_prefix: str = ""
    secret: Secret | None = field(default=None, repr=False)
    framing: Framing = "sse"
    params: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str | Secret] | None = field(default=None, repr=False)


class Adapter(Protocol):
    """A provider family's wire format.

    ``parse`` gets SSE events for ``framing="sse"`` and text lines otherwise (an NDJSON stream,
    or a whole JSON body cut at its line breaks: join them before parsing). An adapter whose
    model list comes in pages may also define ``next_models_request(body, profile,
    credential) -> WireRequest | None``; :func:`byok_magic.models.fetch` follows it.
    """

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest: ...

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        """Frames → events. Yields one :class:`Finish` at the provider's terminal marker;
        ending without one means the stream was cut. Raises :class:`ByokError` for in-band
        errors."""
        ...

    def error(
        self, status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
    ) -> errors.ByokError:
        """Turn a non-2xx answer into a clear error."""
        ...

    def models_request(self, profile: Profile, credential: Credential | None) -> WireRequest: ...

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]: ...


def auth_for(
    credential: Credential | None, key_header: str, key_prefix: str = ""
) -> dict[str, Any]:
    """WireRequest auth fields: bearer tokens go in ``Authorization``; keys in ``key_header``."""
    if credential is None:
        return {}
    if credential.kind == "bearer":
        return {
            "auth_header": "Authorization",
            "auth_prefix": "Bearer ",
            "secret": credential.secret,
        }
    return {"auth_header": key_header, "auth_prefix": key_prefix, "secret": credential.secret}


def loads(data: str) -> Any:
    """Parse one JSON frame; a broken frame is a protocol error, not a crash."""
    try:
        return json.loads(data)
    except ValueError:
        pass
    # raised outside the except block: errors byok builds carry no __context__
    raise errors.ProtocolError(
        "the provider sent a malformed stream frame (not JSON)",
        "try again; if it keeps happening, the server or a proxy is mangling the stream",
    )


def split_reply(frames: Iterable[SSEEvent | str]) -> tuple[Any, Iterator[SSEEvent] | None]:
    """``(body, None)`` for a non-streamed reply (the transport hands its JSON over as text
    lines), ``(None, events)`` for an SSE stream (possibly empty)."""
    from itertools import chain

    it = iter(frames)
    first = next(it, None)
    if isinstance(first, str):
        return loads("\n".join(chain([first], it))), None  # type: ignore[arg-type]
    return None, (chain([first], it) if first is not None else iter(()))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# HTTP error mapping shared by every provider family

_MAX_MESSAGE = 300
_CONTEXT_RE = re.compile(
    r"context[_ ]length|maximum context|prompt is too long|too many tokens|"
    r"exceeds the maximum number of tokens|context window",
    re.I,
)


def clean_message(message: Any) -> str:
    """A provider message made safe to show: one line, bounded, no key-shaped strings."""
    from ..redact import redact

    text = " ".join(str(message or "").split())
    text = redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def parse_json_body(body: bytes) -> Any:
    """JSON error bodies, including Gemini's one-element arrays; None when not JSON."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    return data


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return float(ra)
    except ValueError:
        pass
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def http_error(
    status: int,
    *,
    profile: Profile,
    url: str,
    message: str = "",
    code: str = "",
    retry_after_s: float | None = None,
    auth_rejected: bool = False,
) -> errors.ByokError:
    """The one place where an HTTP failure becomes a user-facing error with a fix."""
    from ..config import host_of

    host = host_of(url)
    name = profile.name
    msg = clean_message(message)
    detail = f": {msg}" if msg else ""
    info: dict[str, Any] = {"status": status, "code": code, "retry_after": retry_after_s}
    keys_fix = f"check or replace it with `%byok keys set {name}`"
    who = profile.description.split(" (")[0] or "the server"
    if status in (401,) or auth_rejected:
        return errors.AuthError(
            f"{status} from {host}: {who} rejected the API key for profile {name!r}{detail}",
            keys_fix,
            **info,
        )
    if status == 403:
        return errors.PermissionDenied(
            f"403 from {host}: the key for profile {name!r} is not allowed to do this{detail}",
            "check the key's permissions, project or region on the provider's console",
            **info,
        )
    if status == 404:
        return errors.ModelNotFoundError(
            f"404 from {host}: model or path not found{detail}",
            f"check the model name (`%byok models {name}`) and the profile's base URL",
            **info,
        )
    if status == 429:
        wait = f" (retry after {retry_after_s:.0f} s)" if retry_after_s else ""
        return errors.RateLimitError(
            f"429 from {host}: rate limited or out of quota{wait}{detail}",
            "wait a moment and run the cell again, or check your plan's limits",
            **info,
        )
    if status >= 500:
        return errors.ServerError(
            f"{status} from {host}: the provider had a server error{detail}",
            "this is on the provider's side; run the cell again in a moment",
            **info,
        )
    if status in (400, 413, 422) and (code == "context_length_exceeded" or _CONTEXT_RE.search(msg)):
        return errors.ContextLengthError(
            f"{status} from {host}: the prompt is too long for this model{detail}",
            "shorten the prompt, start a new thread (`--new`), or use a model with a larger "
            "context window",
            **info,
        )
    if status in (408, 409):
        return errors.ServerError(
            f"{status} from {host}: the request timed out or conflicted{detail}",
            "run the cell again",
            **info,
        )
    return errors.BadRequestError(
        f"{status} from {host}: the provider refused the request{detail}",
        "check the model name and the parameters given to this cell",
        **info,
    )
