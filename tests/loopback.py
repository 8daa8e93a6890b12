"""A real HTTP server on 127.0.0.1 that speaks whatever a test scripts, and remembers requests.

One server serves every provider: routes match method + path, replies are a status, headers and
a body sent in chunks (with delays, a mid-stream disconnect or a stall). Every request is logged
with its headers and body, so tests can assert what was sent and that no key went astray.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """A scripted answer. ``chunks`` go out one by one with ``delay`` seconds between them."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    delay: float = 0.0
    first_delay: float = 0.0
    disconnect_after: int | None = None  # drop the connection after this many chunks
    stall_after: int | None = None  # stop sending (but keep the connection) after N chunks
    stall_for: float = 30.0
    chunked: bool = True

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        body = json.dumps(data).encode()
        return cls(status, {"content-type": "application/json", **(headers or {})}, [body])

    @classmethod
    def sse(cls, events: Iterable[Any], *, done: bool = True, **kw: Any) -> Reply:
        """``data: <json>`` events (dicts are JSON-encoded; strings sent as-is)."""
        chunks = [
            f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events
        ]
        if done:
            chunks.append(b"data: [DONE]\n\n")
        headers = {"content-type": "text/event-stream", **kw.pop("headers", {})}
        return cls(200, headers, chunks, **kw)

    @classmethod
    def raw(cls, body: str | bytes, content_type: str, status: int = 200, **kw: Any) -> Reply:
        data = body.encode() if isinstance(body, str) else body
        return cls(status, {"content-type": content_type, **kw.pop("headers", {})}, [data], **kw)


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int] = ("", 0)  # the client's address: the same port = a reused connection

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def raw(self) -> str:
        """Everything that arrived, as text: for "no key here" checks."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}?{self.query}\n{head}\n\n" + self.body.decode(
            "utf-8", "replace"
        )


Handler = Reply | Callable[[Seen], Reply] | list[Reply]


class LoopbackServer:
    """``with LoopbackServer() as srv: srv.route("POST", "/v1/chat/completions", Reply...)``."""

    def __init__(self, ssl_context: Any = None) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _any(self) -> None:
                outer._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)  # clients hanging up is normal

        self._httpd = _Server(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        scheme = "http"
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def seen(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    # -- serving -------------------------------------------------------------------------------

    def _pick(self, seen: Seen) -> Reply:
        handler = self.routes.get((seen.method, seen.path))
        if handler is None:
            handler = self.routes.get((seen.method, "*"))
        if handler is None:
            return Reply.json({"error": {"message": f"no route for {seen.path}"}}, status=404)
        if isinstance(handler, list):
            with self._lock:
                return handler.pop(0) if len(handler) > 1 else handler[0]
        if callable(handler):
            return handler(seen)
        return handler

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        seen = Seen(
            h.command,
            split.path,
            parse_qs(split.query),
            {k.lower(): v for k, v in h.headers.items()},
            body,
            tuple(h.client_address[:2]),  # type: ignore[arg-type]
        )
        with self._lock:
            self.requests.append(seen)
        reply = self._pick(seen)
        h.send_response(reply.status)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        if reply.chunked:
            h.send_header("transfer-encoding", "chunked")
        else:
            h.send_header("content-length", str(sum(len(c) for c in reply.chunks)))
        h.end_headers()
        h.wfile.flush()
        if reply.first_delay:
            time.sleep(reply.first_delay)
        for i, chunk in enumerate(reply.chunks):
            if reply.disconnect_after is not None and i >= reply.disconnect_after:
                _drop(h)
                return
            if reply.stall_after is not None and i >= reply.stall_after:
                time.sleep(reply.stall_for)
                _drop(h)
                return
            if i and reply.delay:
                time.sleep(reply.delay)
            try:
                if reply.chunked:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    h.wfile.write(chunk)
                h.wfile.flush()
            except OSError:
                return
        if reply.chunked:
            try:
                h.wfile.write(b"0\r\n\r\n")
                h.wfile.flush()
            except OSError:
                return


def _drop(h: BaseHTTPRequestHandler) -> None:
    h.close_connection = True
    with contextlib.suppress(OSError):
        h.connection.shutdown(socket.SHUT_RDWR)


def chat_chunks(text_pieces: Iterable[str], *, model: str = "m", usage: bool = True) -> list[Any]:
    """An OpenAI Chat Completions stream (without ``[DONE]``) for ``text_pieces``."""
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": model}
    out: list[Any] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    pieces = list(text_pieces)
    for p in pieces:
        out.append({**base, "choices": [{"index": 0, "delta": {"content": p}}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        out.append(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 11, "completion_tokens": len(pieces)},
            }
        )
    return out
