"""Shared pieces: result rows, statistics, the table, a private byok home with loopback profiles."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PY = sys.executable
KEY_ENV = "BYOK_BENCH_KEY"
FAKE_KEY = "sk-bench-0000000000000000"


@dataclass
class Row:
    """One line of the table. ``samples`` are the runs; ``value`` overrides their median."""

    section: str
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    value: float | None = None
    baseline: str = ""  # what the ratio compares against
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: informational row
    note: str = ""

    @property
    def median(self) -> float | None:
        if self.value is not None:
            return self.value
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> str:
        if len(self.samples) < 2:
            return ""
        return f"{fmt(min(self.samples))}–{fmt(max(self.samples))}"


def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    a = abs(x)
    if a >= 100_000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a == 0:
        return "0"
    return f"{x:.3f}"


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def status(row: Row) -> str:
    if row.met is None:
        return ""
    return "met" if row.met else "MISSED"


def table(rows: list[Row], markdown: bool = False) -> str:
    head = ["section", "measurement", "median", "min–max", "unit", "vs baseline", "target", ""]
    body = []
    for r in rows:
        ratio = ""
        if r.ratio is not None:
            ratio = f"{r.ratio:.3g}× {r.baseline}".strip()
        elif r.baseline:
            ratio = r.baseline
        name = r.name + (f" ({r.note})" if r.note else "")
        body.append([r.section, name, fmt(r.median), r.spread, r.unit, ratio, r.target, status(r)])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    prev = None
    for row in body:
        if prev is not None and row[0] != prev:
            out.append("")
        prev = row[0]
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def bench_home(server_url: str) -> Path:
    """A private BYOK_MAGIC_HOME with loopback profiles; sets the env for this process and children.

    ``bench`` is an OpenAI-compatible profile, ``bench-anthropic`` an Anthropic one; both read
    their key from ``$BYOK_BENCH_KEY`` (a fake key: the server never checks it).
    """
    home = Path(tempfile.mkdtemp(prefix="byok-bench-home-"))
    os.environ["BYOK_MAGIC_HOME"] = str(home)
    os.environ[KEY_ENV] = FAKE_KEY
    os.environ.pop("BYOK_MAGIC_TARGET", None)
    from byok_magic.config import Config, Profile

    cfg = Config(home)
    cfg.add(Profile(name="bench", type="openai", base_url=server_url + "/v1", key_env=KEY_ENV))
    cfg.add(Profile(name="bench-anthropic", type="anthropic", base_url=server_url, key_env=KEY_ENV))
    return home


def anthropic_adapter_ready() -> bool:
    """True once byok has an adapter for ``type = "anthropic"`` profiles."""
    try:
        from byok_magic.providers import REGISTRY
    except ImportError:
        return False
    return any(t == "anthropic" for t, _ in REGISTRY)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    return env
