"""OAuth credential files: read, recognise and check them, without ever sending one.

Two families of files look alike (docs/providers.md §8, docs/interface.md "OAuth credential
files"):

* **Usable**: Google's ``authorized_user`` credential, what ``gcloud auth application-default
  login`` writes (``client_id``, ``client_secret``, ``refresh_token``, optionally
  ``quota_project_id``). byok refreshes its access token itself (:mod:`byok_magic.oauth`) and
  sends it to Vertex AI.
* **Recognised and refused**: the logins of Qwen Code (``~/.qwen/oauth_creds.json``), Gemini CLI
  (``~/.gemini/oauth_creds.json``) and Claude Code (``~/.claude/.credentials.json``, or under
  ``$CLAUDE_CONFIG_DIR``). The Qwen OAuth free tier was discontinued on 2026-04-15, and Google's
  and Anthropic's terms forbid third-party tools from using Gemini CLI or Claude subscription
  logins. byok shows what such a file is and when it expires, explains why it does not use it,
  and names the route that works. Nothing here builds a request from these files: their tokens
  are never put in a :class:`~byok_magic.credentials.Secret` meant for a header.

Nothing in this module touches the network or shows a token. Messages never quote a value from
the JSON (only key names, kinds and dates).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import errors

__all__ = [
    "TOOL_LOGINS",
    "ParsedCredential",
    "ToolLogin",
    "ToolLoginRefused",
    "detect",
    "expiry_text",
    "load_json",
    "parse_credential",
    "read_file",
    "refusal",
]

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
RELOGIN = "gcloud auth application-default login"


@dataclass(frozen=True)
class ToolLogin:
    """A coding tool's own OAuth login that byok recognises but never uses."""

    key: str  # "qwen-code" | "gemini-cli" | "claude-code"
    name: str  # "Qwen Code"
    why: str  # one line: why byok does not send it
    instead: str  # the route that works, with the exact command


TOOL_LOGINS: dict[str, ToolLogin] = {
    t.key: t
    for t in (
        ToolLogin(
            "qwen-code",
            "Qwen Code",
            "the Qwen OAuth free tier was discontinued on 2026-04-15, so its tokens no longer work",
            "use a DashScope (Alibaba Model Studio) API key: `%byok keys set dashscope` "
            "(or `byok keys set dashscope` in a terminal), then e.g. `%%byok dashscope:qwen-plus`",
        ),
        ToolLogin(
            "gemini-cli",
            "Gemini CLI",
            "Google's terms forbid third-party tools from using Gemini CLI's OAuth login "
            "(the account can be suspended)",
            "use a Gemini API key: `%byok keys set gemini`; or Vertex AI with your own gcloud "
            f"login: `{RELOGIN}`, then `%byok keys set vertex --oauth --from gcloud`",
        ),
        ToolLogin(
            "claude-code",
            "Claude Code",
            "Anthropic's terms forbid third-party tools from using Claude subscription "
            "(Free/Pro/Max) logins",
            "use an Anthropic API key from the Claude Console: `%byok keys set anthropic` "
            "(or `byok keys set anthropic` in a terminal)",
        ),
    )
}


class ToolLoginRefused(errors.ConfigError):
    """A Qwen Code, Gemini CLI or Claude Code login was offered: byok explains and sends nothing."""

    kind = "not_allowed"


def refusal(tool: ToolLogin, where: str = "") -> ToolLoginRefused:
    """The short, plain explanation plus the route that works instead."""
    at = f" ({where})" if where else ""
    return ToolLoginRefused(
        f"this is a {tool.name} login{at}; byok does not send it: {tool.why}", tool.instead
    )


# ---------------------------------------------------------------------------------------------
# recognising a file by its shape


def detect(data: Any) -> ToolLogin | None:
    """Which tool's login ``data`` (a parsed JSON value) is, or None.

    Claude Code: a ``claudeAiOauth`` object. Qwen Code: ``resource_url`` next to a token.
    Gemini CLI: a google-auth-library ``Credentials`` dump: ``expiry_date`` (ms) and no
    ``client_id``/``type`` (its ``scope`` names ``cloud-platform``).
    """
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("claudeAiOauth"), dict) or "claudeAiOauth" in data:
        return TOOL_LOGINS["claude-code"]
    tokens = "access_token" in data or "refresh_token" in data
    if tokens and "resource_url" in data:
        return TOOL_LOGINS["qwen-code"]
    if tokens and "client_id" not in data and "type" not in data:
        scope = str(data.get("scope") or "")
        if "expiry_date" in data or "cloud-platform" in scope:
            return TOOL_LOGINS["gemini-cli"]
    return None


def expiry_of(data: Any) -> float | None:
    """When the access token in a credential expires (epoch seconds), if it says."""
    if not isinstance(data, dict):
        return None
    inner = data.get("claudeAiOauth")
    if isinstance(inner, dict):
        return _epoch(inner.get("expiresAt"), ms=True)
    if "expiry_date" in data:
        return _epoch(data.get("expiry_date"), ms=True)
    return _epoch(data.get("expiry"))


