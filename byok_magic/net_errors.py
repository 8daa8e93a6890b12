"""Network failures turned into errors byok builds: one line of cause, one of fix.

Nothing here chains to the httpx exception or quotes it beyond its class name: an httpx
exception can carry the request, and the request carries the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors

if TYPE_CHECKING:
    import httpx

    from .config import Profile
    from .deadlines import Stream

_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def origin(url: str) -> tuple[str, str, int]:
    import httpx

    u = httpx.URL(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return (u.scheme, u.host.lower(), port)


def is_loopback(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.") or host.endswith(".localhost")


def redacted_url(url: str) -> str:
    return url.split("?", 1)[0]


def embedded_status(body: bytes) -> int:
    """The HTTP-like status inside a JSON error body sent with 200 (400 when it has none)."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return 400
    err = data.get("error") if isinstance(data, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return code if isinstance(code, int) and 400 <= code < 600 else 400


def network_error(exc: Exception, url: str, profile: Profile) -> errors.ByokError:
    import httpx

    if isinstance(exc, errors.ByokError):
        return exc
    shown = redacted_url(url)
    host = origin(url)[1]
    if isinstance(exc, httpx.ConnectTimeout):
        return errors.ConnectFailed(
            f"connecting to {shown} timed out",
            "check the address and your network or proxy settings",
        )
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return errors.ConnectFailed(
            f"the TLS certificate of {host} could not be verified ({shown})",
            "behind a corporate proxy or with a private CA, set ca_bundle in the profile or "
            "SSL_CERT_FILE to your CA bundle",
        )
    if isinstance(exc, httpx.ConnectError):
        local = is_loopback(host)
        hint = _LOCAL_HINTS.get(profile.type if profile.type == "ollama" else profile.name, "")
        if local:
            err = errors.ConnectFailed(
                f"could not connect to {shown}: is the server running?",
                hint
                or "start the local server, or fix the profile's base URL "
                f"with `%byok add {profile.name} --base-url URL`",
            )
            err.retryable = False  # a local server that is down stays down for a few seconds
            return err
        return errors.ConnectFailed(
            f"could not connect to {shown} ({type(exc).__name__})",
            "check the address, your network, and HTTPS_PROXY/NO_PROXY settings",
        )
    if isinstance(exc, httpx.TimeoutException):
        return errors.StreamTimeout(
            f"{host} did not answer in time ({shown})",
            "the model may be busy; run the cell again, or raise the profile's first_token timeout",
        )
    return errors.NetworkError(
        f"the request to {shown} failed ({type(exc).__name__})",
        "check the address and your network",
    )


_LOCAL_HINTS = {
    "ollama": "start it with `ollama serve` (or set OLLAMA_HOST to where it runs)",
    "vllm": "start it with `vllm serve MODEL`",
    "litellm": "start it with `litellm --config config.yaml`",
    "foundry-local": "start it with `foundry model run MODEL` and check `foundry service status`",
}


def stream_error(exc: Exception | None, stream: Stream, url: str) -> errors.ByokError:
    if isinstance(exc, errors.ByokError):
        return exc
    host = origin(url)[1]
    why = stream.stopped
    if why == "cancelled":
        return errors.StreamInterrupted("stopped", "the answer so far is kept", stopped=True)
    if why in ("first_token", "idle", "total"):
        limit = {"first_token": stream.first_token_s, "idle": stream.idle_s}.get(
            why, stream.total_s
        )
        what = {
            "first_token": f"no answer from {host} within {limit:.0f} s",
            "idle": f"the stream from {host} stalled for more than {limit:.0f} s",
            "total": f"the answer from {host} took longer than the {limit:.0f} s limit",
        }[why]
        return errors.StreamTimeout(
            what, "the answer so far is kept; run the cell again, or raise the profile's timeouts"
        )
    return errors.StreamInterrupted(
        f"stream interrupted: the connection to {host} closed before the answer was complete",
        "the answer so far is kept; run the cell again",
    )


def redirect_error(resp: httpx.Response, url: str, profile: Profile) -> errors.ByokError:
    where = resp.headers.get("location", "")
    target = ""
    try:
        import httpx

        target = origin(str(httpx.URL(url).join(where)))[1] if where else ""
    except Exception:
        target = ""
    return errors.SecurityError(
        f"{origin(url)[1]} redirected the request ({resp.status_code})"
        + (f" to {target}" if target else "")
        + "; byok does not follow redirects, so no key went there",
        f"set profile {profile.name!r}'s base URL to the final address",
        status=resp.status_code,
    )
