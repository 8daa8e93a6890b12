"""Rendering cost in a real kernel: iopub bytes and kernel CPU, byok's LiveAnswer vs naive.

A real ipykernel is started with jupyter_client; a zmq SUB socket of our own taps its iopub
socket and counts every frame of every display message the benchmark cells produce. The kernel
side is render_kernel.py. Two kinds of runs (see README, "Rendering"):

* virtual-clock runs feed the whole answer as fast as the kernel can, with the renderer's clock
  set to each event's scheduled arrival time (k·4/rate s). What goes over iopub depends only on
  when the throttle fires, so the bytes equal a real-time run's, and a 500k-char answer at
  400 chars/s (20 minutes of real streaming) takes seconds. Gives total bytes, bytes/s over the
  last 10 s of the stream, and kernel CPU per second of stream (CPU of the whole run, measured
  on the kernel process, minus the same loop without a display).
* real-time windows feed all but the last (warm + window) seconds of the answer at once, then
  stream the rest at the real rate. Gives kernel CPU as a share of the stream time, bytes/s over
  the window, and how long after the last chunk the final text reached iopub.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from common import BENCH, ROOT, Row, med

SIZES = (20_000, 100_000, 500_000)


class Tap:
    """Our SUB socket on the kernel's iopub: (arrival, type, parent, kernel date, bytes, marker)."""

    def __init__(self, url: str) -> None:
        import zmq

        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(url)
        self.msgs: list[tuple[float, str, str, float, int, bool]] = []
        self.markers: list[bytes] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True, name="iopub-tap")
        self.thread.start()

    def _run(self) -> None:
        import zmq

        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        loads = json.loads
        while self.running:
            if not poller.poll(100):
                continue
            frames = self.sock.recv_multipart(copy=True)
            now = time.time()
            try:
                i = frames.index(b"<IDS|MSG>")
            except ValueError:
                continue
            header = loads(frames[i + 2])
            parent = loads(frames[i + 3]) if len(frames[i + 3]) > 2 else {}
            content = frames[i + 5]
            with self.lock:
                markers = list(self.markers)
            mark = any(m in content for m in markers)
            date = datetime.fromisoformat(header["date"].replace("Z", "+00:00")).timestamp()
            state = ""
            if header["msg_type"] == "status":
                state = loads(content).get("execution_state", "")
            with self.lock:
                self.msgs.append(
                    (
                        now,
                        header["msg_type"] + (":" + state if state else ""),
                        parent.get("msg_id", ""),
                        date,
                        sum(len(f) for f in frames),
                        mark,
                    )
                )

    def watch(self, marker: str) -> None:
        with self.lock:
            self.markers.append(marker.encode())

    def of(self, msg_id: str) -> list[tuple[float, str, str, float, int, bool]]:
        with self.lock:
            return [m for m in self.msgs if m[2] == msg_id]

    def wait_idle(self, msg_id: str, timeout: float) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if any(m[1] == "status:idle" for m in self.of(msg_id)):
                return
            time.sleep(0.01)
        raise TimeoutError(f"kernel did not go idle for {msg_id}")

    def close(self) -> None:
        self.running = False
        self.thread.join(1)
        self.sock.close(0)
        self.ctx.term()