def parse_iso(text: str) -> datetime:
    """``datetime.fromisoformat`` that reads ``Z`` and any number of fractional-second digits
    (Go writes up to 9, JavaScript 3) on Python 3.10 as 3.11+ does; ValueError otherwise."""
    text = re.sub(
        r"(\d\d:\d\d:\d\d)[.,](\d+)", lambda m: f"{m[1]}.{(m[2] + '00000')[:6]}", text.strip()
    )
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _epoch(value: Any, ms: bool = False) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if ms or value > 1e11 else float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _epoch(float(text), ms)
        try:
            when = parse_iso(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    return None


def expiry_text(expiry: float | None, now: float | None = None) -> str:
    """``expires 2026-08-01 12:00 UTC`` / ``expired 2026-…`` / ``no expiry given``."""
    if expiry is None:
        return "no expiry given"
    stamp = datetime.fromtimestamp(expiry, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"expired {stamp}" if expiry <= (now or time.time()) else f"expires {stamp}"


# ---------------------------------------------------------------------------------------------
# the usable kind: Google authorized_user


@dataclass(frozen=True)
class ParsedCredential:
    """A checked ``authorized_user`` credential: what it is, never a token (see oauth.py)."""

    kind: str
    data: dict[str, Any]
    project_id: str | None = None

    def __repr__(self) -> str:
        return f"ParsedCredential({self.kind!r}, project_id={self.project_id!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a parsed OAuth credential cannot be pickled")


def load_json(text: str) -> Any:
    """The JSON value in ``text``; a ConfigError (with line and column, no content) if broken."""
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise errors.ConfigError("no OAuth JSON was given", "nothing was stored")
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f"line {getattr(exc, 'lineno', '?')}, column {getattr(exc, 'colno', '?')}"
        msg = getattr(exc, "msg", "error")
    raise errors.ConfigError(
        f"the OAuth credential is not valid JSON ({where}: {msg})",
        "paste the whole file, from { to }",
    )


def parse_credential(text: str, where: str = "") -> ParsedCredential:
    """Check an OAuth credential file's text; raise a clear ConfigError for anything unusable.

    A tool login (Qwen Code, Gemini CLI, Claude Code) raises :class:`ToolLoginRefused` with the
    explanation and the route that works. Google ``authorized_user`` is the one kind accepted;
    ``token_uri`` may point elsewhere only on googleapis.com (or a loopback address, for tests),
    so a crafted file cannot send the refresh token to a third party.
    """
    data = load_json(text)
    if not isinstance(data, dict):
        raise errors.ConfigError(
            "the OAuth credential must be a JSON object ({...})", "paste the whole file"
        )
    tool = detect(data)
    if tool is not None:
        _remember_tokens(data)  # never sent; redacted anyway should anything quote them
        raise refusal(tool, where)
    kind = data.get("type")
    if kind != "authorized_user":
        what = (
            f"OAuth credential type {kind!r} is not supported"
            if kind
            else 'the JSON has no "type": it is not a Google OAuth credential file'
        )
        raise errors.ConfigError(
            what + (" (service-account keys are not taken)" if kind == "service_account" else ""),
            f"run `{RELOGIN}` and give the authorized_user file it writes "
            "(`%byok keys set NAME --oauth --from gcloud`)",
        )
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not data.get(k)]
    if missing:
        raise errors.ConfigError(
            f"the authorized_user credential lacks {', '.join(missing)}",
            f"give the whole file that `{RELOGIN}` writes",
        )
    bad = [k for k in ("client_id", "client_secret", "refresh_token") if not _is_str(data[k])]
    if bad:
        raise errors.ConfigError(
            f"the authorized_user credential's {', '.join(bad)} must be text", "give the file as is"
        )
    check_token_uri(data.get("token_uri"))
    project = data.get("projectId") or data.get("project_id") or data.get("quota_project_id")
    return ParsedCredential("authorized_user", data, str(project) if project else None)


def _remember_tokens(data: dict[str, Any]) -> None:
    from .redact import remember

    inner = data.get("claudeAiOauth")
    for d in (data, inner if isinstance(inner, dict) else {}):
        for k in ("access_token", "refresh_token", "id_token", "accessToken", "refreshToken"):
            if isinstance(d.get(k), str):
                remember(d[k])


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


_GOOGLE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)*googleapis\.com$")


def check_token_uri(uri: Any) -> str:
    """The token endpoint to use: Google's, or an https googleapis.com / loopback override."""
    if uri is None or uri == "":
        return GOOGLE_TOKEN_URI
    from .transport import is_loopback

    m = re.match(r"^(https?)://([^/?#@\s]+)(/[^\s]*)?$", str(uri))
    host = m.group(2).rsplit(":", 1)[0].strip("[]").lower() if m else ""
    if m and (is_loopback(host) or (m.group(1) == "https" and _GOOGLE_HOST.match(host))):
        return str(uri)
    raise errors.ConfigError(
        "the credential's token_uri is not a Google token endpoint (https://…googleapis.com)",
        "byok sends the refresh token only to Google; remove token_uri or fix it",
    )


def read_file(path: str | Path) -> str:
    """A credential file's text (at most 1 MiB); a ConfigError without its content if not."""
    p = Path(path).expanduser()
    failure = ""
    try:
        with p.open("r", encoding="utf-8") as fh:
            return fh.read(1 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        failure = type(exc).__name__
    raise errors.ConfigError(
        f"cannot read the OAuth credential file {p} ({failure})",
        "give the path of an existing file, or paste the JSON itself",
    )
