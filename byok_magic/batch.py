"""``ask_many``: many prompts, a bounded number in flight, answers in order, errors collected."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .router import Router


class Progress:
    """A one-line progress bar: a live display in notebooks, a ``\\r`` line in terminals."""

    def __init__(self, total: int, label: str, publish: Any = None) -> None:
        from .render import resolve_sink

        self.total, self.label = total, label
        self.done = self.failed = 0
        self.started = time.monotonic()
        self._publish, self._stream = resolve_sink(publish)
        if (
            self._stream is sys.stdout
        ):  # a terminal: progress on stderr, and only if a person sees it
            self._stream = sys.stderr if sys.stderr.isatty() else None
        self._id = f"byok-batch-{id(self):x}-{time.time_ns()}"
        self._shown = False
        self._last = 0.0

    def line(self) -> str:
        width = 20
        filled = round(width * self.done / self.total) if self.total else width
        bar = "█" * filled + "░" * (width - filled)
        failed = f" · {self.failed} failed" if self.failed else ""
        elapsed = time.monotonic() - self.started
        return f"{self.label} {bar} {self.done}/{self.total}{failed} · {elapsed:.1f} s"

    def step(self, ok: bool, force: bool = False) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        now = time.monotonic()
        if force or self.done == self.total or now - self._last >= 0.1:
            self._last = now
            self.show()

    def show(self) -> None:
        text = self.line()
        if self._publish is not None:
            self._publish({"text/plain": text}, self._id, self._shown)
            self._shown = True
        elif self._stream is not None:
            end = "\n" if self.done == self.total else ""
            self._stream.write("\r" + text + end)
            self._stream.flush()


def ask_many(
    router: Router,
    prompts: Iterable[str],
    target: str | None = None,
    *,
    concurrency: int = 4,
    progress: bool | Any = True,
    on_result: Callable[[int, str | errors.ByokError], None] | None = None,
    **params: Any,
) -> list[str | errors.ByokError]:
    """Answers in the order of ``prompts``; a failed item holds its :class:`ByokError`.

    At most ``concurrency`` requests are in flight. An error that every item would hit (a
    rejected or missing key, a bad target) stops the batch: items not sent yet get the same
    error instead of a request each. An interrupt cancels what is running and what has not
    started, and re-raises.
    """
    items = list(prompts)
    if concurrency < 1:
        raise errors.ConfigError("concurrency must be at least 1", "use concurrency=1 or more")
    results: list[str | errors.ByokError | None] = [None] * len(items)
    bar = None
    if progress and items:
        bar = Progress(
            len(items), f"ask_many · {target or 'default'}", None if progress is True else progress
        )
        bar.show()
    live: dict[Future[str], int] = {}
    answers: dict[int, Any] = {}
    lock = threading.Lock()

    def one(i: int, prompt: str) -> str:
        from .router import Answer

        profile, req = router.request(prompt, target, **params)
        answer = Answer(target=f"{profile.name}:{req.model}")
        with lock:
            answers[i] = answer
        for _ in router.stream(profile, req, answer):
            pass
        return answer.text

    fatal: errors.ByokError | None = None
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="byok-batch")
    pending = iter(enumerate(items))
    try:
        for i, prompt in pending:
            live[pool.submit(one, i, prompt)] = i
            if len(live) >= concurrency:
                break
        while live:
            done, _ = wait(list(live), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                i = live.pop(fut)
                try:
                    value: str | errors.ByokError = fut.result()
                except errors.ByokError as err:
                    value = err
                except Exception as exc:
                    value = errors.ByokError(f"unexpected failure: {type(exc).__name__}")
                results[i] = value
                if isinstance(value, _FATAL):
                    fatal = value
                if bar is not None:
                    bar.step(not isinstance(value, errors.ByokError))
                if on_result is not None:
                    on_result(i, value)
                nxt = next(pending, None) if fatal is None else None
                if nxt is not None:
                    live[pool.submit(one, *nxt)] = nxt[0]
    except KeyboardInterrupt:
        for fut in live:
            fut.cancel()
        with lock:
            for a in answers.values():
                a.cancel()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if fatal is not None:
        for i, r in enumerate(results):
            if r is None:
                results[i] = fatal
                if bar is not None:
                    bar.step(False)
    return [r if r is not None else errors.ByokError("not run") for r in results]


# Errors that every other item of the batch would hit too.
_FATAL = (
    errors.AuthError,
    errors.PermissionDenied,
    errors.MissingKeyError,
    errors.ConfigError,
    errors.KeyStoreError,
    errors.SecurityError,
)
