"""What every adapter is: a pure ``build`` half and a pure ``parse`` half.

Adapters never touch the network. ``build`` describes a request as a :class:`WireRequest`
whose secret stays wrapped; the transport reveals it only after pinning the origin.
``parse`` turns decoded frames (SSE events or NDJSON lines) into :mod:`byok_magic.events`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential, Secret
    from ..errors import ByokError
    from ..events import ChatRequest, Event, ModelInfo
    from ..streaming import SSEEvent

Framing = Literal["sse", "ndjson", "json"]


@dataclass(frozen=True)
class WireRequest:
    """An HTTP request as an adapter describes it; the transport sends it.

    The secret is not in ``headers``: it travels as ``auth_header``/``auth_prefix``/``secret``
    and is set by the transport after it checked the URL's origin.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    auth_header: str | None = None
    auth_prefix: str = ""
    secret: Secret | None = field(default=None, repr=False)
    framing: Framing = "sse"


class Adapter(Protocol):
    """A provider family's wire format."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest: ...

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]: ...

    def error(self, status: int, headers: Mapping[str, str], body: bytes, profile: Profile) -> ByokError:
        """Turn a non-2xx answer into a clear error."""
        ...

    def models_request(self, profile: Profile, credential: Credential | None) -> WireRequest: ...

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]: ...
