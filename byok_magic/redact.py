"""Redaction: the last line of defence for text that might hold a key.

Known secrets (every secret byok revealed or stored in this process, see :func:`remember`) are
replaced wherever they appear; key-shaped strings (``sk-…``, ``AIza…``, ``?key=…``, bearer
values, ``x-api-key: …`` header lines) are replaced too. A :class:`RedactFilter` is installed on
byok's and httpx's loggers. :func:`looks_like_key` lets the magics and the command line refuse a
key typed as an argument (it would already sit in shell or IPython history).
"""

from __future__ import annotations

import logging
import re
import threading
import weakref

_KEY_SHAPES = re.compile(
    r"(?P<sk>\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_\-]{8,})"
    r"|(?P<aiza>\bAIza[0-9A-Za-z_\-]{20,})"
    r"|(?P<vendor>\b(?:gsk_|xai-|hf_|ghp_|github_pat_|pplx-|r8_)[A-Za-z0-9_\-]{16,})"
    r"|(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/\-]{8,}=*"
    r"|(?P<hdr>\b(?:x-api-key|api-key|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?)"
    r"[A-Za-z0-9._~+/\-]{8,}=*"
    r"|(?P<q>[?&](?:key|api_key|api-key|access_token|token)=)[^&\s\"']+",
    re.IGNORECASE,
)
_known: set[str] = set()
_lock = threading.Lock()
MASK = "[REDACTED]"
MIN_KNOWN = 6  # shorter "secrets" would redact ordinary words


def remember(secret: str) -> None:
    """Register a secret value so :func:`redact` removes it from any text."""
    if len(secret) >= MIN_KNOWN:
        with _lock:
            _known.add(secret)


def forget(secret: str) -> None:
    """Stop redacting ``secret`` specifically (key shapes are still redacted)."""
    with _lock:
        _known.discard(secret)


def _shape(m: re.Match[str]) -> str:
    prefix = m.group("bearer") or m.group("hdr") or m.group("q") or ""
    return prefix + MASK


def redact(text: str) -> str:
    """``text`` with every known secret and key-shaped string replaced by ``[REDACTED]``."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for s in known:  # longest first: a key that contains another is removed whole
        if s in text:
            text = text.replace(s, MASK)
    return _KEY_SHAPES.sub(_shape, text)


_TOKENISH = re.compile(r"[A-Za-z0-9._~+/=\-]+")


def looks_like_key(arg: str, *, strict: bool = False) -> bool:
    """True for a string that is probably an API key or token rather than a name or option.

    Used to refuse keys passed as arguments. Profile names are at most 64 characters of
    ``[A-Za-z0-9_.-]``; they rarely mix upper case, lower case and digits over 20+ characters.
    ``strict`` accepts only the well-known key shapes (``sk-…``, ``AIza…``...), for arguments
    that may legitimately be long free text, such as a prompt.
    """
    value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
    value = value.strip().strip("'\"")
    if len(value) < 16 or not _TOKENISH.fullmatch(value):
        return False
    if _KEY_SHAPES.fullmatch(value):
        return True
    if strict:
        return False
    if len(value) >= 40:
        return True
    has = (
        any(c.isupper() for c in value),
        any(c.islower() for c in value),
        any(c.isdigit() for c in value),
    )
    if len(value) >= 20 and all(has):
        return True
    # Azure keys: 32 hex digits.
    return len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value)


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            msg = str(record.msg)
        clean = redact(msg)
        if clean != msg or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # A formatted traceback can quote a URL with ?key=. Formatters print exc_text when
            # it is set, so the redacted text is what handlers show.
            import traceback

            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(text)
        return True


_installed: weakref.WeakSet[logging.Logger] = weakref.WeakSet()
_ROOTS = ("byok_magic", "httpx", "httpcore")


def _filter(logger: logging.Logger) -> logging.Logger:
    if logger not in _installed:
        logger.addFilter(RedactFilter())
        _installed.add(logger)
    return logger


def get_logger(name: str) -> logging.Logger:
    """A logger whose records are redacted at the source.

    A filter on a logger only sees records created on *that* logger, not ones propagated from
    its children, so every byok module that logs should get its logger here.
    """
    return _filter(logging.getLogger(name))


def install_log_filters() -> None:
    """Put a :class:`RedactFilter` on byok's, httpx's and httpcore's loggers and on every
    child logger of theirs that exists by now (httpcore logs on ``httpcore.http11`` etc.)."""
    names = set(_ROOTS)
    names |= {f"httpcore.{x}" for x in ("connection", "connection_pool", "http11", "http2")}
    names |= {"httpcore.proxy"}
    names |= {n for n in logging.root.manager.loggerDict if n.split(".")[0] in _ROOTS}
    for name in sorted(names):
        _filter(logging.getLogger(name))
