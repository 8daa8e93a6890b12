"""Show a streamed answer live: throttled Markdown in a notebook, plain text in a terminal.

Each display update resends its whole payload (docs/performance.md), so the answer lives in a
chain of outputs: once the live output holds ``SEGMENT_CHARS`` of finished blocks (up to a blank
line outside a code fence, before an unindented line), they are frozen there and a new output
takes the tail. Only the tail is re-sent, so bytes per second stay flat however long the answer
grows. At the end the first output gets the whole answer once and the rest are emptied (frontends
show nothing for an output without data): one Markdown answer on the page and in the saved file.
"""

from __future__ import annotations

import html
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from byok_magic.events import Finish, ReasoningDelta, TextDelta, Usage

Publish = Callable[[Mapping[str, str], str, bool], None]
"""``publish(data, display_id, update)``: show, or update, a mimebundle under a display id."""

SEGMENT_CHARS = 2048
"""Finished blocks are frozen out of the live output once they add up to this many characters."""
REASONING_PREVIEW = 1200
"""Characters of the latest reasoning shown while the model is still thinking."""


def _fence_after(fence: str | None, line: str) -> str | None:
    """The fence (```, ~~~~, $$ ...) open after ``line``, given the one open before it."""
    s = line.strip()
    if fence is not None:
        return None if len(s) >= len(fence) and s == fence[0] * len(s) else fence
    n = len(s) - len(s.lstrip(s[:1]))
    if s == "$$" or (n >= 3 and s[0] in "`~" and not (s[0] == "`" and "`" in s[n:])):
        return s[:n]  # (```a``` on one line is inline code, not a fence)
    return None


class Blocks:
    """Incremental scan of Markdown for where finished blocks end and whether a fence is open."""

    def __init__(self, text: str = "") -> None:
        self.pos = 0  # start of the first line not yet scanned (only complete lines are)
        self.fence: str | None = None
        self.blank = False  # the last scanned line was blank, outside a fence
        self.cut = 0
        self.scan(text)

    def scan(self, text: str) -> None:
        """Read the complete lines of ``text`` not seen yet (each line once)."""
        pos = self.pos
        while (end := text.find("\n", pos)) >= 0:
            line = text[pos:end]
            blank = self.fence is None and not line.strip()
            if self.fence is None and not blank and self.blank and not line[0].isspace():
                self.cut = pos
            self.fence, self.blank = _fence_after(self.fence, line), blank
            pos = end + 1
        self.pos = pos

    def latest_cut(self, text: str) -> int:
        """Offset where the last finished block ends; everything before it may be frozen."""
        pos = self.pos
        if self.blank and self.fence is None and pos < len(text) and not text[pos].isspace():
            return pos
        return self.cut

    def closed(self, text: str) -> str:
        """``text`` (ending where the scanned text ends) with a fence left open closed."""
        fence = _fence_after(self.fence, text[text.rfind("\n") + 1 :])
        if fence is None:
            return text
        return text + ("" if text.endswith("\n") else "\n") + fence


def _joined(parts: list[str]) -> str:
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


