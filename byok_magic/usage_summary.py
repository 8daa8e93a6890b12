"""What the usage log says: groups with counts, tokens, cost and latency; CSV; a chart.

Rows come from :meth:`byok_magic.usage.UsageLog.rows`; cost is worked out here from the tokens
and today's prices (:mod:`byok_magic.prices`), so adding a price later prices old rows too.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .events import Usage
from .prices import request_cost

BY = ("target", "profile", "model", "provider", "key", "day")
"""What ``--by`` groups on; ``target`` (``profile:model``) is the default."""


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``2025-06-01``, ``2025-06-01T12:00`` (UTC unless an offset is given), ``today``,
    ``yesterday``, or an age: ``12h``, ``7d``, ``4w``."""
    from .errors import ConfigError

    now = now or datetime.now(timezone.utc)
    t = text.strip().lower()
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if t == "today":
        return midnight
    if t == "yesterday":
        return midnight - timedelta(days=1)
    units = {"h": "hours", "d": "days", "w": "weeks"}
    if len(t) > 1 and t[-1] in units and t[:-1].isdigit():
        return now - timedelta(**{units[t[-1]]: int(t[:-1])})
    from .oauth_files import parse_iso

    try:
        when = parse_iso(text)
    except ValueError:
        raise ConfigError(
            f"cannot read {text!r} as a date",
            "write 2025-06-01, 2025-06-01T12:00, today, yesterday, 12h, 7d or 4w (times are UTC)",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def row_cost(row: Mapping[str, Any], user_prices: Mapping[str, Any] | None) -> float | None:
    """USD for one logged row, or None when its price (or its token count) is unknown."""
    u = Usage(
        row["input_tokens"], row["output_tokens"], row["reasoning_tokens"], row["cached_tokens"]
    )
    return request_cost(row["profile"], row["model"], u, row["status"], user_prices)


def group_key(row: Mapping[str, Any], by: str) -> str:
    """The label a row is grouped under."""
    if by == "target":
        return f"{row['profile']}:{row['model']}"
    if by == "key":
        return f"{row['profile']} · {row['key_fingerprint'] or 'no key'}"
    if by == "day":
        return str(row["time"])[:10]
    return str(row[by])


@dataclass
class Group:
    """One line of the usage table."""

    key: str
    requests: int = 0
    ok: int = 0
    failed: int = 0
    interrupted: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    priced: int = 0
    free: int = 0  # refused before any token: costs nothing whether or not the model is priced
    ttfts: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)

    def add(self, row: Mapping[str, Any], cost: float | None) -> None:
        self.requests += 1
        status = row["status"]
        if status == "ok":
            self.ok += 1
        elif status == "interrupted":
            self.interrupted += 1
        else:
            self.failed += 1
        self.input_tokens += row["input_tokens"] or 0
        self.output_tokens += row["output_tokens"] or 0
        self.reasoning_tokens += row["reasoning_tokens"] or 0
        self.cached_tokens += row["cached_tokens"] or 0
        if cost == 0.0 and status not in ("ok", "interrupted"):
            self.free += 1
        elif cost is not None:
            self.cost += cost
            self.priced += 1
        if row["ttft"] is not None:
            self.ttfts.append(row["ttft"])
        if row["total"] is not None:
            self.totals.append(row["total"])

    @property
    def known_cost(self) -> float | None:
        """The summed cost of the priced requests; None when none is priced (a group of
        requests that were all refused before any token cost 0)."""
        if self.priced:
            return self.cost
        return 0.0 if self.free == self.requests else None

    @property
    def cost_complete(self) -> bool:
        return self.priced + self.free == self.requests

    @property
    def median_ttft(self) -> float | None:
        return statistics.median(self.ttfts) if self.ttfts else None

    @property
    def median_total(self) -> float | None:
        return statistics.median(self.totals) if self.totals else None


def summarize(
    rows: Iterable[Mapping[str, Any]],
    by: str = "target",
    user_prices: Mapping[str, Any] | None = None,
) -> tuple[list[Group], Group]:
    """(groups sorted by label, the total over all rows)."""
    if by not in BY:
        from .errors import ConfigError

        raise ConfigError(f"cannot group usage by {by!r}", f"use one of: {', '.join(BY)}")
    groups: dict[str, Group] = {}
    total = Group("total")
    for row in rows:
        cost = row_cost(row, user_prices)
        key = group_key(row, by)
        groups.setdefault(key, Group(key)).add(row, cost)
        total.add(row, cost)
    return [groups[k] for k in sorted(groups)], total


