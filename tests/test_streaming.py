"""The SSE and NDJSON decoders: WHATWG rules, every split of real bodies, and properties.

docs/providers.md §10 (edge cases 1-9) is the spec; the WHATWG event-stream rules fill the rest.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byok_magic.errors import ProtocolError
from byok_magic.streaming import NDJSONDecoder, SSEDecoder, SSEEvent
from tests.recordings import body_bytes, recording_params

BOM = b"\xef\xbb\xbf"
E = SSEEvent

# ---------------------------------------------------------------------------------------------
# helpers


def sse(*chunks: bytes) -> list[SSEEvent]:
    """Events from feeding ``chunks`` one by one, then closing."""
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    return out + dec.close()


def ndjson(*chunks: bytes) -> list[str]:
    dec = NDJSONDecoder()
    out: list[str] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    return out + dec.close()


def decode(kind: str, chunks: Iterable[bytes]) -> list[Any]:
    return sse(*chunks) if kind == "sse" else ndjson(*chunks)


def outcome(kind: str, chunks: Iterable[bytes]) -> list[Any] | type[ProtocolError]:
    """The frames, or ProtocolError when the bytes are not UTF-8 (nothing else may escape)."""
    try:
        return decode(kind, chunks)
    except ProtocolError:
        return ProtocolError


def cut(body: bytes, points: Iterable[int]) -> list[bytes]:
    """``body`` cut at ``points`` (any order, duplicates give empty chunks)."""
    bounds = [0, *sorted(min(max(p, 0), len(body)) for p in points), len(body)]
    return [body[a:b] for a, b in pairwise(bounds)]


def one_byte_chunks(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def assert_every_split(kind: str, body: bytes) -> None:
    """Two chunks cut at every byte boundary, and 1-byte chunks, give the frames of one chunk."""
    whole = decode(kind, [body])
    for k in range(len(body) + 1):
        got = decode(kind, [body[:k], body[k:]])
        assert got == whole, f"split at byte {k} of {len(body)}: {body[max(0, k - 20) : k + 20]!r}"
    assert decode(kind, one_byte_chunks(body)) == whole


# ---------------------------------------------------------------------------------------------
# 1. WHATWG rules and providers.md §10, one by one


def test_event_api() -> None:
    ev = SSEEvent("x")
    assert (ev.data, ev.event, ev.id) == ("x", "message", None)
    assert ev == SSEEvent(data="x", event="message", id=None)
    assert hash(ev) == hash(SSEEvent("x", "message"))
    assert dataclasses.replace(ev, id="7") == SSEEvent("x", "message", "7")
    assert [f.name for f in dataclasses.fields(SSEEvent)] == ["data", "event", "id"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.data = "y"  # type: ignore[misc]
    assert repr(ev) == "SSEEvent(data='x', event='message', id=None)"


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_break_styles(nl: str) -> None:
    body = nl.join(
        ["event: a", "data: 1", "data: 2", "", ": note", "data: 3", "", "data: 4", "", ""]
    )
    assert sse(body.encode()) == [E("1\n2", "a"), E("3"), E("4")]


def test_mixed_line_breaks_in_one_stream() -> None:
    assert sse(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r") == [E("a\nb\nc"), E("d")]


def test_cr_at_chunk_end_and_lf_at_next_start_is_one_break() -> None:
    # Two breaks would make a blank line and split the event in two.
    assert sse(b"data: a\r", b"\ndata: b\r\n\r\n") == [E("a\nb")]
    assert sse(b"data: a\r", b"\n", b"data: b\r", b"\n\r", b"\n") == [E("a\nb")]
    # ... but a lone \r at a chunk end followed by another \r is two breaks: a blank line.
    assert sse(b"data: a\r", b"\rdata: b\r\r") == [E("a"), E("b")]


def test_comments_are_ignored() -> None:
    body = (
        b": OPENROUTER PROCESSING\n\n"
        b": keep-alive\n"
        b"data: x\n"
        b":\n"
        b":data: not data\n"
        b"data: y\n\n"
        b": keep-alive\n\n"
    )
    assert sse(body) == [E("x\ny")]


def test_comment_only_stream_gives_nothing() -> None:
    assert sse(b": keep-alive\n\n" * 5) == []


def test_multi_line_data_joined_with_newline() -> None:
    assert sse(b'data: {"a":\ndata: 1}\n\n') == [E('{"a":\n1}')]
    assert sse(b"data: a\ndata:\ndata: b\n\n") == [E("a\n\nb")]


def test_exactly_one_space_after_the_colon_is_stripped() -> None:
    assert sse(b"data:x\n\n") == [E("x")]
    assert sse(b"data: x\n\n") == [E("x")]
    assert sse(b"data:  x \n\n") == [E(" x ")]
    assert sse(b"data::x\n\n") == [E(":x")]
    assert sse(b"event:e\ndata:x\n\n") == [E("x", "e")]
    assert sse(b"data:\tx\n\n") == [E("\tx")]
    # The same in events that are not a single `data:` line (the decoder's slower path).
    assert sse(b"event:  e\ndata:  x\ndata:y\n\n") == [E(" x\ny", " e")]
    assert sse(b"id:  7\ndata:x\n\n: c\n\n") == [E("x", id=" 7")]
    assert sse(b": c\ndata:  x\n\n") == [E(" x")]


def test_field_without_colon_has_empty_value() -> None:
    assert sse(b"data\ndata: x\n\n") == [E("\nx")]
    assert sse(b"event\ndata: x\n\n") == [E("x")]


def test_unknown_fields_and_retry_are_ignored() -> None:
    body = b"retry: 3000\nfoo: bar\nDATA: no\ndata : no\nx\ndata: y\n\n"
    assert sse(body) == [E("y")]


def test_event_without_data_is_skipped_and_its_name_forgotten() -> None:
    assert sse(b"event: ping\n\ndata: x\n\n") == [E("x")]
    assert sse(b"event: a\nevent: b\ndata: x\n\n") == [E("x", "b")]
    assert sse(b"event: \ndata: x\n\n") == [E("x")]


def test_empty_data_is_skipped() -> None:
    # providers.md §10.6 (json.loads("") would fail in every adapter).
    assert sse(b"data:\n\ndata: \n\nevent: e\ndata:\n\ndata: x\n\n") == [E("x")]


def test_blank_lines_without_fields_dispatch_nothing() -> None:
    assert sse(b"\n\n\n\ndata: x\n\n\n\n\n") == [E("x")]
    assert sse(b"\r\n\r\n\r\r\n") == []


def test_id_is_kept_and_carried_to_later_events() -> None:
    body = (
        b"id: 1\ndata: a\n\n"
        b"data: b\n\n"  # WHATWG: the last event ID persists
        b"id: 2\n\n"  # an id alone sets it without dispatching
        b"data: c\n\n"
        b"id: 3\0\ndata: d\n\n"  # an id with NUL is ignored
        b"id\ndata: e\n\n"  # an empty id resets it to ""
    )
    expected = [E("a", id="1"), E("b", id="1"), E("c", id="2"), E("d", id="2"), E("e", id="")]
    assert sse(body) == expected
    assert sse(*re.split(rb"(?<=\n\n)", body)) == expected  # also with one read per event


def test_bom_at_stream_start_is_stripped_once() -> None:
    assert sse(BOM + b"data: x\n\n") == [E("x")]
    # Only at the very start: a second BOM makes the field name "\ufeffdata", unknown.
    assert sse(BOM + BOM + b"data: x\n\n") == []
    assert sse(b"data: x\n\n" + BOM + b"data: y\n\n") == [E("x")]
    # The BOM itself may be split by the network.
    assert sse(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [E("x")]
    assert sse(b"\xef\xbb", b"\xbf", b"data: x\n\n") == [E("x")]
    assert sse(b"", BOM[:1], b"", BOM[1:], b"data: x\n\n") == [E("x")]


def test_broken_bom_is_invalid_utf8() -> None:
    with pytest.raises(ProtocolError):
        sse(b"\xef\xbb")
    with pytest.raises(ProtocolError):
        sse(b"\xef", b"data: x\n\n")


def test_bom_in_data_is_kept() -> None:
    assert sse(b"data: \xef\xbb\xbfx\n\n") == [E("\ufeffx")]


def test_final_event_without_blank_line_is_flushed_at_close() -> None:
    for tail in (b"", b"\n", b"\r", b"\r\n"):
        dec = SSEDecoder()
        assert dec.feed(b"data: a\n\ndata: b" + tail) == [E("a")]
        assert dec.close() == [E("b")]
        assert dec.close() == []
    assert sse(b"event: e\ndata: x") == [E("x", "e")]
    assert sse(b": just a comment") == []


def test_feed_returns_only_complete_events() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert dec.feed(b"data: b\n") == []
    assert dec.feed(b"\n") == [E("a\nb")]
    assert dec.feed(b"data: c\n\ndata: d\n\nda") == [E("c"), E("d")]
    assert dec.feed(b"ta: e\n\n") == [E("e")]
    assert dec.feed(b"") == []
    assert dec.close() == []


def test_utf8_split_inside_a_character() -> None:
    text = "data: héllo 🙂 世界 \u2028 ok\n\n"
    body = text.encode()
    assert sse(body) == [E("héllo 🙂 世界 \u2028 ok")]
    assert_every_split("sse", body)


def test_invalid_utf8_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        sse(b"data: \xff\n\n")
    with pytest.raises(ProtocolError):
        sse(b"event: \xc3\ndata: x\n\n")
    with pytest.raises(ProtocolError):
        sse(b"data: \xe4\xb8")  # a character cut off by the end of the body
    with pytest.raises(ProtocolError):
        sse(b"dat\xa0a: x\n\n")


def test_invalid_utf8_in_a_comment_is_tolerated() -> None:
    # Comments are never read, so their bytes do not matter (as before the fast path).
    assert sse(b": \xff\xfe\ndata: x\n\n: \xc3\n\n") == [E("x")]
    assert sse(b": \xff", b"\n", b"data: \xc3", b"\xa9\n\n") == [E("é")]


@pytest.mark.parametrize(
    ("kind", "chunks"),
    [
        ("sse", [b"data: \xff\n\n"]),
        ("sse", [b"data: \xff"]),  # raised by close()
        ("sse", [b"\xef\xbb"]),  # a broken BOM, raised by close()
        ("ndjson", [b'"\xff"\n']),
        ("ndjson", [b'"\xff"']),
    ],
)
def test_protocol_error_has_a_hint_and_no_chained_exception(kind: str, chunks: list[bytes]) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(kind, chunks)
    assert "UTF-8" in str(info.value)
    # errors.py: errors byok builds never chain to the low-level exception.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_huge_event_in_small_reads() -> None:
    payload = b'{"x": "' + b"a" * 1_000_000 + b'"}'
    body = b"data: " + payload + b"\n\ndata: [DONE]\n\n"
    chunks = cut(body, range(512, len(body), 512))
    assert sse(*chunks) == [E(payload.decode()), E("[DONE]")]


def test_provider_shapes() -> None:
    anthropic = (
        b"event: message_start\n"
        b'data: {"type":"message_start"}\n\n'
        b"event: ping\n"
        b'data: {"type": "ping"}\n\n'
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","delta":{"text":"Hi"}}\n\n'
    )
    assert [e.event for e in sse(anthropic)] == ["message_start", "ping", "content_block_delta"]
    gemini = b'data: {"a": 1}\r\n\r\ndata: {"b": 2}\r\n\r\n'
    assert sse(gemini) == [E('{"a": 1}'), E('{"b": 2}')]
    openai = b'data: {"choices":[]}\n\ndata: [DONE]\n\n'
    assert sse(openai) == [E('{"choices":[]}'), E("[DONE]")]


# NDJSON ----------------------------------------------------------------------------------------


def test_ndjson_lines() -> None:
    body = b'{"a":1}\n\n  \n{"b":2}\r\n\t{"c":3} \n'
    assert ndjson(body) == ['{"a":1}', '{"b":2}', '{"c":3}']


def test_ndjson_last_line_without_newline_is_flushed_at_close() -> None:
    dec = NDJSONDecoder()
    assert dec.feed(b'{"a":1}\n{"b"') == ['{"a":1}']
    assert dec.feed(b":2}") == []
    assert dec.close() == ['{"b":2}']
    assert dec.close() == []


def test_ndjson_crlf_split_across_chunks() -> None:
    assert ndjson(b'{"a":1}\r', b'\n{"b":2}\r', b"\n") == ['{"a":1}', '{"b":2}']


def test_ndjson_lone_cr_is_not_a_line_break() -> None:
    # NDJSON separates documents by \n only; a \r is JSON whitespace.
    assert ndjson(b'{"a":\r1}\r\n') == ['{"a":\r1}']


def test_ndjson_bom_and_utf8() -> None:
    body = BOM + '{"t":"héllo 🙂"}\n'.encode()
    assert ndjson(body) == ['{"t":"héllo 🙂"}']
    assert_every_split("ndjson", body)


def test_ndjson_invalid_utf8_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        ndjson(b'{"a":"\xff"}\n')
    with pytest.raises(ProtocolError):
        ndjson(b'{"a":"\xe4\xb8')


# ---------------------------------------------------------------------------------------------
# 2. Every split: hand-written bodies and every recorded SSE / NDJSON body

HAND_SSE = [
    b"data: x\n\n",
    b"data:x\r\n\r\ndata: y\r\rdata: z\r\n\n",
    BOM + b"event: e\ndata: a\ndata: b\n\n: c\n\nid: 7\ndata: \xc3\xa9\xf0\x9f\x99\x82\n\n",
    b": OPENROUTER PROCESSING\r\n\r\ndata: {}\r\n\r\nretry: 1\r\nfoo\r\n\r\n",
    b"data: last event without blank line",
    b"data: a\r\n\r\n\r\n\r\ndata: b\r",
    b"event: x\n\nevent: y\ndata: 1\n\n\n\ndata\ndata:\n\ndata: \n\n",
    "data: 世界\rdata: é\r\r: \u2028\r".encode(),
    b"event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n",
]

HAND_NDJSON = [
    b'{"a":1}\n{"b":2}\n',
    b'{"a":1}\r\n\r\n{"b":"\xc3\xa9"}',
    BOM + b'  {"a":1} \n\n\t\n{"b":2}\r\n',
]


@pytest.mark.parametrize("body", HAND_SSE)
def test_every_split_hand_sse(body: bytes) -> None:
    assert_every_split("sse", body)


@pytest.mark.parametrize("body", HAND_NDJSON)
def test_every_split_hand_ndjson(body: bytes) -> None:
    assert_every_split("ndjson", body)


def _is_stream(rec: dict[str, Any]) -> bool:
    return rec["stream_format"] in ("sse", "ndjson")


# A split can only change the frames around it. Bodies up to this size are checked exactly as
# stated (every split of the whole body); longer ones split every byte inside a window of three
# frames around it, checked against the same frames of the whole body, which keeps the suite fast
# (the exact check is quadratic: about 100 s for all the recordings).
EXACT_LIMIT = 8_000

# A blank line (two line breaks) ends an SSE event; a \n ends an NDJSON line.
_SSE_FRAME_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
_NDJSON_FRAME_END = re.compile(rb"\n")


def frame_bounds(kind: str, body: bytes) -> list[int]:
    """Offsets where a frame ends: 0, one per frame end, and len(body)."""
    pattern = _SSE_FRAME_END if kind == "sse" else _NDJSON_FRAME_END
    ends = [m.end() for m in pattern.finditer(body)]
    return sorted({0, *ends, len(body)})


def assert_every_split_windowed(kind: str, body: bytes) -> None:
    whole = decode(kind, [body])
    bounds = frame_bounds(kind, body)
    segments = [body[a:b] for a, b in pairwise(bounds)]
    frames = [decode(kind, [seg]) for seg in segments]
    # The frames of the whole body are the frames of its segments, in order: windows of
    # segments can stand for the body.
    assert [f for seg in frames for f in seg] == whole
    seg_no = 0
    for k in range(len(body) + 1):
        while seg_no + 1 < len(segments) and k >= bounds[seg_no + 1]:
            seg_no += 1
        lo, hi = max(seg_no - 1, 0), min(seg_no + 2, len(segments))
        start = bounds[lo]
        window = body[start : bounds[hi]]
        expected = [f for seg in frames[lo:hi] for f in seg]
        got = decode(kind, [window[: k - start], window[k - start :]])
        assert got == expected, f"split at byte {k}: {body[max(0, k - 20) : k + 20]!r}"
    assert decode(kind, one_byte_chunks(body)) == whole


@pytest.mark.parametrize("rec", recording_params(_is_stream))
def test_every_split_recorded(rec: dict[str, Any]) -> None:
    kind = rec["stream_format"]
    body = body_bytes(rec)
    whole = decode(kind, [body])
    assert whole, "a recorded stream gives frames"
    if len(body) <= EXACT_LIMIT:
        assert_every_split(kind, body)
    else:
        assert_every_split_windowed(kind, body)
    # Splits where a provider's server would flush (README replay hints) give the same frames.
    if kind == "sse":
        assert sse(*re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", body)) == whole
    else:
        assert ndjson(*body.splitlines(keepends=True)) == whole


@pytest.mark.parametrize("rec", recording_params(lambda r: r["stream_format"] == "sse"))
def test_recorded_sse_frames_look_right(rec: dict[str, Any]) -> None:
    """Sanity of what the decoder gives for real bodies: no comment or field leaks into data."""
    events = sse(body_bytes(rec))
    for ev in events:
        assert ev.data and not ev.data.startswith(("data:", ": ", "event:"))
        assert ev.event and "\n" not in ev.event
    if rec["provider"] == "anthropic":
        assert events[0].event == "message_start"
        assert events[-1].event == "message_stop"


def test_windowed_split_check_agrees_with_the_exact_one() -> None:
    for body in HAND_SSE:
        assert_every_split_windowed("sse", body)
    for body in HAND_NDJSON:
        assert_every_split_windowed("ndjson", body)


# ---------------------------------------------------------------------------------------------
# 3. Properties (hypothesis)

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that can be carried in an SSE line (no line breaks); anything else, NUL included.
line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"))
data_text = st.text(st.characters(codec="utf-8", exclude_characters="\r"))


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A serialised stream with random events, comments, unknown fields and line breaks, and
    the events a correct decoder must give back."""
    style = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    lines: list[str] = []
    expected: list[SSEEvent] = []
    last_id: str | None = None

    def field(name: str, value: str) -> str:
        if value[:1] != " " and draw(st.booleans()):
            return f"{name}:{value}"  # no space after the colon is valid too
        return f"{name}: {value}"

    def noise() -> None:
        for _ in range(draw(st.integers(0, 2))):
            lines.append(
                draw(
                    st.one_of(
                        line_text.map(lambda t: ":" + t),  # comment / keep-alive
                        st.just(": OPENROUTER PROCESSING"),
                        st.integers(0, 10**6).map(lambda n: f"retry: {n}"),
                        st.sampled_from(["foo: bar", "x", "Data: y", "data : z"]),
                    )
                )
            )

    for _ in range(draw(st.integers(0, 6))):
        noise()
        name = draw(st.one_of(st.none(), line_text))
        if name is not None:
            lines.append(field("event", name))
        new_id = draw(st.one_of(st.none(), line_text))
        if new_id is not None:
            lines.append(field("id", new_id))
            if "\0" not in new_id:
                last_id = new_id
        data = draw(st.one_of(st.none(), data_text))
        if data is not None:
            for part in data.split("\n"):
                noise()
                lines.append(field("data", part))
            if data:
                expected.append(SSEEvent(data, name or "message", last_id))
        noise()
        lines.extend([""] * draw(st.integers(1, 2)))
    if expected and lines[-1] == "" and draw(st.booleans()):
        lines.pop()  # the last event's blank line is missing: close() must flush it

    out: list[str] = []
    prev = ""
    for line in lines:
        nl = style if style != "mixed" else draw(st.sampled_from(["\n", "\r\n", "\r"]))
        if prev == "\r" and not line and nl == "\n":
            nl = "\r\n"  # "\r" + "\n" would be one break, swallowing this blank line
        out.append(line + nl)
        prev = nl
    text = "".join(out)
    if draw(st.booleans()) and text.endswith(("\n", "\r")):
        text = text[:-1] if not text.endswith("\r\n") else text[:-2]  # no final line break
    body = text.encode()
    if draw(st.booleans()):
        body = BOM + body
    return body, expected


