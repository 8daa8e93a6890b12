"""A small TOML writer for the profile file's shapes (tomllib only reads)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    out = "".join(c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}" for c in out)
    return f'"{out}"'


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_str(k)


def dump_toml(data: Mapping[str, Any]) -> str:
    """Write the profile-file shape: top-level scalars, ``[profiles.X]`` and their models."""
    lines = ["# byok_magic profiles. Secrets never go here: `%byok keys set NAME` stores them.", ""]
    for k, v in data.items():
        if not isinstance(v, Mapping):
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in data.items():
        if not isinstance(v, Mapping) or k == "profiles":
            continue
        lines += ["", f"[{_toml_key(k)}]"]
        lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
    for name, body in data.get("profiles", {}).items():
        lines += ["", f"[profiles.{_toml_key(name)}]"]
        for k, v in body.items():
            if k != "models":
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for m in body.get("models", []):
            lines += ["", f"[[profiles.{_toml_key(name)}.models]]"]
            lines += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in m.items()]
    return "\n".join(lines) + "\n"
