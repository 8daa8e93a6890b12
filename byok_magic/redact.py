"""Redaction: the last line of defence for text that might hold a key.

Known secrets (every secret byok revealed in this process) are replaced wherever they appear;
key-shaped strings (``sk-…``, ``AIza…``, ``?key=…``, bearer values) are replaced too.
A :class:`RedactFilter` is installed on byok's and httpx's loggers.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref

_KEY_SHAPES = re.compile(
    r"(?P<sk>\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_\-]{8,})"
    r"|(?P<aiza>\bAIza[0-9A-Za-z_\-]{20,})"
    r"|(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/\-]{8,}=*"
    r"|(?P<q>[?&](?:key|api_key|api-key|access_token|token)=)[^&\s\"']+"
)
_known: set[str] = set()
_lock = threading.Lock()
MASK = "[REDACTED]"


def remember(secret: str) -> None:
    """Register a secret value so :func:`redact` removes it from any text."""
    if len(secret) >= 6:
        with _lock:
            _known.add(secret)


def _shape(m: re.Match[str]) -> str:
    prefix = m.group("bearer") or m.group("q") or ""
    return prefix + MASK


def redact(text: str) -> str:
    """``text`` with every known secret and key-shaped string replaced by ``[REDACTED]``."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    return _KEY_SHAPES.sub(_shape, text)


class RedactFilter(logging.Filter):
    """Rewrites each record's message through :func:`redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            msg = str(record.msg)
        clean = redact(msg)
        if clean != msg or record.args:
            record.msg, record.args = clean, None
        return True


_installed: weakref.WeakSet[logging.Logger] = weakref.WeakSet()


def install_log_filters() -> None:
    """Put a :class:`RedactFilter` on byok's, httpx's and httpcore's loggers (once)."""
    names: tuple[str, ...] = ("byok_magic", "httpx", "httpcore")
    names += tuple(f"httpcore.{x}" for x in ("connection", "connection_pool", "http11", "http2"))
    names += ("httpcore.proxy",)
    for name in names:
        logger = logging.getLogger(name)
        if logger not in _installed:
            logger.addFilter(RedactFilter())
            _installed.add(logger)