def chunks_of(body: bytes, points: Sequence[int]) -> list[bytes]:
    return cut(body, points)


split_points = st.lists(st.integers(0, 10_000), max_size=12)


@PROPS
@given(sse_streams(), split_points, st.data())
def test_property_sse_roundtrip_under_any_split(
    stream: tuple[bytes, list[SSEEvent]], points: list[int], data: st.DataObject
) -> None:
    body, expected = stream
    points = [p % (len(body) + 1) for p in points]
    assert sse(body) == expected
    assert sse(*chunks_of(body, points)) == expected
    k = data.draw(st.integers(0, len(body)))
    assert sse(body[:k], body[k:]) == expected


@PROPS
@given(st.binary(max_size=300), split_points)
def test_property_sse_random_bytes_only_protocol_error(body: bytes, points: list[int]) -> None:
    whole = outcome("sse", [body])
    assert outcome("sse", chunks_of(body, points)) == whole
    assert outcome("sse", one_byte_chunks(body)) == whole


@PROPS
@given(
    st.lists(
        st.sampled_from([b"data:", b"data: ", b"event: ", b"id: ", b": ", b"\r", b"\n", b"\r\n"])
        | st.binary(max_size=6)
        | st.text(max_size=4).map(str.encode),
        max_size=40,
    ),
    split_points,
)
def test_property_sse_line_soup_only_protocol_error(parts: list[bytes], points: list[int]) -> None:
    # Random bytes rarely look like SSE; a soup of field names and line breaks does.
    body = b"".join(parts)
    whole = outcome("sse", [body])
    assert outcome("sse", chunks_of(body, points)) == whole
    assert outcome("sse", one_byte_chunks(body)) == whole


ndjson_line = st.text(st.characters(codec="utf-8", exclude_characters="\n"))
NDJSON_SPACE = " \t\r\x0b\x0c"


@PROPS
@given(
    st.lists(ndjson_line, max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
    split_points,
)
def test_property_ndjson_roundtrip_under_any_split(
    lines: list[str], nl: str, final_break: bool, bom: bool, points: list[int]
) -> None:
    text = nl.join(lines) + (nl if final_break else "")
    body = (BOM if bom else b"") + text.encode()
    expected = [line.strip(NDJSON_SPACE) for line in lines if line.strip(NDJSON_SPACE)]
    assert ndjson(body) == expected
    assert ndjson(*chunks_of(body, [p % (len(body) + 1) for p in points])) == expected


@PROPS
@given(st.binary(max_size=300), split_points)
def test_property_ndjson_random_bytes_only_protocol_error(body: bytes, points: list[int]) -> None:
    whole = outcome("ndjson", [body])
    assert outcome("ndjson", chunks_of(body, points)) == whole
    assert outcome("ndjson", one_byte_chunks(body)) == whole
