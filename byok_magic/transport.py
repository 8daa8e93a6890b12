"""The one place that touches the network.

It sends a :class:`~byok_magic.providers.base.WireRequest` with one shared ``httpx.Client``
(one SSL context per process), pins the secret to the request's own origin, never follows
redirects, retries only before the first byte of an answer, and watches every open stream
for a first-token, idle-gap and total-lifetime deadline. Every failure leaves as a
:class:`~byok_magic.errors.ByokError` built here, never chained to the httpx exception.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import errors
from .deadlines import DEFAULT_TIMEOUTS, Stream, Watchdog
from .net_errors import (
    embedded_status,
    is_loopback,
    network_error,
    origin,
    redacted_url,
    redirect_error,
    stream_error,
)
from .redact import install_log_filters, remember

if TYPE_CHECKING:
    import httpx

    from .config import Profile
    from .providers.base import WireRequest
    from .streaming import SSEEvent

__all__ = ["DEFAULT_TIMEOUTS", "Stream", "Transport", "is_loopback", "origin", "transport"]

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_SERVER_DELAY = 120.0
ErrorMaker = Callable[[int, Mapping[str, str], bytes], errors.ByokError]


class Transport:
    """Sends wire requests. One instance per process is enough (see :func:`transport`)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str | None, str | None], httpx.Client] = {}
        self._lock = threading.Lock()
        self._watchdog = Watchdog()
        self.sleep = time.sleep

    # -- clients ------------------------------------------------------------------------------

    def client(self, profile: Profile) -> httpx.Client:
        key = (profile.ca_bundle, profile.proxy)
        with self._lock:
            cl = self._clients.get(key)
            if cl is None:
                cl = self._clients[key] = self._make_client(profile)
            return cl

    def _make_client(self, profile: Profile) -> httpx.Client:
        import httpx

        install_log_filters()
        verify: Any = True
        bundle = (
            profile.ca_bundle
            or os.environ.get("SSL_CERT_FILE")
            or os.environ.get("REQUESTS_CA_BUNDLE")
        )
        if bundle:
            import ssl

            verify = ssl.create_default_context(cafile=bundle)
        return httpx.Client(
            verify=verify,
            proxy=profile.proxy,
            trust_env=True,  # HTTPS_PROXY / NO_PROXY
            follow_redirects=False,
            timeout=httpx.Timeout(10.0),
            event_hooks={"request": [_pin_hook]},
        )

    def close(self) -> None:
        with self._lock:
            for cl in self._clients.values():
                cl.close()
            self._clients.clear()

    # -- sending ------------------------------------------------------------------------------

    def _request(self, wire: WireRequest, profile: Profile) -> httpx.Request:
        import httpx

        from .credentials import Secret

        headers = {"accept": _ACCEPT[wire.framing], **wire.headers}
        scheme, host, _ = origin(wire.url)
        form = dict(wire.form) if wire.form is not None else None
        form_secrets = [v for v in (form or {}).values() if isinstance(v, Secret)]
        has_secret = wire.secret is not None or bool(form_secrets)
        if has_secret and scheme != "https" and not is_loopback(host) and not profile.allow_http:
            raise errors.SecurityError(
                f"refusing to send the key for profile {profile.name!r} over plain http to {host}",
                "use an https:// base URL, or set allow_http = true in the profile if this "
                "network is trusted",
            )
        if form is not None:
            for k, v in form.items():
                if isinstance(v, Secret):
                    remember(v.reveal())
                    form[k] = v.reveal()
        if wire.secret is not None:
            assert wire.auth_header
            value = wire.secret.reveal()
            remember(value)
            headers[wire.auth_header] = wire.auth_prefix + value
        t = {**DEFAULT_TIMEOUTS, **profile.timeouts}
        timeout = httpx.Timeout(
            connect=t["connect"], read=t["first_token"] + 5, write=60.0, pool=t["connect"]
        )
        req = httpx.Request(
            wire.method,
            wire.url,
            params=dict(wire.params) or None,
            headers=headers,
            json=wire.json if form is None else None,
            data=form,
        )
        req.extensions["timeout"] = timeout.as_dict()
        req.extensions["byok_pin"] = (origin(wire.url), wire.auth_header)
        return req

    def open(self, wire: WireRequest, profile: Profile, on_error: ErrorMaker) -> Stream:
        """Send with retries (only before any answer byte); return a stream whose status is 2xx."""
        cl = self.client(profile)
        retries = int(profile.timeouts.get("retries", 2))
        attempt = 0
        while True:
            req = self._request(wire, profile)
            stream = Stream({**DEFAULT_TIMEOUTS, **profile.timeouts})
            failure: errors.ByokError | None = None
            try:
                resp = cl.send(req, stream=True)
            except Exception as exc:  # httpx errors can carry headers: never chained, see below
                failure = network_error(exc, wire.url, profile)
            if failure is not None:
                # Raised outside the except block, so __context__ stays None.
                retry = isinstance(failure, errors.ConnectFailed) and failure.retryable
                if retry and attempt < retries:
                    attempt += 1
                    self.sleep(_backoff(attempt, None))
                    continue
                raise failure
            stream.response = resp
            if 300 <= resp.status_code < 400:
                resp.close()
                raise redirect_error(resp, wire.url, profile)
            if resp.status_code >= 400:
                body = _read_capped(resp)
                err = on_error(resp.status_code, resp.headers, body)
                delay = _retry_delay(resp.status_code, resp.headers, err)
                if delay is not None and attempt < retries:
                    attempt += 1
                    self.sleep(delay if delay > 0 else _backoff(attempt, None))
                    continue
                raise err
            return stream

    def frames(
        self,
        wire: WireRequest,
        profile: Profile,
        on_error: ErrorMaker,
        on_open: Callable[[Stream], None] | None = None,
    ) -> Iterator[SSEEvent | str]:
        """Open the request and yield decoded frames; the connection is closed on exit.

        ``on_open`` receives the :class:`Stream`, whose ``stop()`` ends it from any thread.
        """
        from .streaming import NDJSONDecoder, SSEDecoder

        stream = self.open(wire, profile, on_error)
        if on_open is not None:
            on_open(stream)
        resp = stream.response
        assert resp is not None
        try:
            self._check_stream_type(resp, wire, on_error)
            decoder: SSEDecoder | NDJSONDecoder = (
                SSEDecoder() if wire.framing == "sse" else NDJSONDecoder()
            )
            self._watchdog.add(stream)
            failure: errors.ByokError | None = None
            chunks = resp.iter_bytes()
            try:
                for chunk in chunks:
                    stream.touch()
                    yield from decoder.feed(chunk)
            except GeneratorExit:
                if stream.reusable and stream.stopped is None:
                    _drain(stream, chunks)
                raise
            except Exception as exc:
                failure = stream_error(exc, stream, wire.url)
            if failure is None and stream.stopped:
                failure = stream_error(None, stream, wire.url)
            if failure is not None:
                raise failure  # outside the except block: no __context__ to leak
            yield from decoder.close()
        finally:
            self._watchdog.discard(stream)
            resp.close()

    def fetch(self, wire: WireRequest, profile: Profile, on_error: ErrorMaker) -> bytes:
        """A small non-streamed request (model lists, connection tests)."""
        stream = self.open(wire, profile, on_error)
        assert stream.response is not None
        failure: errors.ByokError | None = None
        try:
            return _read_capped(stream.response, limit=16 * 1024 * 1024)
        except Exception as exc:
            failure = stream_error(exc, stream, wire.url)
        finally:
            stream.response.close()
        raise failure

    @staticmethod
    def _check_stream_type(resp: httpx.Response, wire: WireRequest, on_error: ErrorMaker) -> None:
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if wire.framing != "sse" or ctype in ("text/event-stream", ""):
            return
        if ctype in ("application/json", "text/html", "text/plain", "application/problem+json"):
            body = _read_capped(resp)
            if ctype.endswith("json") and b'"error"' in body:
                # A 200 that carries an error object: classify it by the error's own code.
                raise on_error(embedded_status(body), resp.headers, body)
            what = {"text/html": "an HTML page", "text/plain": "plain text"}.get(ctype, "JSON")
            host = origin(wire.url)[1]
            raise errors.ProtocolError(
                f"{host} answered with {what} where a stream was asked for "
                f"({redacted_url(wire.url)})",
                "the base URL may point at the wrong server or a proxy that does not pass "
                "streams; check it with `%byok profiles`",
            )


