"""Tables the magics, the panel and the command line all show: status, profiles, models.

Plain data in, Markdown or text out; no IPython here, so ``byok`` in a terminal prints the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Profile
    from .events import ModelInfo
    from .router import Answer, Router
    from .usage_summary import Group


def key_source(profile: Profile, router: Router) -> tuple[str, str]:
    """(where the secret comes from, masked value) — never the secret itself.

    A token provider is named, not called: a status page must not fetch tokens.
    """
    from .credentials import describe

    src = describe(profile, router.store)  # an unusable keyring is said once, in the header
    return (src.source, src.masked or "")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (pipes in cells escaped)."""

    def cell(v: object) -> str:
        return ("" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The same table for a terminal: aligned columns."""
    data = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in data]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in data]
    return "\n".join(lines)


def profile_rows(router: Router) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, p in sorted(router.config.profiles().items()):
        source, masked = key_source(p, router)
        rows.append([name, p.type, p.base_url or "(not set)", p.model or "", source, masked])
    return rows


PROFILE_HEADERS = ("profile", "type", "base URL", "default model", "secret from", "secret")


def status_markdown(router: Router) -> str:
    """What `%byok` shows: the default target, the keyring, every profile and its secret."""
    target = router.config.default_target()
    default = f"`{target}`" if target else "none (`%byok use PROFILE:MODEL` sets one)"
    try:
        st = router.store.status()
        keyring_line = (
            f"keyring: {st.name}" if st.ok else f"keyring: unavailable ({st.reason}); env vars work"
        )
    except Exception as exc:  # a broken keyring must not break the status page
        keyring_line = f"keyring: unavailable ({type(exc).__name__})"
    return (
        f"**byok** · default target: {default} · {keyring_line}\n\n"
        + table(PROFILE_HEADERS, profile_rows(router))
        + f"\n\nProfiles file: `{router.config.path}`"
    )


def model_rows(models: Iterable[ModelInfo], has_secret: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    for m in models:
        hints = []
        if m.vision:
            hints.append("vision")
        if m.reasoning:
            hints.append("reasoning")
        if m.context_window:
            hints.append(f"{m.context_window:,} ctx")
        mark = "" if has_secret else "🔑 key required"
        rows.append([m.target, m.name or "", ", ".join(hints), mark])
    return rows


MODEL_HEADERS = ("target", "name", "capabilities", "")


def model_listing(
    router: Router, names: Iterable[str], refresh: bool = False, strict: bool = False
) -> tuple[list[list[object]], list[str]]:
    """Rows for ``models`` across profiles, and one line per profile that could not be listed.

    A profile that needs a key and has none is not contacted (its cached list, if any, is shown
    marked 🔑); with ``strict`` (one profile asked for by name) its error is raised instead.
    """
    from .credentials import describe
    from .errors import ByokError

    rows: list[list[object]] = []
    problems: list[str] = []
    from .models import cached

    for name in names:
        prof = router.config.get(name)
        has_secret = describe(prof, router.store).source not in ("none",)
        if not strict and not has_secret and prof.needs_secret:
            # not contacted: offline, each cloud preset would cost a connect timeout
            known = cached(prof)
            if known:
                rows += model_rows(known, has_secret)
            else:
                rows.append([f"{name}:…", "", "", f"🔑 key required: `keys set {name}`"])
            continue
        try:
            models = router.list_models(name, refresh=refresh)
        except ByokError as err:
            if strict:
                raise
            problems.append(f"{name}: {err.cause}")
            continue
        rows += model_rows(models, has_secret)
    return rows, problems


def footer(answer: Answer, user_prices: Mapping[str, Any] | None = None) -> str:
    """``openai:gpt-4.1-mini · 12 in / 340 out tokens · $0.0006 · 2.1 s``.

    The cost appears only when the model's price is known (``user_prices`` is the profile
    file's ``[prices]`` table; by default the process router's).
    """
    from .prices import format_cost, request_cost

    parts = [answer.target]
    u = answer.usage
    if u and (u.input_tokens is not None or u.output_tokens is not None):
        parts.append(f"{u.input_tokens or 0:,} in / {u.output_tokens or 0:,} out tokens")
        if user_prices is None:
            user_prices = _configured_prices()
        cost = request_cost(answer.profile, answer.model, u, answer.status, user_prices)
        if cost is not None:
            parts.append(format_cost(cost))
    parts.append(f"{answer.elapsed:.1f} s")
    if answer.finish and answer.finish.reason == "length":
        parts.append("cut at the token limit")
    elif answer.finish and answer.finish.reason == "filtered":
        parts.append(f"stopped by the provider's filter ({answer.finish.native})")
    parts += answer.notes
    return " · ".join(parts)


def _configured_prices() -> Mapping[str, Any]:
    """The ``[prices]`` table of the process router's profile file ({} when unreadable)."""
    try:
        from .router import router

        config = router().config
        config.refresh()
        return config.prices
    except Exception:  # a broken profile file must not break a footer
        return {}


def usage_headers(by: str) -> tuple[str, ...]:
    """Column names of the usage table; the first names what rows are grouped by."""
    first = "day (UTC)" if by == "day" else by
    return (
        first,
        "requests",
        "ok",
        "failed",
        "interrupted",
        "input tokens",
        "output tokens",
        "reasoning",
        "cached",
        "cost",
        "median TTFT",
        "median time",
    )


def usage_rows(groups: Sequence[Group], total: Group, markdown: bool = True) -> list[list[object]]:
    """One row per group, then a total row when there is more than one group."""
    from .prices import format_cost

    def secs(v: float | None) -> str:
        return "" if v is None else f"{v:.2f} s"

    def row(g: Group, label: str) -> list[object]:
        return [
            label,
            g.requests,
            g.ok,
            g.failed,
            g.interrupted,
            f"{g.input_tokens:,}",
            f"{g.output_tokens:,}",
            f"{g.reasoning_tokens:,}",
            f"{g.cached_tokens:,}",
            format_cost(g.known_cost, unknown=not g.cost_complete),
            secs(g.median_ttft),
            secs(g.median_total),
        ]

    rows = [row(g, g.key) for g in groups]
    if len(groups) > 1:
        rows.append(row(total, "**total**" if markdown else "total"))
    return rows
