"""Side-by-side comparison: one column per model, each with its own status line and footer.

While answers stream, the grid is one ``text/html`` output whose columns show only the last
``tail_chars`` of each answer as escaped text: bytes per redraw stay bounded however long the
answers grow, and the kernel never renders Markdown. When every column is done (or on
``close()``), the same output is replaced by one ``text/markdown`` grid: HTML ``<div>`` columns
with each answer's Markdown between blank lines, which JupyterLab renders as Markdown.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from byok_magic.render import Blocks, Tally, new_id, problem_text, resolve_sink

_GRID = "display:grid;grid-template-columns:repeat({n},minmax(0,1fr));gap:16px"
_COLUMN = "min-width:0;border-left:3px solid var(--jp-border-color2,#ddd);padding-left:10px"
_TAIL = "white-space:pre-wrap;overflow-wrap:anywhere;font-size:92%"
_SMALL = "font-size:80%;opacity:.75"


class _Column(Tally):
    footer: str | None = None  # set when the column ends
    problem: str | None = None


class CompareGrid:
    """Several answers streamed side by side, one column per label.

    Call ``feed(i, event)`` for column ``i``; ``finish(i)`` or ``fail(i, ...)`` when it ends.
    When the last column ends, the final Markdown grid is shown at once; ``close()`` ends any
    column still open as stopped. Safe to call from several threads.
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        min_interval: float = 0.2,
        tail_chars: int = 1200,
        publish: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.columns = [_Column(label) for label in labels]
        self.min_interval = min_interval
        self.tail_chars = tail_chars
        self._sink = publish
        self._clock = clock
        self._lock = threading.RLock()
        self._pub: Any = None
        self._out: Any = None
        self._id = new_id()
        self._started = False
        self._closed = False
        self._t0 = self._last = 0.0

    def start(self) -> None:
        """Show the grid with every column waiting; called by the first ``feed`` if needed."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._pub, self._out = resolve_sink(self._sink)
            self._t0 = self._last = self._clock()
            if self._pub is not None:
                self._pub({"text/html": self._live_html(self._t0)}, self._id, False)

    def feed(self, i: int, event: object) -> None:
        """Take one event for column ``i``; redraw if ``min_interval`` has passed."""
        with self._lock:
            self.start()
            col = self.columns[i]
            if col.footer is None:
                col.take(event)
                self._maybe_redraw()

    def finish(self, i: int, footer: str | None = None) -> None:
        """End column ``i`` normally, with ``footer`` or one built from what is known."""
        self._end(i, footer, None)

    def fail(self, i: int, message: str, kind: str = "error") -> None:
        """End column ``i`` with one error line below its partial answer (or ``stopped``)."""
        self._end(i, None, problem_text(message, kind))

    def close(self) -> None:
        """Show the final grid now; columns still streaming are marked stopped."""
        with self._lock:
            self.start()
            for i, col in enumerate(self.columns):
                if col.footer is None:
                    self._end(i, None, problem_text("", "stopped"))

    # -- internals -------------------------------------------------------------------------

    def _end(self, i: int, footer: str | None, problem: str | None) -> None:
        with self._lock:
            self.start()
            col = self.columns[i]
            if col.footer is not None:
                return
            seconds = self._clock() - self._t0
            col.footer = col.stats(seconds) if footer is None else footer
            col.problem = problem
            if self._out is not None:
                lines = [f"── {col.label} ──", col.text.rstrip("\n"), ""]
                lines += [problem, f"— {col.footer}"] if problem else [f"— {col.footer}"]
                self._out.write("\n".join(lines) + "\n\n")
                self._out.flush()
            if all(c.footer is not None for c in self.columns):
                self._final()
            else:
                self._maybe_redraw()

    def _maybe_redraw(self) -> None:
        now = self._clock()
        if self._pub is not None and not self._closed and now - self._last >= self.min_interval:
            self._last = now
            self._pub({"text/html": self._live_html(now)}, self._id, True)

    def _live_html(self, now: float) -> str:
        cells = []
        for col in self.columns:
            text = col.text
            tail = text if len(text) <= self.tail_chars else "…" + text[-self.tail_chars :]
            if col.footer is None:
                what = col.tokens() if text else "thinking…" if col.rparts else "waiting…"
                status = f"⏳ {what} · {now - self._t0:.1f} s"
            else:
                status = col.footer if col.problem is None else f"{col.problem} · {col.footer}"
            cells.append(
                f'<div style="{_COLUMN}"><div><b>{html.escape(col.label)}</b></div>'
                f'<div style="{_TAIL}">{html.escape(tail)}</div>'
                f'<div style="{_SMALL}">{html.escape(status)}</div></div>'
            )
        return f'<div style="{_GRID.format(n=len(self.columns))}">{"".join(cells)}</div>'

    def final_markdown(self) -> str:
        """The finished grid: HTML columns holding each answer's Markdown."""
        cells = []
        for col in self.columns:
            text = col.text.strip("\n")
            body = Blocks(text).closed(text)
            problem = f"{col.problem}\n\n" if col.problem else ""
            footer = html.escape(col.footer or "")
            cells.append(
                f'<div style="{_COLUMN}">\n\n<b>{html.escape(col.label)}</b>\n\n'
                f"{body}\n\n{problem}<sub>{footer}</sub>\n\n</div>\n"
            )
        return f'<div style="{_GRID.format(n=len(self.columns))}">\n{"".join(cells)}</div>'

    def _final(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pub is not None:
            self._pub({"text/markdown": self.final_markdown()}, self._id, True)