def export_csv(
    rows: Sequence[Mapping[str, Any]],
    file: str | Path,
    user_prices: Mapping[str, Any] | None = None,
) -> int:
    """Write one CSV line per request, with ``cost_usd`` (blank when unknown); the count.

    The ``prompt`` and ``answer`` columns appear only when some row has text.
    """
    import csv

    from .usage import COLUMNS

    text = any(r.get("prompt") is not None or r.get("answer") is not None for r in rows)
    cols = [c for c in COLUMNS if text or c not in ("prompt", "answer")]
    with open(file, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([*cols, "cost_usd"])
        for r in rows:
            cost = row_cost(r, user_prices)
            out.writerow([*(r[c] for c in cols), "" if cost is None else f"{cost:.6f}"])
    return len(rows)


PLOT_HINT = 'the chart needs matplotlib: pip install "byok_magic[plot]"'


def plot_png(
    rows: Sequence[Mapping[str, Any]], user_prices: Mapping[str, Any] | None = None
) -> bytes:
    """Tokens and cost over time by model, as PNG bytes (days, or hours within two days).

    Raises ImportError with :data:`PLOT_HINT` when matplotlib is missing.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(PLOT_HINT) from None
    import io

    from .prices import PRICES_AS_OF

    times = [str(r["time"]) for r in rows]
    hourly = bool(times) and _span_days(times[0], times[-1]) < 2
    tokens: dict[str, dict[str, float]] = {}
    costs: dict[str, dict[str, float]] = {}
    buckets: list[str] = []
    for r in rows:
        b = str(r["time"])[:13].replace("T", " ") + ":00" if hourly else str(r["time"])[:10]
        if not buckets or buckets[-1] != b:
            buckets.append(b)
        model = str(r["model"])
        t = (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
        tokens.setdefault(model, {}).setdefault(b, 0)
        tokens[model][b] += t
        cost = row_cost(r, user_prices)
        if cost is not None:
            costs.setdefault(model, {}).setdefault(b, 0.0)
            costs[model][b] += cost
    fig = Figure(figsize=(9, 6), dpi=100, layout="constrained")
    ax_tok, ax_cost = fig.subplots(2, 1, sharex=True)
    x = list(range(len(buckets)))
    for ax, series, label in (
        (ax_tok, tokens, "tokens (in + out)"),
        (ax_cost, costs, "cost (USD)"),
    ):
        bottom = [0.0] * len(buckets)
        for model in sorted(series):
            heights = [series[model].get(b, 0.0) for b in buckets]
            ax.bar(x, heights, bottom=bottom, label=model)
            bottom = [a + h for a, h in zip(bottom, heights, strict=True)]
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    if tokens:
        ax_tok.legend(fontsize="small", loc="upper left")
    if not costs:
        ax_cost.text(
            0.5, 0.5, "no prices known for these models", ha="center", transform=ax_cost.transAxes
        )
    ax_cost.set_xticks(x, buckets, rotation=30, ha="right", fontsize="small")
    unit = "hour" if hourly else "day"
    fig.suptitle(f"byok usage by model, per {unit} (UTC); prices as of {PRICES_AS_OF}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _span_days(first: str, last: str) -> float:
    a = datetime.fromisoformat(first)
    b = datetime.fromisoformat(last)
    return (b - a).total_seconds() / 86400


# ---------------------------------------------------------------------------------------------
# the `%byok usage` / `byok usage` command, shared by both faces


def add_usage_arguments(p: Any, terminal: bool = False) -> None:
    """The options of ``%byok usage`` and (``terminal``: ``--plot FILE.png``) ``byok usage``."""
    p.add_argument("--since", metavar="DATE", help="2025-06-01, today, 7d, 12h ... (UTC)")
    p.add_argument("--by", choices=BY, default="target", help="group rows by (default: target)")
    if terminal:
        p.add_argument("--plot", metavar="FILE.png", help="write a chart of tokens and cost")
    else:
        p.add_argument("--plot", action="store_true", help="chart tokens and cost by model")
    p.add_argument("--export", metavar="FILE.csv", help="also write one CSV line per request")
    p.add_argument("--clear", action="store_true", help="delete logged requests (all, or --before)")
    p.add_argument("--before", metavar="DATE", help="with --clear: only requests before DATE")


def usage_report(router: Any, args: Any, *, markdown: bool = True) -> tuple[str, bytes | None]:
    """(the text to show, PNG bytes when ``--plot`` asked for a chart and one could be drawn)."""
    from .errors import ConfigError
    from .prices import PRICES_AS_OF
    from .reports import table, text_table, usage_headers, usage_rows
    from .usage import UsageLog

    def code(s: object) -> str:
        return f"`{s}`" if markdown else str(s)

    log = UsageLog.of(router)
    if args.before and not args.clear:
        raise ConfigError("--before only goes with --clear", "write --clear --before DATE")
    if args.clear:
        before = parse_when(args.before) if args.before else None
        n = log.clear(before)
        when = f" before {before:%Y-%m-%d %H:%M} UTC" if before else ""
        return f"Deleted {n} logged request(s){when} from {code(log.path)}.", None
    config = router.config
    config.refresh()
    prices = config.prices
    since = parse_when(args.since) if args.since else None
    rows = log.rows(since)
    notes: list[str] = []
    if args.export:
        n = export_csv(rows, args.export, prices)
        notes.append(f"Exported {n} request(s) to {code(args.export)}.")
    period = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
    if not rows:
        notes.append(f"No requests logged{period} (log: {code(log.path)}).")
        return "\n\n".join(notes), None
    groups, total = summarize(rows, args.by, prices)
    show = table if markdown else text_table
    out = [show(usage_headers(args.by), usage_rows(groups, total, markdown))]
    out.append(
        f"{total.requests} request(s){period} · log: {code(log.path)} · "
        f"built-in prices as of {PRICES_AS_OF}"
    )
    if not total.cost_complete:
        out.append(
            "unknown: no price for that model (or no token count). Add one to profiles.toml: "
            + code('[prices."PROFILE:MODEL"] input = 2.0  output = 8.0  cached = 0.5')
            + " (USD per million tokens)."
        )
    png = None
    if args.plot:
        try:
            png = plot_png(rows, prices)
        except ImportError:
            out.append(PLOT_HINT)
    return "\n\n".join(notes + out), png
