"""Tables the magics, the panel and the command line all show: status, profiles, models.

Plain data in, Markdown or text out; no IPython here, so ``byok`` in a terminal prints the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Profile
    from .events import ModelInfo
    from .router import Answer, Router


def key_source(profile: Profile, router: Router) -> tuple[str, str]:
    """(where the secret comes from, masked value) — never the secret itself."""
    from .credentials import lookup
    from .errors import ByokError

    try:
        cred = lookup(profile, router.store)
    except ByokError as err:
        return (f"error: {err.cause}", "")
    if cred is None:
        return ("none" if profile.needs_secret else "not needed", "")
    return (cred.source, cred.secret.masked)


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
    default = router.config.default_target() or "(none: `%byok use PROFILE:MODEL`)"
    try:
        st = router.store.status()
        keyring_line = (
            f"keyring: {st.name}" if st.ok else f"keyring: unavailable ({st.reason}); env vars work"
        )
    except Exception as exc:  # a broken keyring must not break the status page
        keyring_line = f"keyring: unavailable ({type(exc).__name__})"
    return (
        f"**byok** · default target: `{default}` · {keyring_line}\n\n"
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


def footer(answer: Answer) -> str:
    """``openai:gpt-4.1-mini · 12 in / 340 out tokens · 2.1 s``."""
    parts = [answer.target]
    u = answer.usage
    if u and (u.input_tokens is not None or u.output_tokens is not None):
        parts.append(f"{u.input_tokens or 0:,} in / {u.output_tokens or 0:,} out tokens")
    parts.append(f"{answer.elapsed:.1f} s")
    if answer.finish and answer.finish.reason == "length":
        parts.append("cut at the token limit")
    elif answer.finish and answer.finish.reason == "filtered":
        parts.append(f"stopped by the provider's filter ({answer.finish.native})")
    return " · ".join(parts)
