"""Base URLs found at run time: Foundry Local's dynamic port, and ``OLLAMA_HOST``.

The router calls :func:`discover` for profiles whose quirks name a ``discover`` kind, just
before a request or a model listing. Nothing here reveals or needs a secret.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Profile

FOUNDRY_TIMEOUT = 8.0  # the CLI is a .NET program; its first start can be slow
FOUNDRY_CACHE_S = 30.0  # the port changes only when the service restarts
OLLAMA_DEFAULT = "http://localhost:11434"
_URL_IN_TEXT = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?", re.I)
_foundry_cache: tuple[float, str] | None = None


def discover(profile: Profile) -> Profile:
    """The profile with its run-time base URL filled in (unchanged when nothing applies)."""
    kind = profile.quirks.get("discover")
    if kind == "foundry-local" and not profile.base_url:
        return replace(profile, base_url=foundry_local_url(profile.name))
    if kind == "ollama-host":
        host = os.environ.get("OLLAMA_HOST", "").strip()
        # OLLAMA_HOST only moves the preset's default address, never one the user typed
        if host and (not profile.base_url or profile.base_url.rstrip("/") == OLLAMA_DEFAULT):
            return replace(profile, base_url=ollama_url(host))
    return profile


def ollama_url(host: str) -> str:
    """``OLLAMA_HOST`` as a client URL, the way the ``ollama`` CLI reads it.

    ``0.0.0.0:11434``, ``:11434``, ``myhost``, ``http://box:8080/prefix`` are all accepted; a bind
    address (``0.0.0.0``, ``::``) means this machine; the port defaults to 11434 without a
    scheme, else to the scheme's own.
    """
    host = host.strip()
    scheme, sep, rest = host.partition("://")
    port = "11434"
    if not sep:
        scheme, rest = "http", host
    elif scheme == "https":
        port = "443"
    elif scheme == "http":
        port = "80"
    hostport, _, path = rest.partition("/")
    name, p = _split_hostport(hostport)
    name = name or "127.0.0.1"
    if name in ("0.0.0.0", "::", "[::]", "*"):
        name = "localhost"
    if p is not None and p.isdigit() and 0 < int(p) < 65536:
        port = p
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    url = f"{scheme}://{name}:{port}"
    return f"{url}/{path.strip('/')}" if path.strip("/") else url


def _split_hostport(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):  # [::1]:11434
        end = hostport.find("]")
        name = hostport[: end + 1]
        rest = hostport[end + 1 :]
        return name, rest[1:] if rest.startswith(":") else None
    if hostport.count(":") == 1:
        name, _, port = hostport.partition(":")
        return name, port
    return hostport, None  # a bare name, or a bare IPv6 address


def foundry_local_url(profile_name: str = "foundry-local") -> str:
    """Foundry Local's OpenAI-compatible base, ``http://127.0.0.1:PORT/v1``.

    Asks ``foundry service status`` when the CLI is installed, else reads
    ``FOUNDRY_LOCAL_ENDPOINT``; otherwise says how to give the address by hand.
    """
    global _foundry_cache
    now = time.monotonic()
    if _foundry_cache and now - _foundry_cache[0] < FOUNDRY_CACHE_S:
        return _foundry_cache[1]
    found = _from_cli() or _from_env()
    if not found:
        raise ConfigError(
            "Foundry Local: could not find the running service's address (no `foundry` CLI "
            "answer and no FOUNDRY_LOCAL_ENDPOINT)",
            "start it with `foundry model run MODEL`, then give the port that `foundry service "
            f"status` shows: `%byok add {profile_name} --base-url http://localhost:PORT/v1` "
            "(or set FOUNDRY_LOCAL_ENDPOINT)",
        )
    _foundry_cache = (now, found)
    return found


def forget() -> None:
    """Drop the remembered Foundry Local address (after the service restarted)."""
    global _foundry_cache
    _foundry_cache = None


def _from_cli() -> str | None:
    exe = shutil.which("foundry")
    if not exe:
        return None
    try:
        done = subprocess.run(
            [exe, "service", "status"],
            capture_output=True,
            text=True,
            timeout=FOUNDRY_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_status(done.stdout + "\n" + done.stderr)


def parse_status(text: str) -> str | None:
    """The base URL in ``foundry service status`` output, e.g. "… is running on
    http://127.0.0.1:5273/openai/status" → ``http://127.0.0.1:5273/v1``. Loopback only."""
    if re.search(r"not running|is stopped", text, re.I):
        return None
    m = _URL_IN_TEXT.search(text)
    return f"{m.group(0)}/v1" if m else None


def _from_env() -> str | None:
    value = os.environ.get("FOUNDRY_LOCAL_ENDPOINT", "").strip().rstrip("/")
    if not value:
        return None
    if not re.match(r"^https?://", value):
        value = "http://" + value
    return value if re.search(r"/v\d+$", value) else value + "/v1"
