"""Memory: peak RSS growth while a 1 MB answer streams through byok's router, in fresh processes.

The server sends 65,536 chunks of 16 characters (1 MiB of text in about 13 MB of SSE). Each run
is a new ``memory_child.py``: warm up, reset the peak counter, stream, read ``VmHWM``. Baseline:
raw httpx with the minimal parser keeping the text as a list of parts joined at the end.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from common import BENCH, PY, Row, child_env, med

N, PIECE = 65_536, 16
LIMIT = 8.0  # × the answer: well under the ~13× of the wire bytes, so nothing per-event is kept


def run(url: str, quick: bool, log: Callable[[str], None]) -> list[Row]:
    reps = 1 if quick else 3
    modes = ["raw", "byok"]
    got: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    env = child_env()
    for rep in range(reps):
        for mode in modes if rep % 2 == 0 else reversed(modes):
            out = subprocess.run(
                [PY, str(BENCH / "memory_child.py"), mode, url, str(N), str(PIECE)],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if out.returncode != 0:
                raise RuntimeError(f"memory_child {mode} failed:\n{out.stderr[-2000:]}")
            got[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    mb = N * PIECE / 2**20
    g = {m: [r["growth"] / 2**20 for r in got[m]] for m in modes}
    log(f"  peak RSS growth: raw {med(g['raw']):.1f} MB, byok {med(g['byok']):.1f} MB")
    sec = "memory: 1 MB answer"
    return [
        Row(
            sec,
            "peak RSS growth, raw httpx + list of parts",
            "MB",
            samples=g["raw"],
            note=f"{med(g['raw']) / mb:.1f}× answer",
        ),
        Row(
            sec,
            "peak RSS growth, byok router (Answer keeps the text)",
            "MB",
            samples=g["byok"],
            baseline="raw",
            ratio=med(g["byok"]) / med(g["raw"]),
            target=f"≤ {LIMIT:.0f}× answer",
            met=med(g["byok"]) / mb <= LIMIT,
            note=f"{med(g['byok']) / mb:.1f}× answer; retained after "
            f"{med([r['retained'] / 2**20 for r in got['byok']]):.1f} MB",
        ),
    ]
