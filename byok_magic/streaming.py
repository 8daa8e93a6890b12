"""Incremental stream decoders: bytes in, frames out. No httpx, no providers.

:class:`SSEDecoder` follows the WHATWG event-stream rules (line breaks ``\\r\\n``, ``\\n`` or a
lone ``\\r``; comments; multi-line ``data``; one optional space after the colon; a BOM at the
start) plus docs/providers.md §10: an event whose data is empty is skipped, and a final event
without its blank line is still dispatched by :meth:`SSEDecoder.close`.
:class:`NDJSONDecoder` yields one text line per JSON object.

Any split of the same bytes gives the same frames: bytes are buffered until a whole event (SSE)
or a whole line (NDJSON) is there, and only then decoded, so a UTF-8 character or a ``\\r\\n``
cut in two by the network is never seen in halves.

How it is fast (on a 10k-chunk OpenAI stream in 1-16 KB reads it needs 1.15-1.3x the time of
a five-line ``split(b"\\n\\n")`` parser that builds no event objects): line breaks are normalised
to ``\\n`` per chunk, only when the chunk holds a ``\\r``; the decoder looks for the *last* blank
line in the new bytes, decodes everything before it in one call, and when those events are all of
the usual shapes (one ``data:`` line, or ``event:`` + one ``data:`` line) takes them apart with
one ``str.split``, never looking at single lines. Only new bytes are ever searched, so a huge
event arriving in small reads costs linear, not quadratic, time.

After a :class:`~byok_magic.errors.ProtocolError` a decoder's state is undefined: stop reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ProtocolError

_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = " \t\r\x0b\x0c"  # what bytes.strip() would strip, minus the \n we split on


@dataclass(frozen=True, slots=True, init=False)
class SSEEvent:
    """One dispatched server-sent event."""

    data: str
    event: str = "message"
    id: str | None = None

    def __init__(self, data: str, event: str = "message", id: str | None = None) -> None:
        # Same signature as the generated __init__; the slot setters skip the frozen
        # __setattr__ detour and make an event ~35 % cheaper to build (one per stream chunk).
        _set_data(self, data)
        _set_event(self, event)
        _set_id(self, id)


_set_data = SSEEvent.__dict__["data"].__set__
_set_event = SSEEvent.__dict__["event"].__set__
_set_id = SSEEvent.__dict__["id"].__set__


def _invalid_utf8() -> ProtocolError:
    return ProtocolError(
        "the stream contained bytes that are not valid UTF-8",
        "this usually means a proxy or server corrupted the reply; try again",
    )


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    raise _invalid_utf8()  # outside the except block: errors byok builds have no __context__


def _sse_text(raw: bytes) -> str:
    """Decode complete SSE lines; comment lines need not be UTF-8 (they are never read)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Broken input only, and outside the except block (no __context__): line by line, a comment
    # line with foreign bytes becomes ":" (still a comment) and any other bad line raises.
    return "\n".join(":" if line[:1] == b":" else _decode(line) for line in raw.split(b"\n"))


def _lf(raw: bytes) -> bytes:
    """``raw`` with every ``\\r\\n`` and lone ``\\r`` turned into ``\\n``.

    ``bytes.splitlines`` breaks at exactly these three (unlike ``str.splitlines``) in one pass,
    about 3x faster than ``replace(b"\\r\\n", b"\\n")``.
    """
    lines = raw.splitlines()
    if raw[-1:] in (b"\n", b"\r"):
        lines.append(b"")
    return b"\n".join(lines)


class _Bytes:
    """Shared byte handling: BOM at the very start, pending bytes kept as a list of parts."""

    __slots__ = ("_head", "_parts", "_started")

    def __init__(self) -> None:
        self._head = b""  # the first bytes, held back while they could still be a split BOM
        self._parts: list[bytes] = []  # bytes of the incomplete frame, not yet decoded
        self._started = False

    def _skip_bom(self, chunk: bytes) -> bytes:
        head = self._head + chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return b""
        self._started = True
        self._head = b""
        return head[3:] if head.startswith(_BOM) else head


