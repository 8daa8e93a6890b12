"""Deadlines for open streams: first token, idle gap, total lifetime, and cancel.

One daemon thread watches every open :class:`Stream` and closes the socket of one that is past a
deadline; closing the socket is what wakes a thread blocked in a read, so a stalled stream ends
at once, and so does an interrupted one (``Stream.stop()`` from any thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUTS = {"connect": 10.0, "first_token": 600.0, "idle": 120.0, "total": 1800.0}


class Stream:
    """One open response: its deadlines, and a way to stop it from another thread."""

    def __init__(self, timeouts: Mapping[str, float]) -> None:
        self.started = time.monotonic()
        self.first_byte: float | None = None
        self.last_byte = self.started
        self.first_token_s = timeouts.get("first_token", DEFAULT_TIMEOUTS["first_token"])
        self.idle_s = timeouts.get("idle", DEFAULT_TIMEOUTS["idle"])
        self.total_s = timeouts.get("total", DEFAULT_TIMEOUTS["total"])
        self.stopped: str | None = None  # "first_token" | "idle" | "total" | "cancelled"
        self.reusable = False  # the answer ended at its marker: drain, keep the connection
        self.response: httpx.Response | None = None

    def touch(self) -> None:
        now = time.monotonic()
        if self.first_byte is None:
            self.first_byte = now
        self.last_byte = now

    def overdue(self, now: float) -> str | None:
        if now - self.started > self.total_s:
            return "total"
        if self.first_byte is None:
            return "first_token" if now - self.started > self.first_token_s else None
        return "idle" if now - self.last_byte > self.idle_s else None

    def stop(self, why: str = "cancelled") -> None:
        """Close the connection now, even while another thread is blocked reading it."""
        if self.stopped is None:
            self.stopped = why
        resp = self.response
        if resp is None:
            return
        stream = resp.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            import contextlib
            import socket

            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One daemon thread that stops streams past their deadlines."""

    def __init__(self) -> None:
        self._streams: set[Stream] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, s: Stream) -> None:
        with self._cond:
            self._streams.add(s)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="byok-watch")
                self._thread.start()
            self._cond.notify()

    def discard(self, s: Stream) -> None:
        with self._cond:
            self._streams.discard(s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._streams:
                    self._cond.wait()
                streams = list(self._streams)
            now = time.monotonic()
            for s in streams:
                why = s.overdue(now)
                if why:
                    s.stop(why)
                    self.discard(s)
            time.sleep(0.1)
