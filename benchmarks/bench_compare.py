"""Comparison concurrency: four loopback models of different speeds through
``byok_magic.compare.stream_many`` (the machinery behind ``%%byok`` with several targets).

Baseline: the slowest model alone through ``Router.stream``, in the same run, interleaved. Two
shapes: slow tokens (200 chunks each, 0.5–2 s) and fast ones (2,000 chunks each, same durations:
8,000 chunks/s in total through four threads, where the GIL would show).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from common import Row, med


def _models(chunks: int, scale: float) -> list[str]:
    # durations 0.5, 1.0, 1.5, 2.0 s × scale
    return [f"n{chunks}-p4-d{(0.5 * (i + 1) * scale) / chunks * 1000:.4f}" for i in range(4)]


def run(quick: bool, log: Callable[[str], None]) -> list[Row]:
    from byok_magic.compare import _DONE, stream_many
    from byok_magic.router import Answer, router

    r = router()
    scale = 0.25 if quick else 1.0
    reps = 3 if quick else 5
    rows: list[Row] = []
    for label, chunks in (
        ("slow tokens, 200 chunks each", 200),
        ("fast tokens, 2,000 chunks each", 2000),
    ):
        models = _models(chunks, scale)
        jobs = [r.request("benchmark", f"bench:{m}") for m in models]

        def alone(jobs: list = jobs) -> float:
            t0 = time.perf_counter()
            profile, req = jobs[-1]
            for _ in r.stream(profile, req, Answer(target="slowest")):
                pass
            return time.perf_counter() - t0

        def many(jobs: list = jobs, models: list = models, chunks: int = chunks) -> float:
            answers = [Answer(target=m) for m in models]
            t0 = time.perf_counter()
            done = 0
            for _, item in stream_many(r, jobs, answers):
                if item is _DONE:
                    done += 1
            wall = time.perf_counter() - t0
            bad = [a.error for a in answers if a.error is not None]
            if done != 4 or bad or any(len(a.text) != chunks * 4 for a in answers):
                raise RuntimeError(f"comparison did not complete: {bad}")
            return wall

        alone(), many()  # warm
        a_s, m_s = [], []
        for rep in range(reps):
            if rep % 2:
                m_s.append(many())
                a_s.append(alone())
            else:
                a_s.append(alone())
                m_s.append(many())
        ratio = med(m_s) / med(a_s)
        log(f"  compare ({label}): slowest alone {med(a_s):.2f} s, 4 at once {med(m_s):.2f} s")
        sec = "compare: 4 models"
        rows.append(
            Row(
                sec,
                f"slowest model alone ({label})",
                "s",
                samples=a_s,
                note=f"sequential would be ≈ {med(a_s) * 2.5:.1f} s",
            )
        )
        rows.append(
            Row(
                sec,
                f"4 models via stream_many ({label})",
                "s",
                samples=m_s,
                baseline="slowest",
                ratio=ratio,
                target="≤ 1.2× slowest",
                met=ratio <= 1.2,
            )
        )
    return rows