class Tally:
    """What one answer has received so far: text, reasoning, usage, finish reason."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.parts: list[str] = []  # joined lazily: one copy per redraw, not per token
        self.rparts: list[str] = []
        self.usage: Usage | None = None
        self.finish: Finish | None = None

    def take(self, event: object) -> None:
        """Record one event."""
        if isinstance(event, TextDelta):
            self.parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.rparts.append(event.text)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish = event

    @property
    def text(self) -> str:
        """The answer text so far."""
        return _joined(self.parts)

    @property
    def reasoning(self) -> str:
        """The reasoning text so far."""
        return _joined(self.rparts)

    def tokens(self) -> str:
        """Output tokens as reported, else an estimate (about 4 characters a token) marked ~."""
        if self.usage is not None and self.usage.output_tokens is not None:
            return f"{self.usage.output_tokens} tokens"
        return f"~{(len(self.text) + len(self.reasoning) + 3) // 4} tokens"

    def stats(self, seconds: float) -> str:
        """The footer: ``label · 123 tokens in / 456 out · 3.2 s`` (and why it ended, if odd)."""
        u = self.usage
        if u is not None and u.input_tokens is not None and u.output_tokens is not None:
            parts = [self.label, f"{u.input_tokens} tokens in / {u.output_tokens} out"]
        else:
            parts = [self.label, self.tokens()]
        parts.append(f"{seconds:.1f} s")
        f = self.finish
        if f is not None and f.reason == "length":
            parts.append("cut off at the token limit")
        elif f is not None and f.reason not in ("stop", "tool"):
            parts.append(f"finish: {f.native or f.reason}")
        return " · ".join(parts)


def problem_text(message: str, kind: str) -> str:
    """The one line a failure gets: ``⚠️ message``, or ``⏹ stopped`` for ``kind="stopped"``."""
    message = " ".join(message.split())
    if kind == "stopped":
        return "⏹ stopped" + ("" if message.lower() in ("", "stopped") else f" — {message}")
    return f"⚠️ {message}"


def new_id() -> str:
    """A fresh display id."""
    return os.urandom(12).hex()


def resolve_sink(publish: Any) -> tuple[Publish | None, IO[str] | None]:
    """Where output goes: ``(publish, None)`` for displays or ``(None, stream)`` for plain text.

    ``publish`` is a :data:`Publish` callable, a writable text stream, or None: rich displays in a
    kernel (any shell whose display publisher does more than print text/plain), else stdout.
    """
    if publish is not None:
        return (None, publish) if hasattr(publish, "write") else (publish, None)
    if "IPython" not in sys.modules:  # no shell can be running; don't pay for importing one
        return None, sys.stdout
    from IPython import get_ipython
    from IPython.core.displaypub import DisplayPublisher

    shell = get_ipython()
    if shell is None or type(getattr(shell, "display_pub", None)) is DisplayPublisher:
        return None, sys.stdout

    def _publish(data: Mapping[str, str], display_id: str, update: bool) -> None:
        # looked up per call: capture_output() swaps the publisher while it runs
        transient = {"display_id": display_id}
        shell.display_pub.publish(dict(data), {}, transient=transient, update=update)

    return _publish, None


class LiveAnswer:
    """One streamed answer shown as live Markdown in the current cell's output.

    Feed it events; it redraws at most every ``min_interval`` seconds; ``finish()`` or ``fail()``
    sends the final state at once. Outside a notebook the text is printed as it arrives.
    ``publish`` overrides the destination (see :func:`resolve_sink`); ``clock`` is for tests.
    """

    def __init__(
        self,
        label: str,
        *,
        format: str = "markdown",
        show_reasoning: bool = False,
        min_interval: float = 0.1,
        publish: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if format not in ("markdown", "text", "code"):
            raise ValueError(f"format must be markdown, text or code, not {format!r}")
        self.label = label
        self.format = format
        self.show_reasoning = show_reasoning
        self.min_interval = min_interval
        self._sink = publish
        self._clock = clock
        self._pub: Publish | None = None
        self._out: IO[str] | None = None
        self._tally = Tally(label)
        self._blocks = Blocks()
        self._ids: list[str] = []  # our outputs, in page order
        self._fresh = False  # the last of _ids has not been shown yet
        self._first = 0  # index in _ids of the first output holding answer text
        self._seg = 0  # where in the text the live output's part begins
        self._rshown = 0  # reasoning characters frozen into their own output
        self._printed = [False, False]  # terminal: some text, some reasoning written
        self._t0 = self._last = 0.0
        self._state = "new"  # new -> live -> done

    @property
    def text(self) -> str:
        """The answer text received so far."""
        return self._tally.text

    @property
    def reasoning(self) -> str:
        """The reasoning text received so far."""
        return self._tally.reasoning

    def start(self) -> None:
        """Show the status line ``⏳ label · waiting…`` (the first ``feed`` calls it if needed)."""
        if self._state != "new":
            return
        self._state = "live"
        self._pub, self._out = resolve_sink(self._sink)
        self._t0 = self._last = self._clock()
        if self._pub is not None:
            self._ids.append(new_id())
            self._fresh = True
            self._send_live(self._t0)

    def feed(self, event: object) -> None:
        """Take one event; redraw if ``min_interval`` has passed since the last redraw."""
        if self._state == "done":
            return
        self.start()
        self._tally.take(event)
        if self._out is not None:
            self._print(event)
            return
        now = self._clock()
        if now - self._last >= self.min_interval:
            self._last = now
            self._tick(now)

    def finish(self, footer: str | None = None) -> None:
        """Show the whole answer with a small footer (built from what is known if None)."""
        self._close(footer, None)

    def fail(self, message: str, kind: str = "error") -> None:
        """Keep the partial answer and add one line saying what went wrong (or ``stopped``).

        Nothing arrived: the message alone, with no token/time footer to suggest otherwise."""
        nothing = not self.text and not self.reasoning
        self._close("" if nothing else None, problem_text(message, kind))

    # -- internals -------------------------------------------------------------------------

    def _small(self, line: str) -> str:
        return line if self.format == "text" else f"<sub>{html.escape(line)}</sub>"

    def _closed(self, text: str) -> str:
        return text if self.format == "text" else self._blocks.closed(text)

    def _send(self, body: str | None, display_id: str, update: bool = True) -> None:
        assert self._pub is not None
        mime = "text/plain" if self.format == "text" else "text/markdown"
        self._pub({} if body is None else {mime: body}, display_id, update)

    def _send_live(self, now: float) -> None:
        text, thinking = self.text, bool(self._tally.rparts)
        if text:
            live, state = self._closed(text[self._seg :]) + "\n\n", self._tally.tokens()
        else:
            live = self._reasoning(final=False) if thinking and self.show_reasoning else ""
            state = "thinking…" if thinking else "waiting…"
        status = f"⏳ {self.label} · {state}" + (
            f" · {now - self._t0:.1f} s" if now > self._t0 else ""
        )
        self._send(live + self._small(status), self._ids[-1], not self._fresh)
        self._fresh = False

    def _reasoning(self, final: bool) -> str:
        r = self.reasoning
        if not final:  # a bounded preview, one HTML block (no blank lines), open to read
            tail = r if len(r) <= REASONING_PREVIEW else "…" + r[-REASONING_PREVIEW:]
            if self.format == "text":
                return f"Reasoning…\n{tail}\n\n"
            body = html.escape(tail).replace("\n", "<br>")
            return f"<details open><summary>Reasoning…</summary>\n<div>{body}</div>\n</details>\n\n"
        if self.format == "text":
            return f"Reasoning:\n{r}\n\n"
        r = Blocks(r).closed(r)
        return f"<details><summary>Reasoning</summary>\n\n{r}\n\n</details>\n\n"

    def _tick(self, now: float) -> None:
        text = self.text
        self._blocks.scan(text)
        if text and self._first == 0 and self.show_reasoning and self._tally.rparts:
            # the answer has begun: the reasoning keeps the first output, the answer goes below
            self._send(self._reasoning(final=True), self._ids[0])
            self._rshown, self._first = len(self.reasoning), 1
            self._ids.append(new_id())
            self._fresh = True
        cut = self._blocks.latest_cut(text)
        if cut - self._seg >= SEGMENT_CHARS and not self._fresh:
            self._send(text[self._seg : cut], self._ids[-1])
            self._seg = cut
            self._ids.append(new_id())
            self._fresh = True
        self._send_live(now)

    def _close(self, footer: str | None, problem: str | None) -> None:
        if self._state == "done":
            return
        self.start()
        self._state = "done"
        text = self.text
        self._blocks.scan(text)
        footer = self._tally.stats(self._clock() - self._t0) if footer is None else footer
        if self._out is not None:
            gap = ("" if text.endswith("\n") else "\n") + "\n" if text else ""
            lines = [line for line in (problem, footer and f"— {footer}") if line]
            self._out.write(gap + "".join(f"{line}\n" for line in lines))
            self._out.flush()
            return
        head = ""
        if self.show_reasoning and self._tally.rparts:
            if self._first == 0:
                head = self._reasoning(final=True)
            elif len(self.reasoning) > self._rshown:  # reasoning arrived after the answer began
                self._send(self._reasoning(final=True), self._ids[0])
        parts = (self._closed(text), problem, footer and self._small(footer))
        ids = self._ids[self._first :]
        body = head + "\n\n".join(p for p in parts if p)
        self._send(body, ids[0], not (self._fresh and len(ids) == 1))
        for display_id in ids[1:-1] if self._fresh else ids[1:]:
            self._send(None, display_id)  # an output without data shows nothing

    def _print(self, event: object) -> None:
        """Terminal: write the event's text as it comes (reasoning first, if shown)."""
        assert self._out is not None
        text, reasoning = self._printed
        if isinstance(event, ReasoningDelta) and self.show_reasoning and not text:
            self._out.write(("" if reasoning else "Reasoning:\n") + event.text)
            self._printed[1] = True
        elif isinstance(event, TextDelta) and event.text:
            self._out.write(("\n\n" if reasoning and not text else "") + event.text)
            self._printed[0] = True
        self._out.flush()


def __getattr__(name: str) -> Any:
    # CompareGrid lives in render_grid.py, imported on first use
    if name == "CompareGrid":
        from byok_magic.render_grid import CompareGrid

        return CompareGrid
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
