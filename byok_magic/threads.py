"""Conversation threads: which earlier exchanges a cell's prompt is sent with.

An exchange is keyed by its cell (the frontend's cell id, else the cell's text), so re-running
a cell replaces its earlier exchange instead of appending a duplicate. Only finished answers
are kept: an interrupted or failed answer leaves the thread as it was.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .events import Message


@dataclass(frozen=True)
class Exchange:
    key: str
    prompt: str
    answer: str
    target: str


class Threads:
    """Named threads of exchanges, in order."""

    def __init__(self) -> None:
        self._threads: dict[str, list[Exchange]] = {}
        self._lock = threading.Lock()

    def history(self, name: str, before_key: str | None = None) -> tuple[Message, ...]:
        """The messages to send before a new prompt; a re-run cell sees what came before it."""
        with self._lock:
            exchanges = list(self._threads.get(name, ()))
        if before_key is not None:
            keys = [e.key for e in exchanges]
            if before_key in keys:
                exchanges = exchanges[: keys.index(before_key)]
        out: list[Message] = []
        for e in exchanges:
            out += [Message("user", e.prompt), Message("assistant", e.answer)]
        return tuple(out)

    def record(self, name: str, exchange: Exchange) -> None:
        """Add an exchange, replacing the one from the same cell if there is one."""
        with self._lock:
            items = self._threads.setdefault(name, [])
            for i, e in enumerate(items):
                if e.key == exchange.key:
                    items[i] = exchange
                    return
            items.append(exchange)

    def reset(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._threads.clear()
            else:
                self._threads.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._threads)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._threads.values())


def trim_to_window(
    history: tuple[Message, ...], prompt: str, context_window: int | None, reserve: int = 4096
) -> tuple[tuple[Message, ...], int]:
    """Drop the oldest exchanges until the estimate (≈ 4 chars a token) fits; (kept, dropped)."""
    if not context_window:
        return history, 0
    reserve = min(reserve, context_window // 4)  # room for the answer
    budget = max(0, context_window - reserve) * 4
    msgs = list(history)
    dropped = 0
    while msgs and sum(len(m.content) for m in msgs) + len(prompt) > budget:
        msgs = msgs[2:]
        dropped += 1
    return tuple(msgs), dropped
