"""Where OAuth credential files live, and a table of what is on this machine.

Default places: gcloud's application-default credential, and the logins of Qwen Code, Gemini CLI
and Claude Code under the user's home (``%USERPROFILE%`` too on Windows). The table shows what
each file is and when its token expires, never a token.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import errors
from .oauth_files import (
    RELOGIN,
    TOOL_LOGINS,
    detect,
    expiry_of,
    expiry_text,
    read_file,
    refusal,
)


def _homes() -> list[Path]:
    """The user's home (``Path.home()``) and, when set and different, ``%USERPROFILE%``."""
    out: list[Path] = []
    with contextlib.suppress(RuntimeError):  # no HOME and no passwd entry
        out.append(Path.home())
    profile = os.environ.get("USERPROFILE")
    if profile and Path(profile) not in out:
        out.append(Path(profile))
    return out


def gcloud_adc_path() -> Path | None:
    """Where ``gcloud auth application-default login`` writes (the first that exists).

    ``$CLOUDSDK_CONFIG``, then ``~/.config/gcloud`` (Linux/macOS) and ``%APPDATA%\\gcloud``
    (Windows).
    """
    name = "application_default_credentials.json"
    dirs: list[Path] = []
    if os.environ.get("CLOUDSDK_CONFIG"):
        dirs.append(Path(os.environ["CLOUDSDK_CONFIG"]))
    if os.environ.get("APPDATA"):
        dirs.append(Path(os.environ["APPDATA"]) / "gcloud")
    dirs += [h / ".config" / "gcloud" for h in _homes()]
    for d in dirs:
        if (d / name).is_file():
            return d / name
    return None


def default_files() -> dict[str, list[Path]]:
    """Each tool's default credential paths (existing or not), Linux/macOS and Windows."""
    homes = _homes()
    claude = [h / ".claude" / ".credentials.json" for h in homes]
    if os.environ.get("CLAUDE_CONFIG_DIR"):
        claude.insert(0, Path(os.environ["CLAUDE_CONFIG_DIR"]) / ".credentials.json")
    adc = gcloud_adc_path()
    return {
        "gcloud": [adc] if adc else [],
        "qwen-code": [h / ".qwen" / "oauth_creds.json" for h in homes],
        "gemini-cli": [h / ".gemini" / "oauth_creds.json" for h in homes],
        "claude-code": claude,
    }


SOURCES = ("gcloud", "qwen-code", "gemini-cli", "claude-code")
_ALIASES = {"qwen": "qwen-code", "gemini": "gemini-cli", "claude": "claude-code"}


def read_source(source: str) -> tuple[str, str]:
    """(text, path) of a tool's credential file at its default location.

    ``source`` is ``gcloud``, ``qwen-code``, ``gemini-cli`` or ``claude-code``.
    """
    key = _ALIASES.get(source, source)
    if key not in SOURCES:
        raise errors.ConfigError(
            f"unknown credential source {source!r}", f"use one of: {', '.join(SOURCES)}"
        )
    for path in default_files()[key]:
        if path.is_file():
            return read_file(path), str(path)
    if key == "gcloud":
        raise errors.ConfigError(
            "no gcloud application-default credential found "
            "(~/.config/gcloud/application_default_credentials.json)",
            f"run `{RELOGIN}` first, or give the file with --file PATH",
        )
    tool = TOOL_LOGINS[key]
    raise refusal(tool, "not found at its default path either")


@dataclass(frozen=True)
class FoundFile:
    """A credential file found at a default path: what it is and when it expires. No tokens."""

    source: str  # gcloud | qwen-code | gemini-cli | claude-code
    path: str
    what: str
    expiry: float | None
    usable: bool
    why: str
    instead: str

    def row(self) -> list[str]:
        when = "refreshed by byok" if self.usable else expiry_text(self.expiry)
        status = "usable with a vertex profile" if self.usable else f"not used: {self.why}"
        return [self.what, self.path, when, status, self.instead]


FOUND_HEADERS = ("login", "file", "access token", "byok", "what to do")


def find_files() -> list[FoundFile]:
    """Tool credential files present at their default paths, described. Never raises."""
    out: list[FoundFile] = []
    for source, paths in default_files().items():
        for path in paths:
            try:
                if not path.is_file():
                    continue
                data = json.loads(read_file(path))
            except (errors.ByokError, ValueError, OSError):
                data = None
            out.append(_describe(source, str(path), data))
    return out


def _describe(source: str, path: str, data: Any) -> FoundFile:
    if source == "gcloud":
        ok = isinstance(data, dict) and data.get("type") == "authorized_user"
        why = "" if ok else "it is not an authorized_user credential"
        instead = "`%byok keys set vertex --oauth --from gcloud`" if ok else f"run `{RELOGIN}`"
        return FoundFile(source, path, "gcloud application-default", None, ok, why, instead)
    tool = detect(data) or TOOL_LOGINS[source]
    return FoundFile(
        source, path, f"{tool.name} login", expiry_of(data), False, tool.why, tool.instead
    )


def found_markdown() -> str:
    """For ``%byok keys``: the login files found at their default paths, as a Markdown table
    (empty when there are none)."""
    from .reports import table

    found = find_files()
    if not found:
        return ""
    return "\n\nOAuth login files found on this machine (tokens never shown):\n\n" + table(
        FOUND_HEADERS, [f.row() for f in found]
    )


def found_text() -> str:
    """The same for ``byok keys list`` in a terminal."""
    from .reports import text_table

    found = find_files()
    if not found:
        return ""
    return "\nOAuth login files found on this machine (tokens never shown):\n" + text_table(
        FOUND_HEADERS, [f.row() for f in found]
    )
