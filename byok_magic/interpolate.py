"""Safe ``{name}`` interpolation of prompts from the user's namespace.

Only a brace holding a Python-style reference to an *existing* variable is replaced:
``{name}``, ``{obj.attr}``, ``{seq[0]}``, ``{d['k']}``, ``{In[3]}``, ``{Out[3]}``. Every other
brace stays exactly as typed, so JSON, dict literals, f-strings and code survive byte for byte
(no ``str.format``, so nothing like jupyter-ai's KeyError crash on ``{"a": 1}`` can happen).
``{{name}}`` is the escape: it gives a literal ``{name}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_VALUE_CHARS = 20_000
_REF = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\")\])*"
_PATTERN = re.compile(r"\{\{(" + _REF + r")\}\}|\{(" + _REF + r")\}")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+|'[^']*'|\"[^\"]*\")\]")
_MISSING = object()


def _lookup(ref: str, ns: Mapping[str, Any]) -> Any:
    head = re.match(r"[A-Za-z_][A-Za-z0-9_]*", ref)
    assert head is not None
    if head.group(0) not in ns:
        return _MISSING
    value = ns[head.group(0)]
    for m in _STEP.finditer(ref, head.end()):
        attr, index = m.group(1), m.group(2)
        try:
            if attr is not None:
                if attr.startswith("_"):
                    return _MISSING  # private attributes are not a prompt's business
                value = getattr(value, attr)
            elif index is not None and index[0] in "'\"":
                value = value[index[1:-1]]
            else:
                value = value[int(index)]
        except Exception:
            return _MISSING
    return value


def render_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Text for a value: str as is, DataFrames and other objects through their text repr."""
    if isinstance(value, str):
        text = value
    else:
        to_string = getattr(value, "to_string", None)
        try:
            text = to_string() if callable(to_string) else repr(value)
        except Exception:
            text = repr(value)
    if len(text) > limit:
        cut = len(text) - limit
        text = text[:limit] + f"\n… [{cut:,} more characters truncated]"
    return text


def interpolate(
    prompt: str,
    ns: Mapping[str, Any],
    limit: int = MAX_VALUE_CHARS,
    truncated: list[str] | None = None,
) -> str:
    """Replace references to existing variables; leave every other brace as typed.

    References whose value was cut to ``limit`` characters are appended to ``truncated``.
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return "{" + m.group(1) + "}"
        value = _lookup(m.group(2), ns)
        if value is _MISSING:
            return m.group(0)
        text = render_value(value, limit)
        if truncated is not None and text.endswith(" more characters truncated]"):
            truncated.append(m.group(2))
        return text

    return _PATTERN.sub(sub, prompt)
