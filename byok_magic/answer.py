"""Answer: everything one request produced, accumulated from its events.

The renderer, the usage log, conversation threads and the comparison grid read it; it never
holds the request or its credential once the stream is over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .events import Event, Finish, ReasoningDelta, TextDelta, Usage


@dataclass
class Answer:
    """Everything one request produced, built from its events."""

    target: str
    profile: str = ""
    provider: str = ""
    model: str = ""
    usage: Usage | None = None
    finish: Finish | None = None
    error: errors.ByokError | None = None
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    ended: float | None = None
    key_fingerprint: str | None = None
    thread: str | None = None
    notes: list[str] = field(default_factory=list)
    prompt: str | None = field(default=None, repr=False)
    _stream: Any = field(default=None, repr=False)
    _cancelled: bool = field(default=False, repr=False)
    # pieces, joined on read: `text += piece` on an attribute copies the whole answer per chunk
    _text: list[str] = field(default_factory=list, repr=False)
    _reasoning: list[str] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        """The answer so far."""
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        """Reasoning text so far (shown apart, never fed back as answer)."""
        return "".join(self._reasoning)

    def cancel(self) -> None:
        """Stop this answer's stream from any thread (the connection closes at once)."""
        self._cancelled = True
        if self._stream is not None:
            self._stream.stop("cancelled")

    def _opened(self, stream: Any) -> None:
        self._stream = stream
        if self._cancelled:
            stream.stop("cancelled")

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            if self.first_token is None:
                self.first_token = time.monotonic()
            self._text.append(event.text)
            if len(self._text) >= 4096:  # fold now and then: 4,096 small strings cost ~200 KB
                self._text[:] = ["".join(self._text)]
        elif isinstance(event, ReasoningDelta):
            if self.first_token is None:
                self.first_token = time.monotonic()
            self._reasoning.append(event.text)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish = event

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def status(self) -> str:
        if self.error is None:
            return "ok"
        if getattr(self.error, "info", {}).get("stopped"):
            return "interrupted"
        return self.error.kind
