"""Kernel side of bench_render: feeds a synthetic answer to a renderer inside a real ipykernel.

Imported in the kernel (bench_render puts this folder on the kernel's sys.path). Policies:

``byok``   ``byok_magic.render.LiveAnswer(label)`` with the defaults ``%%byok`` uses
``naive``  ``display(Markdown(""), display_id=True)``, then ``handle.update(Markdown(full_text))``
           at most every 50 ms: the "full text every 50 ms" baseline
``none``   the same feeding loop with no display at all (the CPU baseline)

Every renderer ends with a footer holding a unique marker, so the iopub tap can tell when the
final text arrived.
"""

from __future__ import annotations

import time
from typing import Any

from byok_magic.events import TextDelta

_WORDS = (  # noqa: SIM905
    "stream token kernel render output markdown answer model latency buffer socket frame chunk "
    "parse event notebook cell display update tail block list table fence value result method "
    "system request profile router client server python async thread queue memory"
).split()
PIECE = 4  # characters per streamed text event (about one token)


def synth(n: int) -> str:
    """``n`` characters of Markdown: headings, paragraphs, lists, code fences and tables."""
    out: list[str] = []
    size = 0
    i = 0

    def words(k: int, seed: int) -> str:
        return " ".join(_WORDS[(seed * 7 + j * 3) % len(_WORDS)] for j in range(k))

    while size < n:
        kind = i % 6
        if kind == 0:
            block = f"## Section {i // 6 + 1}: {words(4, i)}\n"
        elif kind in (1, 4):
            block = (words(45, i).capitalize() + ". " + words(30, i + 1) + ".\n").replace(
                " kernel ", " `kernel` ", 1
            )
        elif kind == 2:
            block = "".join(f"- **{words(1, i + k)}**: {words(9, i + k)}\n" for k in range(5))
        elif kind == 3:
            body = "".join(f"    value_{k} = compute({k}, '{words(2, i + k)}')\n" for k in range(6))
            block = f"```python\ndef step_{i}(x):\n{body}    return x\n```\n"
        else:
            rows = "".join(
                f"| {words(1, i + k)} | {k * 17 % 101} | {words(3, k)} |\n" for k in range(4)
            )
            block = f"| name | value | note |\n|---|---:|---|\n{rows}"
        out.append(block + "\n")
        size += len(block) + 1
        i += 1
    return "".join(out)[:n]


def pieces(n: int) -> list[str]:
    text = synth(n)
    return [text[k : k + PIECE] for k in range(0, len(text), PIECE)]


class Naive:
    """Full text every 50 ms through one display handle."""

    def __init__(self, clock: Any, interval: float = 0.05) -> None:
        from IPython.display import Markdown, display

        self._md = Markdown
        self.clock = clock
        self.interval = interval
        self.parts: list[str] = []
        self.handle = display(Markdown(""), display_id=True)
        self.last = clock()

    def feed(self, ev: TextDelta) -> None:
        self.parts.append(ev.text)
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.handle.update(self._md("".join(self.parts)))

    def finish(self, footer: str) -> None:
        self.handle.update(self._md("".join(self.parts) + "\n\n" + footer))


class Nothing:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def feed(self, ev: TextDelta) -> None:
        self.parts.append(ev.text)

    def finish(self, footer: str) -> None:
        "".join(self.parts)


def make(policy: str, clock: Any) -> Any:
    if policy == "byok":
        import inspect

        from byok_magic.render import LiveAnswer

        if "clock" not in inspect.signature(LiveAnswer).parameters:
            raise RuntimeError("LiveAnswer no longer takes clock=: the virtual-clock runs need it")
        live = LiveAnswer("bench:render", clock=clock)
        live.start()
        return live
    if policy == "naive":
        return Naive(clock)
    return Nothing()


class _Counter:
    """Counts display publishes (and their virtual times) to check the tap lost nothing."""

    def __init__(self, clock: Any) -> None:
        from IPython import get_ipython

        self.pub = get_ipython().display_pub
        self.orig = self.pub.publish
        self.clock = clock
        self.times: list[float] = []

    def __enter__(self) -> _Counter:
        def publish(*a: Any, **kw: Any) -> Any:
            self.times.append(self.clock())
            return self.orig(*a, **kw)

        self.pub.publish = publish
        return self

    def __exit__(self, *exc: Any) -> None:
        del self.pub.publish  # back to the class's method


class VClock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def run_virtual(policy: str, n: int, rate: float, marker: str) -> dict[str, Any]:
    """The whole answer on a virtual clock: event k arrives at k·4/rate seconds, no waiting.

    Display bytes depend only on when the renderer's throttle fires, which the virtual clock
    reproduces exactly, so the iopub bytes equal those of a real-time run without its duration.
    """
    ps = pieces(n)
    clock = VClock()
    with _Counter(clock) as counter:
        r = make(policy, clock)
        c0 = time.process_time()
        pos = 0
        for p in ps:
            pos += len(p)
            clock.t = pos / rate
            r.feed(TextDelta(p))
        r.finish(f"bench footer {marker}")
        cpu = time.process_time() - c0
    return {"publish_times": counter.times, "duration": n / rate, "cpu": cpu, "chars": n}


def run_window(
    policy: str, n: int, rate: float, window: float, warm: float, marker: str
) -> dict[str, Any]:
    """Real time: feed all but the last (warm + window)·rate characters at once, then pace the
    rest at ``rate``; CPU and wall are taken over the last ``window`` seconds of streaming."""
    ps = pieces(n)
    paced = int((warm + window) * rate / PIECE)
    pre, live = ps[: len(ps) - paced], ps[len(ps) - paced :]
    with _Counter(time.monotonic) as counter:
        r = make(policy, time.monotonic)
        for p in pre:
            r.feed(TextDelta(p))
        t0 = time.monotonic()
        step = PIECE / rate
        w_start = int(warm / step)
        tw0 = cw0 = 0.0
        for k, p in enumerate(live):
            if k == w_start:
                tw0, cw0 = time.time(), time.process_time()
            wait = t0 + k * step - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            r.feed(TextDelta(p))
        t_last = time.time()
        cw1 = time.process_time()
        r.finish(f"bench footer {marker}")
        finish_cpu = time.process_time() - cw1
        n_pub = len(counter.times)
    return {
        "tw0": tw0,
        "tw1": t_last,
        "cpu": cw1 - cw0,
        "finish_cpu": finish_cpu,
        "t_last": t_last,
        "publishes": n_pub,
        "prefill": sum(map(len, pre)),
    }
