"""Model prices and what a request cost.

Prices are USD per million tokens: ``input``, ``output`` and ``cached`` (cache-hit input). The
user's ``profiles.toml`` wins over the small built-in table::

    [prices."work:gpt-4.1"]       # one profile's model (an Azure deployment, a gateway...)
    input = 2.0
    output = 8.0
    cached = 0.5

    [prices."my-model"]           # this model on any profile
    input = 0.1
    output = 0.4

    [prices."ollama:*"]           # every model of a profile (local models: zero)
    input = 0
    output = 0

An unknown price is ``None`` and shows as "unknown", never as zero.

Token conventions (:class:`~byok_magic.events.Usage`): ``input_tokens`` counts every prompt
token, cached ones included (OpenAI's and Gemini's convention), and ``output_tokens`` includes
reasoning tokens. Cost = (input − cached) × input price + cached × cached price + output ×
output price; without a cached price, cached tokens are charged at the input price (an upper
bound). Long-context tiers and cache-write surcharges are not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRICES_AS_OF = "2025-10-01"
"""The date the built-in prices were copied from the vendors' price pages."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens; ``cached`` is the cache-hit input price when the vendor has one."""

    input: float
    output: float
    cached: float | None = None
    source: str = "built-in"

    def cost(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None = None,
    ) -> float:
        """USD for these token counts (missing counts are zero)."""
        inp, out, cached = input_tokens or 0, output_tokens or 0, cached_tokens or 0
        cached = min(cached, inp)
        cached_price = self.input if self.cached is None else self.cached
        return ((inp - cached) * self.input + cached * cached_price + out * self.output) / 1e6


def _p(inp: float, cached: float | None, out: float) -> Price:
    return Price(input=inp, output=out, cached=cached)


# Vendors' public list prices (standard tier, prompts up to 200k tokens) as of PRICES_AS_OF.
BUILTIN: dict[str, Price] = {
    # OpenAI
    "gpt-5": _p(1.25, 0.125, 10.00),
    "gpt-5-mini": _p(0.25, 0.025, 2.00),
    "gpt-5-nano": _p(0.05, 0.005, 0.40),
    "gpt-4.1": _p(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _p(0.40, 0.10, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.025, 0.40),
    "gpt-4o": _p(2.50, 1.25, 10.00),
    "gpt-4o-mini": _p(0.15, 0.075, 0.60),
    "o3": _p(2.00, 0.50, 8.00),
    "o3-mini": _p(1.10, 0.55, 4.40),
    "o4-mini": _p(1.10, 0.275, 4.40),
    # Anthropic (cached = cache read)
    "claude-opus-4-1": _p(15.00, 1.50, 75.00),
    "claude-opus-4": _p(15.00, 1.50, 75.00),
    "claude-sonnet-4-5": _p(3.00, 0.30, 15.00),
    "claude-sonnet-4": _p(3.00, 0.30, 15.00),
    "claude-3-7-sonnet": _p(3.00, 0.30, 15.00),
    "claude-3-5-haiku": _p(0.80, 0.08, 4.00),
    # Google Gemini API (paid tier, text input)
    "gemini-2.5-pro": _p(1.25, None, 10.00),
    "gemini-2.5-flash": _p(0.30, None, 2.50),
    "gemini-2.5-flash-lite": _p(0.10, None, 0.40),
    "gemini-2.0-flash": _p(0.10, None, 0.40),
    # DeepSeek (V3.2-Exp prices, both model names)
    "deepseek-chat": _p(0.28, 0.028, 0.42),
    "deepseek-reasoner": _p(0.28, 0.028, 0.42),
}

_SNAPSHOT = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-0)$")


def builtin_price(model: str) -> Price | None:
    """The built-in price of ``model``, also for dated snapshots and ``vendor/`` prefixes.

    ``gpt-4o-2024-08-06`` and ``claude-sonnet-4-20250514`` match; ``gpt-4o-mini`` never falls
    back to ``gpt-4o`` (only date and alias suffixes are stripped).
    """
    name = model.strip().lower()
    if name.startswith("models/"):  # Gemini's resource names
        name = name[len("models/") :]
    name = name.rsplit("/", 1)[-1]  # OpenRouter-style "openai/gpt-4o"
    if name in BUILTIN:
        return BUILTIN[name]
    stripped = _SNAPSHOT.sub("", name)
    return BUILTIN.get(stripped)


def _user_price(key: str, body: Any) -> Price | None:
    if not isinstance(body, Mapping):
        return None
    try:
        inp, out = float(body["input"]), float(body["output"])
        cached = body.get("cached")
        return Price(inp, out, None if cached is None else float(cached), source=key)
    except (KeyError, TypeError, ValueError):
        return None  # an incomplete entry is no price, never a zero price


def price_for(
    profile: str, model: str, user_prices: Mapping[str, Any] | None = None
) -> Price | None:
    """The price of ``profile:model``: the user's table first, then the built-in one."""
    user = user_prices or {}
    for key in (f"{profile}:{model}", model, f"{profile}:*"):
        if key in user:
            found = _user_price(key, user[key])
            if found is not None:
                return found
    return builtin_price(model)


def request_cost(
    profile: str,
    model: str,
    usage: Any,
    status: str,
    user_prices: Mapping[str, Any] | None = None,
) -> float | None:
    """USD for one request, or None when unknown.

    A failed request that reported no usage cost nothing, whatever the price. Otherwise unknown
    when the model has no price, or when an answer that completed or was interrupted reported
    no usage (the provider billed tokens nobody counted).
    """
    no_usage = usage is None or (
        getattr(usage, "input_tokens", None) is None
        and getattr(usage, "output_tokens", None) is None
    )
    if no_usage and status not in ("ok", "interrupted"):
        return 0.0  # refused before any token was produced: nothing to pay, price or not
    price = price_for(profile, model, user_prices)
    if price is None or no_usage:
        return None
    return price.cost(usage.input_tokens, usage.output_tokens, usage.cached_tokens)


def format_cost(cost: float | None, unknown: bool = False) -> str:
    """``$0.0123``; ``unknown`` when nothing is known; ``$0.0123 + unknown`` when part is."""
    if cost is None:
        return "unknown"
    text = f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"
    return text + " + unknown" if unknown else text
