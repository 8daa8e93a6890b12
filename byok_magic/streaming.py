"""Incremental stream decoders: bytes in, frames out. No httpx, no providers.

:class:`SSEDecoder` follows the WHATWG event-stream rules (line breaks ``\\r\\n``, ``\\n`` or a
lone ``\\r``; comments; multi-line ``data``; one optional space after the colon; a BOM at the
start). Any split of the same bytes gives the same events, because lines are only decoded once
they are complete. :class:`NDJSONDecoder` yields one text line per JSON object.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ProtocolError


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event."""

    data: str
    event: str = "message"
    id: str | None = None


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(
            "the stream contained bytes that are not valid UTF-8",
            "this usually means a proxy or server corrupted the reply; try again",
        ) from None


class _LineSplitter:
    """Splits bytes into complete lines on CRLF, LF or lone CR, across chunk borders."""

    __slots__ = ("_buf", "_cr_pending")

    def __init__(self) -> None:
        self._buf = b""
        self._cr_pending = False  # the last chunk ended in \r: a following \n belongs to it

    def feed(self, chunk: bytes) -> list[bytes]:
        if not chunk:
            return []
        if self._cr_pending and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._cr_pending = False
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            self._cr_pending = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        return lines

    def close(self) -> list[bytes]:
        rest, self._buf = self._buf, b""
        return [rest] if rest else []


class SSEDecoder:
    """Feed bytes, get :class:`SSEEvent` objects; call :meth:`close` at end of body."""

    __slots__ = ("_data", "_event", "_id", "_lines", "_started")

    def __init__(self) -> None:
        self._lines = _LineSplitter()
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not self._started and chunk:
            self._started = True
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        out: list[SSEEvent] = []
        for raw in self._lines.feed(chunk):
            self._line(raw, out)
        return out

    def close(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        for raw in self._lines.close():
            self._line(raw, out)
        # A final event without its blank line is still dispatched (edge case 1: flush at EOF).
        self._line(b"", out)
        return out

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        if not raw:
            if self._data:
                out.append(SSEEvent("\n".join(self._data), self._event or "message", self._id))
            self._data = []
            self._event = ""
            return
        if raw[:1] == b":":
            return
        line = _decode(raw)
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value


class NDJSONDecoder:
    """Feed bytes, get complete non-blank text lines (one JSON document each)."""

    __slots__ = ("_lines", "_started")

    def __init__(self) -> None:
        self._lines = _LineSplitter()
        self._started = False

    def feed(self, chunk: bytes) -> list[str]:
        if not self._started and chunk:
            self._started = True
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        return [_decode(x) for x in self._lines.feed(chunk) if x.strip()]

    def close(self) -> list[str]:
        return [_decode(x) for x in self._lines.close() if x.strip()]
