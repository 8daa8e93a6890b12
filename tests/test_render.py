"""The live renderer, seen the way a frontend sees it.

A real ``InteractiveShell`` with IPython's capturing display publisher, a real kernel through
nbclient, and a small model of what JupyterLab/nbclient do with display and update messages.
"""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from byok_magic.events import Finish, ReasoningDelta, TextDelta, Usage
from byok_magic.render import LiveAnswer
from byok_magic.render_grid import CompareGrid

ROOT = Path(__file__).resolve().parents[1]


class Page:
    """What a notebook frontend keeps: outputs in order; an update replaces the data of every
    output shown with that display id (JupyterLab and nbclient behave alike)."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.messages: list[tuple[dict[str, Any], str, bool]] = []

    def __call__(self, data: Mapping[str, str], display_id: str, update: bool) -> None:
        self.messages.append((dict(data), display_id, update))
        if update:
            hits = [o for o in self.outputs if o["id"] == display_id]
            assert hits, "update for a display that was never shown"
            for o in hits:
                o["data"] = dict(data)
        else:
            self.outputs.append({"id": display_id, "data": dict(data)})

    @property
    def visible(self) -> list[dict[str, str]]:
        return [o["data"] for o in self.outputs if o["data"]]

    def payload_bytes(self) -> int:
        return sum(len(v.encode()) for d, _, _ in self.messages for v in d.values())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chunks(text: str, size: int = 4) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i : i + size]


FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def open_fence_at_end(md: str) -> bool:
    """Reference check, written apart from render.py: is a code fence still open after md?"""
    fence = None
    for line in md.split("\n"):
        m = FENCE_RE.match(line)
        if fence is None and m and not (m.group(1)[0] == "`" and "`" in line[m.end() :]):
            fence = m.group(1)
        elif fence is not None and line.strip() == fence[0] * max(len(fence), len(line.strip())):
            fence = None
    return fence is not None


def long_answer(n_chars: int, seed: int = 7) -> str:
    """Markdown like a long LLM answer: headings, paragraphs, lists, tables, code fences with
    blank lines inside (and a 4-backtick fence holding a 3-backtick one)."""
    rnd = random.Random(seed)
    words = ["the", "model", "streams", "tokens", "into", "a", "cell", "while", "blocks", "stay"]
    parts: list[str] = []
    while sum(map(len, parts)) < n_chars:
        kind = rnd.randrange(6)
        if kind == 0:
            parts.append(f"## Section {len(parts)}\n\n")
        elif kind == 1:
            parts.append(" ".join(rnd.choices(words, k=rnd.randint(30, 90))) + ".\n\n")
        elif kind == 2:
            items = [f"- item {k}: " + " ".join(rnd.choices(words, k=6)) for k in range(5)]
            loose = "1. loose one\n\n2. loose two\n\n   more of two\n\n"
            parts.append("\n".join(items) + "\n\n" + loose)
        elif kind == 3:
            body = "\n".join(f"    x{k} = {k}\n" for k in range(8))  # blank lines inside
            parts.append(f"```python\ndef f():\n\n{body}\n    return x0\n```\n\n")
        elif kind == 4:
            parts.append("| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 5 + "\n")
        else:
            parts.append("````markdown\n```python\nprint(1)\n\n\nprint(2)\n```\n\n````\n\n")
    return "".join(parts) + "The end."


def stream(answer: LiveAnswer, text: str, clock: FakeClock, chars_per_s: float) -> None:
    for piece in chunks(text):
        clock.now += len(piece) / chars_per_s
        answer.feed(TextDelta(piece))


# -- 1. a real InteractiveShell -----------------------------------------------------------------


@pytest.fixture
def shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def test_shell_updates_are_throttled_and_final_is_exact(shell: Any) -> None:
    from IPython.utils.capture import capture_output

    text = long_answer(6000, seed=1)
    pieces = list(chunks(text, 20))
    assert len(pieces) >= 300
    with capture_output() as cap:
        a = LiveAnswer("openai:gpt-4.1-mini", min_interval=0.03)
        a.start()
        t0 = time.monotonic()
        for piece in pieces:
            a.feed(TextDelta(piece))
            time.sleep(0.002)
        elapsed = time.monotonic() - t0
        n_before_finish = len(cap.outputs)
        a.feed(Usage(input_tokens=12, output_tokens=1500))
        a.finish()
    raw = cap.outputs  # RichOutput: data, transient and update as the publisher got them
    assert all(o.transient["display_id"] for o in raw)
    assert raw[0].data == {"text/markdown": "<sub>⏳ openai:gpt-4.1-mini · waiting…</sub>"}
    streaming = raw[1:n_before_finish]
    redraws = [o for o in streaming if o.update and "⏳" in str(o.data)]
    frozen = [o for o in streaming if o.update and "⏳" not in str(o.data)]
    new_outputs = [o for o in streaming if not o.update]
    assert len(redraws) >= 5, "the answer should be visible while it streams"
    assert len(redraws) + len(new_outputs) <= elapsed / 0.03 + 1, "at most one redraw per tick"
    assert len(frozen) == len(new_outputs) >= 1, "each frozen segment costs one more message"
    assert len(pieces) > 3 * len(redraws), "never a redraw per token"
    # finish: the whole answer in the first output, the rest of the chain emptied
    page = Page()
    for o in raw:
        page(o.data, o.transient["display_id"], o.update)
    (final,) = page.visible
    footer = "openai:gpt-4.1-mini · 12 tokens in / 1500 out ·"
    assert final["text/markdown"].startswith(text + "\n\n<sub>" + footer)
    assert final["text/markdown"].endswith(" s</sub>")
    assert a.text == text


def test_finish_publishes_at_once_and_uses_given_footer() -> None:
    page, clock = Page(), FakeClock()
    a = LiveAnswer("x:y", publish=page, clock=clock, min_interval=10)
    a.start()
    a.feed(TextDelta("Hello **world**"))
    assert len(page.messages) == 1, "throttled: no redraw yet"
    a.finish("x:y · 1 tokens in / 2 out · 0.1 s")
    final = "Hello **world**\n\n<sub>x:y · 1 tokens in / 2 out · 0.1 s</sub>"
    assert page.visible == [{"text/markdown": final}]
    a.feed(TextDelta("late"))
    a.fail("after the end")
    assert len(page.messages) == 2, "nothing happens after the end"


# -- 2. bytes stay bounded ----------------------------------------------------------------------


def test_bytes_far_below_full_text_and_chain_is_exact() -> None:
    text = long_answer(100_000)
    page, clock = Page(), FakeClock()
    a = LiveAnswer("m", publish=page, clock=clock, min_interval=0.1)
    a.start()
    stream(a, text, clock, chars_per_s=400)  # ~250 s of a 100-token/s model
    clock.now += 1
    a.feed(Usage(output_tokens=25_000))  # a last redraw with everything
    live_msgs = list(page.messages)
    frozen = {i: d["text/markdown"] for d, i, u in live_msgs if u and "⏳" not in str(d)}
    order = [o["id"] for o in page.outputs]
    chain = [frozen[i] for i in order[:-1]]
    tail = page.outputs[-1]["data"]["text/markdown"]
    assert "".join(chain) + tail.rpartition("\n\n<sub>⏳")[0] == text
    for block in chain:  # a frozen block never ends inside a fence
        assert not open_fence_at_end(block), block[-300:]
    a.finish()
    ours = page.payload_bytes()
    # the naive way: the whole text on every redraw, at the same redraw times
    n_ticks = len([m for m in live_msgs if m[2] and "⏳" in m[0]["text/markdown"]])
    naive = sum(len(text[: len(text) * k // n_ticks].encode()) for k in range(1, n_ticks + 1))
    assert ours <= naive / 10
    # envelope included (~700 bytes per message), still far below
    assert ours + 700 * len(page.messages) <= (naive + 700 * n_ticks) / 10
    (final,) = page.visible
    assert final["text/markdown"].startswith(text + "\n\n<sub>m · 25000 tokens · ")
    print(
        f"\n100k chars: ours {ours / 1e6:.2f} MB in {len(page.messages)} messages, "
        f"naive {naive / 1e6:.1f} MB in {n_ticks}; ratio 1/{naive / ours:.0f}; "
        f"{len(order)} outputs while streaming"
    )


def test_bytes_per_second_do_not_grow_with_the_answer() -> None:
    text = long_answer(200_000, seed=3)
    page, clock = Page(), FakeClock()
    a = LiveAnswer("m", publish=page, clock=clock)
    a.start()
    marks = []
    for k, piece in enumerate(chunks(text)):
        clock.now += len(piece) / 4000
        a.feed(TextDelta(piece))
        if k % 1000 == 0:
            marks.append((clock.now, page.payload_bytes()))
    (t1, b1), (t2, b2) = marks[1], marks[len(marks) // 5]
    (t3, b3), (t4, b4) = marks[-len(marks) // 5], marks[-1]
    early, late = (b2 - b1) / (t2 - t1), (b4 - b3) / (t4 - t3)
    assert late <= 1.5 * early, (early, late)
    a.finish()
    assert page.payload_bytes() <= 10 * len(text), "at 4,000 chars/s: at most 10x the answer"


def test_code_fence_is_never_split_and_live_tail_closes_it() -> None:
    page, clock = Page(), FakeClock()
    a = LiveAnswer("m", publish=page, clock=clock, min_interval=0.1)
    a.start()
    code = "```python\n" + "".join(f"x{k} = {k}\n\n" for k in range(600)) + "```\n\nAfter.\n"
    stream(a, "Intro.\n\n" + code, clock, chars_per_s=2000)
    mid = [d["text/markdown"] for d, _, _ in page.messages if "x300 = 300" in str(d)]
    assert mid and "```\n\n<sub>⏳" in mid[0], "the open fence is closed before the status line"
    assert len(page.outputs) == 1, "no cut inside a fence, however long"
    a.finish()


# -- 3. a real kernel ---------------------------------------------------------------------------


KERNEL_CELL = """
import time
from byok_magic.events import TextDelta, Usage
from byok_magic.render import LiveAnswer
text = {text!r}
a = LiveAnswer("fake:model", min_interval=0.05)
a.start()
for i in range(0, len(text), 8):
    a.feed(TextDelta(text[i:i + 8]))
    time.sleep(0.001)
