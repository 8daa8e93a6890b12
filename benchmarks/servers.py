"""A fast loopback provider server for the benchmarks, run in its own process.

``python benchmarks/servers.py`` prints ``PORT <n>`` on stdout and serves on 127.0.0.1 until its
stdin closes (or it is killed). Running it in a separate process keeps the server's work off the
measured process's CPU clock and out of its GIL.

What it streams is chosen by the request's ``model`` field, so every client (byok's router, raw
httpx, the official SDKs) can ask for the same stream without custom headers::

    n1000-p4            1,000 text chunks of 4 characters, sent as fast as the socket takes them
    n200-p4-d5          200 chunks, 5 ms apart (the first one right after the headers)
    n20-p4-f50          first chunk after 50 ms

Routes: ``POST /v1/chat/completions`` (OpenAI Chat Completions SSE, ``data: {...}`` events, a
usage chunk and ``[DONE]``) and ``POST /v1/messages`` (Anthropic Messages SSE, ``event:`` +
``data:`` pairs from ``message_start`` to ``message_stop``). Each SSE event goes out as one HTTP
chunk (``transfer-encoding: chunked``), as real providers send them; without a delay the chunks
are written in batches of about 64 KB. Connections are kept alive (HTTP/1.1), TCP_NODELAY is set.
``GET /stats`` tells how many connections were accepted (do clients reuse them?).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from functools import lru_cache

_WORDS = (  # noqa: SIM905
    "the quick brown fox jumps over a lazy dog while streaming tokens arrive in small pieces "
    "and the kernel renders markdown lists tables code blocks and prose for a curious reader "
).split()
_SPEC = re.compile(r"n(\d+)(?:-p(\d+))?(?:-d([\d.]+))?(?:-f([\d.]+))?")


def text_pieces(n: int, size: int) -> list[str]:
    """``n`` pieces of exactly ``size`` characters (words, spaces, now and then a blank line)."""
    words: list[str] = []
    total = n * size
    i = 0
    length = 0
    while length < total:
        w = _WORDS[i % len(_WORDS)]
        sep = "\n\n" if i % 97 == 96 else " "
        words.append(w + sep)
        length += len(w) + len(sep)
        i += 1
    text = "".join(words)[:total]
    return [text[k * size : (k + 1) * size] for k in range(n)]


def parse_spec(model: str) -> tuple[int, int, float, float]:
    """``(chunks, piece size, delay s, first delay s)`` from a model name like ``n1000-p4-d5``."""
    m = _SPEC.search(model or "")
    if not m:
        return 10, 4, 0.0, 0.0
    n = int(m.group(1))
    p = int(m.group(2) or 4)
    d = float(m.group(3) or 0) / 1000.0
    f = float(m.group(4) or 0) / 1000.0
    return n, p, d, f


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


@lru_cache(maxsize=32)
def openai_events(model: str, n: int, p: int) -> tuple[bytes, ...]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": "fp_bench",
    }

    def ev(choices: list, **extra: object) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    out = [
        ev(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )
    ]
    for piece in text_pieces(n, p):
        out.append(
            ev([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
        )
    out.append(ev([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
    out.append(ev([], usage={"prompt_tokens": 11, "completion_tokens": n, "total_tokens": n + 11}))
    out.append(b"data: [DONE]\n\n")
    return tuple(out)


@lru_cache(maxsize=32)
def anthropic_events(model: str, n: int, p: int) -> tuple[bytes, ...]:
    def ev(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: ".encode() + json.dumps(data).encode() + b"\n\n"

    out = [
        ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_bench",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 11, "output_tokens": 1},
                },
            },
        ),
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ev("ping", {"type": "ping"}),
    ]
    for piece in text_pieces(n, p):
        out.append(
            ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        )
    )
    out.append(ev("message_stop", {"type": "message_stop"}))
    return tuple(out)


@lru_cache(maxsize=32)
def batched_body(kind: str, model: str, n: int, p: int) -> tuple[bytes, ...]:
    """The whole chunked body, pre-encoded in ~64 KB writes (and the final zero chunk)."""
    events = openai_events(model, n, p) if kind == "openai" else anthropic_events(model, n, p)
    out: list[bytes] = []
    buf: list[bytes] = []
    size = 0
    for e in events:
        c = _chunk(e)
        buf.append(c)
        size += len(c)
        if size >= 65536:
            out.append(b"".join(buf))
            buf, size = [], 0
    buf.append(b"0\r\n\r\n")
    out.append(b"".join(buf))
    return tuple(out)


_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _reply_404(conn: socket.socket, path: str) -> None:
    body = json.dumps({"error": {"message": f"no route for {path}", "type": "not_found"}}).encode()
    conn.sendall(
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (len(body), body)
    )


_connections = 0  # accepted so far: tells whether clients reuse kept-alive connections


def _serve_one(conn: socket.socket, method: str, path: str, body: bytes) -> None:
    path = path.split("?", 1)[0]
    if method == "GET" and path == "/stats":
        data = json.dumps({"connections": _connections}).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(data), data)
        )
        return
    if method != "POST" or path not in ("/v1/chat/completions", "/v1/messages"):
        _reply_404(conn, path)
        return
    kind = "openai" if path.endswith("completions") else "anthropic"
    try:
        model = json.loads(body or b"{}").get("model", "")
    except ValueError:
        model = ""
    n, p, delay, first = parse_spec(model)
    if delay == 0 and first == 0:
        parts = batched_body(kind, model, n, p)
        conn.sendall(_HEAD + parts[0])
        for part in parts[1:]:
            conn.sendall(part)
        return
    events = openai_events(model, n, p) if kind == "openai" else anthropic_events(model, n, p)
    if first:
        conn.sendall(_HEAD)
        time.sleep(first)
        conn.sendall(_chunk(events[0]))
    else:
        conn.sendall(_HEAD + _chunk(events[0]))
    # pace against a schedule, so sleep overshoot does not accumulate over long streams
    t0 = time.monotonic()
    for i, e in enumerate(events[1:], 1):
        wait = t0 + i * delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        conn.sendall(_chunk(e))
    conn.sendall(b"0\r\n\r\n")


def _handle(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length") or 0)
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            body, buf = buf[:length], buf[length:]
            _serve_one(conn, method, path, body)
            if headers.get("connection", "").lower() == "close":
                return
    except OSError:
        return
    finally:
        conn.close()


def serve(port: int = 0) -> tuple[socket.socket, int]:
    """Listen on 127.0.0.1 and accept connections in a daemon thread; returns (socket, port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)

    def accept() -> None:
        global _connections
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            _connections += 1
            threading.Thread(target=_handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True, name="bench-accept").start()
    return sock, sock.getsockname()[1]


class ServerProcess:
    """``with ServerProcess() as srv: srv.url`` — the server above in a child process."""

    def __init__(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.close()
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def connections(self) -> int:
        """Connections the server has accepted so far (this query's own one not counted)."""
        import http.client

        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/stats")
            return int(json.loads(c.getresponse().read())["connections"]) - 1
        finally:
            c.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=3)
            except Exception:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    _, port = serve()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