class Kernel:
    def __init__(self) -> None:
        import psutil
        from jupyter_client.manager import KernelManager

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BENCH), str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.km = KernelManager(kernel_name="python3")
        # the kernel's stderr only carries a warning about TCP without encryption (loopback)
        self._devnull = open(os.devnull, "w")  # noqa: SIM115
        self.km.start_kernel(env=env, cwd=str(ROOT), stderr=self._devnull)
        self.kc = self.km.client()
        self.kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self.kc.wait_for_ready(timeout=60)
        info = self.km.get_connection_info()
        self.tap = Tap(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
        self.proc = psutil.Process(self.km.provisioner.process.pid)  # type: ignore[union-attr]
        time.sleep(0.3)  # let the SUB connection settle before anything is measured
        self.run("import json, render_kernel as rk")

    def cpu(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def run(self, code: str, expr: str | None = None, timeout: float = 600) -> tuple[str, Any]:
        """Execute ``code``; wait for the reply and the idle status; return (msg_id, expr value)."""
        ue = {"r": expr} if expr else {}
        msg_id = self.kc.execute(code, store_history=False, user_expressions=ue)
        end = time.time() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1, end - time.time()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(
                f"kernel error: {content.get('ename')}: {content.get('evalue')}\n"
                + "\n".join(content.get("traceback", []))[-3000:]
            )
        self.tap.wait_idle(msg_id, timeout)
        value = None
        if expr:
            r = content["user_expressions"]["r"]
            if r["status"] != "ok":
                raise RuntimeError(f"expression failed: {r}")
            value = json.loads(eval(r["data"]["text/plain"]))  # a repr'd JSON string
        return msg_id, value

    def close(self) -> None:
        self.tap.close()
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        self._devnull.close()


DISPLAY = ("display_data", "update_display_data")


def _virtual(k: Kernel, policy: str, n: int, rate: float) -> dict[str, Any]:
    marker = uuid.uuid4().hex
    k.tap.watch(marker)
    c0 = k.cpu()
    msg_id, res = k.run(
        f"_r = rk.run_virtual({policy!r}, {n}, {rate}, {marker!r})",
        "json.dumps(_r)",
    )
    cpu = k.cpu() - c0
    msgs = [m for m in k.tap.of(msg_id) if m[1] in DISPLAY]
    times = res["publish_times"]
    if len(msgs) != len(times):
        raise RuntimeError(f"iopub tap saw {len(msgs)} display messages, kernel sent {len(times)}")
    last_w = res["duration"] - 10.0
    first_final = next((i for i, m in enumerate(msgs) if m[5]), len(msgs))
    streaming = [(t, m[4]) for t, m in zip(times[:first_final], msgs[:first_final], strict=True)]
    tail = sum(b for t, b in streaming if t >= last_w)
    final = sum(m[4] for m in msgs if m[5])
    return {
        "bytes": sum(m[4] for m in msgs),
        "messages": len(msgs),
        "tail_rate": tail / min(10.0, res["duration"]),
        "final_bytes": final,
        "cpu": cpu,
        "duration": res["duration"],
    }


def _window(
    k: Kernel, policy: str, n: int, rate: float, window: float, warm: float
) -> dict[str, Any]:
    marker = uuid.uuid4().hex
    k.tap.watch(marker)
    msg_id, res = k.run(
        f"_r = rk.run_window({policy!r}, {n}, {rate}, {window}, {warm}, {marker!r})",
        "json.dumps(_r)",
    )
    msgs = [m for m in k.tap.of(msg_id) if m[1] in DISPLAY]
    inwin = sum(m[4] for m in msgs if res["tw0"] <= m[3] <= res["tw1"] and not m[5])
    finals = [m[0] for m in msgs if m[5]]
    span = res["tw1"] - res["tw0"]
    return {
        "rate": inwin / span,
        "cpu": res["cpu"],
        "span": span,
        "latency_ms": (finals[0] - res["t_last"]) * 1000 if finals else float("nan"),
        "finish_cpu_ms": res["finish_cpu"] * 1000,
    }


def run(quick: bool, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    k = Kernel()
    try:
        rows += _virtual_rows(k, quick, log)
        rows += _window_rows(k, quick, log)
    finally:
        k.close()
    return rows


def _virtual_rows(k: Kernel, quick: bool, log: Callable[[str], None]) -> list[Row]:
    sec = "render: virtual clock"
    rows: list[Row] = []
    reps = 1 if quick else 2
    plan: list[tuple[int, float, tuple[str, ...]]] = [
        (20_000, 400, ("none", "byok", "naive")),
        (100_000, 400, ("none", "byok", "naive")),
        (500_000, 400, ("none", "byok")),
        (20_000, 4000, ("byok", "naive")),
        (100_000, 4000, ("byok", "naive")),
        (500_000, 4000, ("byok",)),
    ]
    got: dict[tuple[int, float, str], list[dict[str, Any]]] = {}
    for n, rate, policies in plan:
        for rep in range(reps):
            order = policies if rep % 2 == 0 else tuple(reversed(policies))
            for pol in order:
                got.setdefault((n, rate, pol), []).append(_virtual(k, pol, n, rate))
        log(
            f"  virtual {n // 1000}k @ {rate:.0f} chars/s: "
            + ", ".join(
                f"{p} {med([r['bytes'] for r in got[(n, rate, p)]]) / 1e6:.2f} MB" for p in policies
            )
        )

    def m(n: int, rate: float, pol: str, f: str) -> float:
        return med([r[f] for r in got[(n, rate, pol)]])

    # totals at 400 chars/s
    for n in SIZES:
        b = m(n, 400, "byok", "bytes")
        if (n, 400, "naive") in got:
            nb = m(n, 400, "naive", "bytes")
            is_t = n == 100_000
            rows.append(
                Row(
                    sec,
                    f"iopub bytes, {n // 1000}k chars @ 400 chars/s, byok",
                    "MB",
                    value=b / 1e6,
                    baseline="naive",
                    ratio=b / nb,
                    target="≤ 1/25 of naive" if is_t else "",
                    met=(b / nb <= 1 / 25) if is_t else None,
                    note=f"naive {nb / 1e6:,.1f} MB; {b / n:.1f}× answer",
                )
            )
        else:
            rows.append(
                Row(
                    sec,
                    f"iopub bytes, {n // 1000}k chars @ 400 chars/s, byok",
                    "MB",
                    value=b / 1e6,
                    note=f"{b / n:.1f}× answer; naive not run (≈ 5.6 GB)",
                )
            )
    # flatness: bytes/s over the last 10 s of the stream
    r20 = m(20_000, 400, "byok", "tail_rate")
    for n in SIZES:
        r = m(n, 400, "byok", "tail_rate")
        is_t = n == 500_000
        nrate = (
            f"naive {m(n, 400, 'naive', 'tail_rate') / 1e3:,.0f} KB/s"
            if (n, 400, "naive") in got
            else ""
        )
        rows.append(
            Row(
                sec,
                f"bytes/s while streaming (last 10 s), {n // 1000}k @ 400, byok",
                "KB/s",
                value=r / 1e3,
                baseline="20k",
                ratio=r / r20,
                target="500k ≤ 1.5× 20k" if is_t else "",
                met=(r / r20 <= 1.5) if is_t else None,
                note=nrate,
            )
        )
    # fast answers: bytes relative to the answer
    for n in SIZES:
        b = m(n, 4000, "byok", "bytes")
        note = ""
        if (n, 4000, "naive") in got:
            note = f"naive {m(n, 4000, 'naive', 'bytes') / n:.0f}× answer"
        rows.append(
            Row(
                sec,
                f"iopub bytes / answer size, {n // 1000}k @ 4,000 chars/s, byok",
                "×",
                value=b / n,
                target="≤ 10×",
                met=b / n <= 10,
                note=note,
            )
        )
    # CPU per second of stream, whole answer
    for n in SIZES:
        base = m(n, 400, "none", "cpu")
        pct = (m(n, 400, "byok", "cpu") - base) / m(n, 400, "byok", "duration") * 100
        note = ""
        if (n, 400, "naive") in got:
            npct = (m(n, 400, "naive", "cpu") - base) / (n / 400) * 100
            note = f"naive {npct:.1f} %"
        rows.append(
            Row(
                sec,
                f"kernel CPU for rendering, {n // 1000}k @ 400 (whole answer)",
                "% of stream",
                value=pct,
                target="≤ 2 %",
                met=pct <= 2,
                note=note,
            )
        )
    return rows


def _window_rows(k: Kernel, quick: bool, log: Callable[[str], None]) -> list[Row]:
    sec = "render: real time @ 400 chars/s"
    window = 2.0 if quick else 6.0
    reps = 1 if quick else 2
    pols = ("none", "byok", "naive")
    sizes = (SIZES[0], SIZES[-1]) if quick else SIZES
    got: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for n in sizes:
        for rep in range(reps):
            order = pols if rep % 2 == 0 else tuple(reversed(pols))
            for pol in order:
                got.setdefault((n, pol), []).append(
                    _window(k, pol, n, 400, window, 0.5 if quick else 1.0)
                )
        log(
            f"  window {n // 1000}k: "
            + ", ".join(
                f"{p} {med([r['rate'] for r in got[(n, p)]]) / 1e3:,.1f} KB/s" for p in pols
            )
        )
    rows: list[Row] = []

    def col(n: int, p: str, f: str) -> list[float]:
        return [r[f] for r in got[(n, p)]]

    r20 = med(col(sizes[0], "byok", "rate"))
    for n in sizes:
        rate = med(col(n, "byok", "rate"))
        naive = med(col(n, "naive", "rate"))
        is_t = n == sizes[-1]
        rows.append(
            Row(
                sec,
                f"bytes/s, {n // 1000}k answer, byok",
                "KB/s",
                samples=[x / 1e3 for x in col(n, "byok", "rate")],
                baseline="20k",
                ratio=rate / r20,
                target="500k ≤ 1.5× 20k" if is_t else "",
                met=(rate / r20 <= 1.5) if is_t else None,
                note=f"naive {naive / 1e3:,.0f} KB/s",
            )
        )
    for n in sizes:
        base = col(n, "none", "cpu")
        spans = col(n, "byok", "span")
        pct = [
            (c - b) / s * 100 for c, b, s in zip(col(n, "byok", "cpu"), base, spans, strict=True)
        ]
        npct = [
            (c - b) / s * 100
            for c, b, s in zip(col(n, "naive", "cpu"), base, col(n, "naive", "span"), strict=True)
        ]
        rows.append(
            Row(
                sec,
                f"kernel CPU for rendering, {n // 1000}k answer, byok",
                "% of stream",
                samples=pct,
                target="≤ 2 %",
                met=med(pct) <= 2,
                note=f"naive {med(npct):.1f} %",
            )
        )
    for n in sizes:
        lat = col(n, "byok", "latency_ms")
        fin = med(col(n, "byok", "finish_cpu_ms"))
        rows.append(
            Row(
                sec,
                f"final text on iopub after last chunk, {n // 1000}k, byok",
                "ms",
                samples=lat,
                target="≤ 100 ms",
                met=max(lat) <= 100,
                note=f"finish() {fin:.1f} ms CPU; naive "
                f"{med(col(n, 'naive', 'latency_ms')):.0f} ms",
            )
        )
    return rows
