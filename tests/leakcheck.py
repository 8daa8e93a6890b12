"""The "secret form" detector (docs/security.md §5), adapted from the shared security probes.

A key counts as leaked when any of these appears in a blob: the raw key, any window of 8 or
more characters of it, its JSON-escaped or URL-encoded form, its hex, or its base64 (standard
or URL-safe) at any of the three byte alignments inside a larger encoded blob. The masked
display ``…abcd`` (last four characters) is allowed.
"""

from __future__ import annotations

import base64
import binascii
import json
import pickle
import traceback
import urllib.parse
from collections.abc import Iterable

MIN_WINDOW = 8


def _b64_cores(data: bytes, encode: object) -> set[str]:
    """Base64 of ``data`` as it would look inside a larger blob, at each byte alignment."""
    out = set()
    for pad in range(3):
        enc = encode(b"\0" * pad + data).decode()  # type: ignore[operator]
        # Drop the characters that also depend on the neighbouring (unknown) bytes.
        skip = (pad * 4 + 2) // 3 + (1 if pad else 0)
        core = enc[skip:].rstrip("=")
        out.add(core[:-2] if len(core) > 4 else core)
    return out


def secret_forms(secret: str, min_len: int = MIN_WINDOW) -> set[str]:
    """Every encoding under which a key commonly leaks, plus all windows ≥ ``min_len`` chars."""
    raw = secret.encode()
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        binascii.hexlify(raw).decode(),
        binascii.hexlify(raw).decode().upper(),
    }
    forms |= _b64_cores(raw, base64.b64encode)
    forms |= _b64_cores(raw, base64.urlsafe_b64encode)
    windows = {secret[i : i + min_len] for i in range(len(secret) - min_len + 1)}
    return {f for f in forms if len(f) >= min_len} | windows


def leaked_forms(blob: str | bytes, secret: str, min_len: int = MIN_WINDOW) -> set[str]:
    """All secret forms found in ``blob``."""
    if isinstance(blob, bytes):
        blob = blob.decode("latin-1")
    return {f for f in secret_forms(secret, min_len) if f in blob}


def find_secret(blob: str | bytes, secret: str, min_len: int = MIN_WINDOW) -> str | None:
    """The longest leaked form found in ``blob``, or None."""
    found = leaked_forms(blob, secret, min_len)
    return max(found, key=len) if found else None


def _shown(form: str) -> str:
    # Never print a whole key into test logs, even a fake one.
    return f"{form[:3]}…({len(form)} chars)"


def assert_no_secret(blob: str | bytes, secrets: Iterable[str] | str, where: str = "") -> None:
    """Fail with a masked description when ``blob`` holds a form of any of ``secrets``."""
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        form = find_secret(blob, secret)
        assert form is None, f"secret form {_shown(form)} found in {where or 'blob'}"


def exception_texts(err: BaseException) -> dict[str, str | bytes]:
    """Everything an exception exposes: str, repr, args, full traceback, pickle."""
    out: dict[str, str | bytes] = {
        "str": str(err),
        "repr": repr(err),
        "args": repr(err.args),
        "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
        "vars": repr(getattr(err, "__dict__", {})),
    }
    try:
        out["pickle"] = pickle.dumps(err)
    except Exception as exc:  # unpicklable is fine: nothing leaks that way
        out["pickle"] = f"<unpicklable: {type(exc).__name__}>"
    return out


if __name__ == "__main__":
    k = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for pre in ("", "x", "xy", "xyz"):
        assert find_secret(base64.b64encode((pre + k + "tail").encode()).decode(), k), pre
    assert find_secret("Bearer%20" + urllib.parse.quote(k), k)
    assert find_secret(json.dumps({"v": k}), k)
    assert find_secret("masked: …6789", k) is None
    print("leakcheck self-test OK")
