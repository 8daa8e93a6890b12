"""Load cost: ``%load_ext byok_magic`` over a bare IPython start, in fresh processes.

Each run is a new ``python load_child.py``; bare and loaded runs alternate. Two measures:
the CPU of ``%load_ext`` inside the child (``time.process_time`` around the magic: precise), and
the whole child's CPU from ``getrusage(RUSAGE_CHILDREN)`` (interpreter + IPython + load),
whose difference between loaded and bare medians cross-checks the first.

The jupyter-ai-magics row runs when a side environment has it: ``$BYOK_BENCH_JAI_PYTHON`` or
``/tmp/jai-venv/bin/python`` (see README); its bare start is measured in that environment too.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BENCH, PY, Row, child_env, med

TARGET_MS = 60.0


def _jai_python() -> str | None:
    cand = os.environ.get("BYOK_BENCH_JAI_PYTHON") or "/tmp/jai-venv/bin/python"
    return cand if Path(cand).exists() else None


def _child(python: str, what: str, env: dict[str, str]) -> dict[str, Any]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [python, str(BENCH / "load_child.py"), what],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"load_child {what} failed:\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["proc_cpu_ms"] = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000
    res["proc_wall_ms"] = wall * 1000
    return res


def run(quick: bool, log: Callable[[str], None]) -> list[Row]:
    env = child_env()
    reps = 4 if quick else 11
    jai = _jai_python()
    kinds: list[tuple[str, str, str]] = [("bare", PY, "bare"), ("byok", PY, "byok_magic")]
    if jai:
        kinds += [("jai-bare", jai, "bare"), ("jai", jai, "jupyter_ai_magics")]
    res: dict[str, list[dict[str, Any]]] = {k: [] for k, _, _ in kinds}
    for _, py, what in kinds:  # one unmeasured run each: the page cache, .pyc files
        _child(py, what, env)
    for rep in range(reps):
        order = kinds[rep % len(kinds) :] + kinds[: rep % len(kinds)]
        for k, py, what in order:
            if k.startswith("jai") and quick and rep >= 2:
                continue
            res[k].append(_child(py, what, env))

    def col(k: str, f: str) -> list[float]:
        return [r[f] for r in res[k]]

    sec = "load: %load_ext"
    bare_cpu = med(col("bare", "proc_cpu_ms"))
    byok_in = col("byok", "cpu_ms")
    heavy = sorted({m for r in res["byok"] for m in r["heavy"]})
    byok_mods = res["byok"][0]["byok_modules"]
    log(f"  bare {bare_cpu:.0f} ms CPU; %load_ext byok_magic {med(byok_in):.1f} ms CPU in-process")
    rows = [
        Row(
            sec,
            "bare IPython start (whole process)",
            "ms CPU",
            samples=col("bare", "proc_cpu_ms"),
            note=f"wall {med(col('bare', 'proc_wall_ms')):.0f} ms",
        ),
        Row(
            sec,
            "bare + %load_ext byok_magic (whole process)",
            "ms CPU",
            samples=col("byok", "proc_cpu_ms"),
            baseline=f"(bare {med(col('byok', 'proc_cpu_ms')) - bare_cpu:+.0f} ms)",
            note=f"wall {med(col('byok', 'proc_wall_ms')):.0f} ms",
        ),
        Row(
            sec,
            "%load_ext byok_magic, in-process",
            "ms CPU",
            samples=byok_in,
            target=f"≤ {TARGET_MS:.0f} ms over bare",
            met=med(byok_in) <= TARGET_MS,
            note=f"wall {med(col('byok', 'wall_ms')):.1f} ms",
        ),
        Row(
            sec,
            "heavy modules imported by %load_ext byok_magic",
            "",
            baseline=", ".join(heavy) or "none of httpx/keyring/ipywidgets/openai/anthropic/ssl",
            target="no httpx, keyring, ipywidgets",
            met=not any(m in heavy for m in ("httpx", "keyring", "ipywidgets")),
            note=f"{res['byok'][0]['new_modules']} new modules: {', '.join(byok_mods)}",
        ),
    ]
    if jai:
        j_in = col("jai", "cpu_ms")
        jdiff = med(col("jai", "proc_cpu_ms")) - med(col("jai-bare", "proc_cpu_ms"))
        log(f"  %load_ext jupyter_ai_magics {med(j_in):.0f} ms CPU in-process")
        rows.append(
            Row(
                sec,
                "%load_ext jupyter_ai_magics, in-process (side venv, no provider pkgs)",
                "ms CPU",
                samples=j_in,
                baseline="byok",
                ratio=med(j_in) / med(byok_in),
                note=f"whole process {jdiff:+.0f} ms over its bare start",
            )
        )
    else:
        rows.append(
            Row(
                sec,
                "%load_ext jupyter_ai_magics",
                "",
                baseline="skipped: no side venv (set BYOK_BENCH_JAI_PYTHON)",
            )
        )
    return rows