class SSEDecoder(_Bytes):
    """Feed bytes, get :class:`SSEEvent` objects; call :meth:`close` at end of body."""

    __slots__ = ("_cr", "_id", "_nl")

    def __init__(self) -> None:
        super().__init__()
        self._cr = False  # the last chunk ended in \r: a \n starting the next one belongs to it
        self._nl = True  # the pending bytes are empty or end in a line break
        self._id: str | None = None  # the last event ID (WHATWG: kept across events)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not self._started:
            chunk = self._skip_bom(chunk)
        if not chunk:
            return []
        if self._cr:
            self._cr = False
            if chunk[0] == 10:  # b"\n"
                chunk = chunk[1:]
                if not chunk:
                    return []
        if 13 in chunk:  # b"\r"; an int test is a plain memchr, a bytes test is not
            self._cr = chunk[-1] == 13
            chunk = _lf(chunk)
        # Everything up to the last blank line in the new bytes is complete events.
        end = chunk.rfind(b"\n\n") + 2
        if end == 1:  # no blank line inside the chunk: maybe one across the border
            if not (self._nl and chunk[0] == 10):
                self._parts.append(chunk)
                self._nl = chunk[-1] == 10
                return []
            end = 1
        if end == len(chunk):
            rest = b""
        else:
            rest = chunk[end:]
            chunk = chunk[:end]
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            self._parts = []
        if rest:
            self._parts.append(rest)
            self._nl = rest[-1] == 10
        else:
            self._nl = True
        return self._events(_sse_text(chunk))

    def close(self) -> list[SSEEvent]:
        """End of body: dispatch a final event that lacks its blank line (providers.md §10.1)."""
        tail = b""
        if not self._started and self._head:
            tail, self._head = self._head, b""
        self._started = True
        tail += b"".join(self._parts)
        self._parts = []
        self._cr = False
        self._nl = True
        if not tail:
            return []
        if 13 in tail:
            tail = _lf(tail)
        return self._events(_sse_text(tail + b"\n\n"))

    def _events(self, text: str) -> list[SSEEvent]:
        """Events from complete blocks: ``text`` ends with a blank line (``"\\n\\n"``)."""
        last_id = self._id
        if text[:6] == "data: ":
            # Fast path: only one-line `data: ` events, each followed by exactly one blank line
            # (OpenAI, Gemini, DeepSeek, Mistral, ...). One C-level split gives all the data;
            # it is right iff no piece holds a line break (`in` is a memchr).
            out: list[SSEEvent] = []
            for payload in text[6:-2].split("\n\ndata: "):
                if "\n" in payload:
                    break
                if payload:
                    out.append(SSEEvent(payload, "message", last_id))
            else:
                return out
        elif text[:7] == "event: ":
            # Fast path: only `event: name` + one `data: ` line per event (Anthropic, Responses).
            out = []
            for block in text[7:-2].split("\n\nevent: "):
                nl = block.find("\n")
                if nl < 0 or block[nl + 1 : nl + 7] != "data: " or block.find("\n", nl + 1) >= 0:
                    break
                if len(block) > nl + 7:
                    out.append(SSEEvent(block[nl + 7 :], block[:nl] or "message", last_id))
            else:
                return out
        out = []
        for block in text.split("\n\n"):
            if block[:6] == "data: ":
                if "\n" not in block:
                    if len(block) > 6:
                        out.append(SSEEvent(block[6:], "message", last_id))
                    continue
            elif block[:7] == "event: ":
                nl = block.find("\n")
                if nl > 0 and block[nl + 1 : nl + 7] == "data: " and block.find("\n", nl + 1) < 0:
                    if len(block) > nl + 7:
                        out.append(SSEEvent(block[nl + 7 :], block[7:nl] or "message", last_id))
                    continue
            elif not block:
                continue
            data: list[str] = []
            event = ""
            for line in block.split("\n"):
                if not line or line[0] == ":":
                    continue  # a blank line left by "\n\n\n", or a comment / keep-alive
                colon = line.find(":")
                if colon < 0:
                    field, value = line, ""
                else:
                    field = line[:colon]
                    value = line[colon + 1 :]
                    if value[:1] == " ":
                        value = value[1:]
                if field == "data":
                    data.append(value)
                elif field == "event":
                    event = value
                elif field == "id" and "\0" not in value:
                    last_id = value
                # `retry` and unknown fields are ignored.
            if data:
                joined = data[0] if len(data) == 1 else "\n".join(data)
                if joined:  # empty data is skipped (providers.md §10.6)
                    out.append(SSEEvent(joined, event or "message", last_id))
        self._id = last_id
        return out


class NDJSONDecoder(_Bytes):
    """Feed bytes, get complete non-blank text lines (one JSON document each).

    Lines end at ``\\n`` only (a ``\\r`` before it, or any other ASCII space around the
    document, is stripped): a lone ``\\r`` is JSON whitespace, not a line break, in NDJSON.
    """

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[str]:
        if not self._started:
            chunk = self._skip_bom(chunk)
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                self._parts.append(chunk)
            return []
        if end + 1 < len(chunk):
            rest = chunk[end + 1 :]
            chunk = chunk[:end]
        else:
            rest = b""
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            self._parts = []
        if rest:
            self._parts.append(rest)
        return self._lines(_decode(chunk))

    def close(self) -> list[str]:
        tail = b""
        if not self._started and self._head:
            tail, self._head = self._head, b""
        self._started = True
        tail += b"".join(self._parts)
        self._parts = []
        return self._lines(_decode(tail)) if tail else []

    @staticmethod
    def _lines(text: str) -> list[str]:
        out: list[str] = []
        for line in text.split("\n"):
            line = line.strip(_JSON_SPACE)
            if line:
                out.append(line)
        return out