_ACCEPT = {"sse": "text/event-stream", "ndjson": "application/x-ndjson", "json": "application/json"}


def _pin_hook(request: httpx.Request) -> None:
    """Last check on every request leaving the client: a credential goes only to its origin."""
    pin = request.extensions.get("byok_pin")
    if not pin:
        return
    (want, auth_header) = pin
    if auth_header and auth_header in request.headers and origin(str(request.url)) != want:
        raise errors.SecurityError(
            "a request carrying a key was about to leave for another origin",
            "nothing was sent; check the profile's base URL",
        )


def _drain(stream: Stream, chunks: Iterator[bytes], limit: int = 64 * 1024) -> None:
    """Read what is left after the end marker (usually just the chunked terminator), so the
    connection goes back to the pool instead of being dropped; never for more than a second."""
    stream.idle_s = min(stream.idle_s, 1.0)
    stream.touch()
    read = 0
    try:
        for chunk in chunks:
            read += len(chunk)
            if read > limit:
                return
    except Exception:  # a server that hangs up here costs only the connection
        return


def _read_capped(resp: httpx.Response, limit: int = 256 * 1024) -> bytes:
    out = bytearray()
    for chunk in resp.iter_bytes():
        out += chunk
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def _backoff(attempt: int, _: Any) -> float:
    base = min(8.0, 0.5 * 2 ** (attempt - 1))
    return base * (1 - 0.25 * random.random())


def _retry_delay(status: int, headers: Mapping[str, str], err: errors.ByokError) -> float | None:
    """Seconds to wait before retrying (0 = use back-off), or None for no retry."""
    should = headers.get("x-should-retry", "").lower()
    if should == "false":
        return None
    if should != "true" and status not in RETRY_STATUSES:
        return None
    hinted = err.info.get("retry_after")
    if isinstance(hinted, (int, float)):
        if hinted > MAX_SERVER_DELAY:
            return None
        if hinted > 0:
            return float(hinted)
    return 0.0


_transport: Transport | None = None


def transport() -> Transport:
    """The process-wide transport (its httpx client is created on first request)."""
    global _transport
    if _transport is None:
        _transport = Transport()
    return _transport