a.feed(Usage(input_tokens=3, output_tokens=900))
a.finish()
"""


def test_real_kernel_streams_updates_and_saves_one_tidy_output(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    text = long_answer(7000, seed=5)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(KERNEL_CELL.format(text=text)),
        nbformat.v4.new_code_cell("print('next cell')"),
    ]
    seen: list[tuple[str, str]] = []

    client: Any = nbclient.NotebookClient

    class Tap(client):
        def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
            if msg["msg_type"] in ("display_data", "update_display_data") and cell_index == 0:
                seen.append((msg["msg_type"], msg["content"]["transient"]["display_id"]))
            return super().process_message(msg, cell, cell_index)

    t0 = time.monotonic()
    where = {"metadata": {"path": str(ROOT)}}
    Tap(
        nb, timeout=60, kernel_name="python3", resources=where, shutdown_kernel="immediate"
    ).execute()
    assert time.monotonic() - t0 < 15
    types = [t for t, _ in seen]
    assert types[0] == "display_data" and types.count("update_display_data") >= 5
    assert types.count("display_data") >= 2, "7,000 chars should freeze a segment or two"
    first_id = seen[0][1]
    assert seen[1][0] == "update_display_data" and seen[1][1] == first_id
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    outputs = saved.cells[0].outputs
    shown = [o for o in outputs if o.get("data")]
    assert len(shown) == 1 and shown[0].output_type == "display_data"
    md = shown[0].data["text/markdown"]
    assert md.startswith(text + "\n\n<sub>fake:model · 3 tokens in / 900 out ·")
    assert all(o.output_type == "display_data" and not o.data for o in outputs if o is not shown[0])
    raw = path.read_text()
    assert "⏳" not in raw and "transient" not in raw and "display_id" not in raw
    assert saved.cells[1].outputs[0].text == "next cell\n"


# -- 4. failure and stop ------------------------------------------------------------------------


def test_fail_keeps_partial_answer_and_adds_one_error_line() -> None:
    page, clock = Page(), FakeClock()
    a = LiveAnswer("openai:gpt-4.1-mini", publish=page, clock=clock)
    a.start()
    stream(a, "Half an answer\n\n```python\nx = 1\n", clock, chars_per_s=100)
    a.fail("401 from api.openai.com: the key was rejected — run `%byok keys set openai`")
    (final,) = page.visible
    md = final["text/markdown"]
    assert md.startswith("Half an answer\n\n```python\nx = 1\n```\n\n")
    assert "⚠️ 401 from api.openai.com: the key was rejected — run `%byok keys set openai`" in md
    assert md.count("⚠️") == 1 and "⏳" not in md
    assert a.text == "Half an answer\n\n```python\nx = 1\n"


def test_stopped_says_stopped() -> None:
    page, clock = Page(), FakeClock()
    a = LiveAnswer("m", publish=page, clock=clock)
    a.start()
    stream(a, "Partial", clock, chars_per_s=100)
    a.fail("stopped", kind="stopped")
    md = page.visible[0]["text/markdown"]
    assert md.startswith("Partial\n\n⏹ stopped\n\n<sub>m · ~2 tokens")
    assert "⚠️" not in md


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Code:\n\n```python\nx = 1\n```", "Code:\n\n```python\nx = 1\n```"),  # closed, no \\n
        ("Code:\n\n```python\nx = 1", "Code:\n\n```python\nx = 1\n```"),  # cut off inside
        ("Code:\n\n````md\n```\n", "Code:\n\n````md\n```\n````"),  # a shorter run closes nothing
        ("Code:\n\n```python", "Code:\n\n```python\n```"),  # opened on the very last line
        ("Inline ```a``` code", "Inline ```a``` code"),
    ],
)
def test_final_closes_only_a_fence_left_open(text: str, shown: str) -> None:
    page, clock = Page(), FakeClock()
    a = LiveAnswer("m", publish=page, clock=clock)
    stream(a, text, clock, chars_per_s=50)
    a.feed(Finish("length", "max_tokens"))
    a.finish()
    (final,) = page.visible
    assert final["text/markdown"].startswith(shown + "\n\n<sub>m · ~")
    assert final["text/markdown"].endswith(" s · cut off at the token limit</sub>")
    grid = CompareGrid(["m"], publish=Page(), clock=clock)
    grid.feed(0, TextDelta(text))
    grid.finish(0, "f")
    assert shown + "\n\n<sub>f</sub>" in grid.final_markdown()


# -- reasoning, formats, terminal -----------------------------------------------------------------


def test_reasoning_collapsed_above_answer_only_when_asked() -> None:
    for show in (True, False):
        page, clock = Page(), FakeClock()
        a = LiveAnswer("m", publish=page, clock=clock, show_reasoning=show)
        a.start()
        for k in range(20):
            clock.now += 0.05
            a.feed(ReasoningDelta(f"step {k}. "))
        live = page.outputs[0]["data"]["text/markdown"]
        assert ("step 1." in live) is show and "thinking…" in live
        stream(a, "The answer is 4.", clock, chars_per_s=50)
        a.feed(Finish("stop"))
        a.finish()
        assert a.reasoning.startswith("step 0. step 1.")
        mds = [d["text/markdown"] for d in page.visible]
        if show:
            assert mds[0].startswith("<details><summary>Reasoning</summary>\n\nstep 0. ")
            assert mds[-1].startswith("The answer is 4.\n\n<sub>m · ~")
        else:
            assert mds == [mds[0]] and mds[0].startswith("The answer is 4.\n\n<sub>")
            assert "step" not in mds[0]


def test_text_format_is_plain_text() -> None:
    page, clock = Page(), FakeClock()
    a = LiveAnswer("m", publish=page, clock=clock, format="text")
    a.start()
    stream(a, "# not a heading\n\n*raw*\n\n```\nno fence closing", clock, chars_per_s=100)
    a.finish("m · 0.5 s")
    shown = "# not a heading\n\n*raw*\n\n```\nno fence closing\n\nm · 0.5 s"
    assert page.visible == [{"text/plain": shown}]
    assert all("text/markdown" not in d for d, _, _ in page.messages)


def test_terminal_prints_progressively() -> None:
    out, clock = io.StringIO(), FakeClock()
    a = LiveAnswer("m", publish=out, clock=clock, show_reasoning=True)
    a.start()
    a.feed(ReasoningDelta("hmm"))
    a.feed(TextDelta("Hel"))
    assert out.getvalue() == "Reasoning:\nhmm\n\nHel"
    a.feed(TextDelta("lo"))
    a.feed(Usage(input_tokens=1, output_tokens=2))
    a.finish()
    assert out.getvalue().startswith("Reasoning:\nhmm\n\nHello\n\n— m · 1 tokens in / 2 out · ")


def test_outside_ipython_prints_to_stdout_and_import_stays_light() -> None:
    code = (
        "import sys\n"
        "import byok_magic.render as r\n"
        "heavy = [m for m in ('IPython', 'httpx', 'keyring', 'ipywidgets') if m in sys.modules]\n"
        "from byok_magic.events import TextDelta\n"
        "a = r.LiveAnswer('m')\n"
        "a.feed(TextDelta('plain ')); a.feed(TextDelta('text')); a.finish('f')\n"
        "print('|heavy=', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "plain text\n\n— f\n|heavy= []\n"


# -- 5. comparison grid ---------------------------------------------------------------------------


def test_compare_grid_three_columns_one_fails() -> None:
    page, clock = Page(), FakeClock()
    labels = ["openai:gpt-4.1-mini", "anthropic:claude-sonnet-4", "ollama:llama3.2:3b"]
    grid = CompareGrid(labels, publish=page, clock=clock, min_interval=0.2)
    texts = [long_answer(3000, seed=s) for s in (1, 2, 3)]
    its = [chunks(t, 5) for t in texts]
    live = {0, 1, 2}
    k = 0
    while live:
        for i in sorted(live):
            if i == 2 and k == 100:
                grid.fail(2, "connection to localhost:11434 refused")
                live.discard(2)
                continue
            piece = next(its[i], None)
            if piece is None:
                grid.feed(i, Usage(input_tokens=9, output_tokens=700 + i))
                grid.finish(i)
                live.discard(i)
            else:
                clock.now += 0.01
                grid.feed(i, TextDelta(piece))
        k += 1
    shows = [m for m in page.messages if not m[2]]
    assert len(shows) == 1 and len(page.outputs) == 1, "the grid is one output"
    html_updates = [d["text/html"] for d, _, _ in page.messages if "text/html" in d]
    assert len(html_updates) >= 5 and all(len(h) < 3 * 1500 + 2000 for h in html_updates)
    (final,) = page.visible
    md = final["text/markdown"]
    columns = md.split('<div style="min-width:0')[1:]
    assert len(columns) == 3
    for i in (0, 1):
        assert texts[i].strip("\n") in columns[i]
        assert f"{labels[i]} · 9 tokens in / {700 + i} out" in columns[i]
    assert "⚠️ connection to localhost:11434 refused" in columns[2]
    assert texts[2][:400] in columns[2] and "⚠️" not in columns[0] + columns[1]
    assert md.count("<div") == md.count("</div>") == 4


def test_compare_grid_close_marks_unfinished_stopped() -> None:
    page, clock = Page(), FakeClock()
    grid = CompareGrid(["a", "b"], publish=page, clock=clock)
    grid.feed(0, TextDelta("done"))
    grid.finish(0, "a · 1 s")
    grid.feed(1, TextDelta("half"))
    grid.close()
    grid.close()
    md = page.visible[0]["text/markdown"]
    assert "<sub>a · 1 s</sub>" in md and "half\n\n⏹ stopped" in md
    assert json.dumps(page.messages).count("text/markdown") == 1
