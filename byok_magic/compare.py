"""Side-by-side comparison: one prompt to several targets at once, streamed into a grid.

Each target streams in its own worker thread; the cell's thread only renders, so wall time is
about the slowest model's, and an interrupt stops every stream at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .magics import ByokMagics
    from .router import Answer, Router

_DONE = object()


def stream_many(
    router: Router, jobs: list[tuple[Any, Any]], answers: list[Answer]
) -> Iterator[tuple[int, Any]]:
    """Run each (profile, request) concurrently; yield (index, event | ByokError | _DONE)."""
    q: queue.Queue[tuple[int, Any]] = queue.Queue()

    def work(i: int, profile: Any, req: Any) -> None:
        try:
            for event in router.stream(profile, req, answers[i]):
                q.put((i, event))
        except errors.ByokError as err:
            q.put((i, err))
        except Exception as exc:  # never let a worker die silently
            q.put((i, errors.ByokError(f"unexpected failure: {type(exc).__name__}")))
        finally:
            q.put((i, _DONE))

    workers = [
        threading.Thread(target=work, args=(i, p, r), daemon=True, name=f"byok-compare-{i}")
        for i, (p, r) in enumerate(jobs)
    ]
    for w in workers:
        w.start()
    pending = len(workers)
    try:
        while pending:
            try:
                i, item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                pending -= 1
            yield i, item
    finally:
        if pending:  # interrupted: stop every stream now
            for a in answers:
                a.cancel()
            for w in workers:
                w.join(timeout=2)


def run_comparison(magics: ByokMagics, targets: list[str], prompt: str, args: Any) -> None:
    """The several-targets form of ``%%byok``."""
    from .render import CompareGrid
    from .reports import footer
    from .router import Answer

    router = magics.router
    history = () if args.no_history else magics.threads.history(args.thread)
    jobs: list[tuple[Any, Any]] = []
    labels: list[str] = []
    problems: list[tuple[int, errors.ByokError]] = []
    for i, target in enumerate(targets):
        try:
            profile, req = router.request(prompt, target, history=history, **magics.params(args))
            jobs.append((profile, req))
            labels.append(f"{profile.name}:{req.model}")
        except errors.ByokError as err:
            jobs.append((None, None))
            labels.append(target)
            problems.append((i, err))
    thread = None if args.no_history else args.thread
    answers = [
        Answer(target=label, thread=thread, notes=list(getattr(args, "notes", [])))
        for label in labels
    ]
    grid = CompareGrid(labels)
    for i, problem in problems:
        answers[i].error = problem
        grid.fail(i, str(problem))
    live = [(i, j) for i, j in enumerate(jobs) if j[0] is not None]
    try:
        for k, item in stream_many(router, [j for _, j in live], [answers[i] for i, _ in live]):
            i = live[k][0]
            if item is _DONE:
                if answers[i].error is None:
                    grid.finish(i, footer(answers[i]))
            elif isinstance(item, errors.ByokError):
                grid.fail(i, str(item))
            else:
                grid.feed(i, item)
    except KeyboardInterrupt:
        for i, _ in live:
            if answers[i].ended is None or answers[i].error is not None:
                grid.fail(i, "stopped", kind="stopped")
        stopped = True
    else:
        stopped = False
    grid.close()
    if args.out and magics.shell is not None:
        magics.shell.user_ns[args.out] = {a.target: a.text for a in answers}
    if stopped:
        raise errors.CellFailed("stopped; the answers so far are kept")
    if all(a.error is not None for a in answers):
        raise errors.CellFailed("every model failed (each column says why)")
