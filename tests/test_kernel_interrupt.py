"""Interrupting a streaming cell in a real kernel: stopped at once, partial kept, next cell fine."""

from __future__ import annotations

import time

import pytest

from tests.loopback import Reply, chat_chunks


def _outputs_until_idle(kc, msg_id, timeout=20.0):
    out = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = kc.get_iopub_msg(timeout=max(0.1, end - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        out.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out
    raise TimeoutError("kernel never went idle")


def _markdown(msgs):
    return [
        m["content"]["data"]["text/markdown"]
        for m in msgs
        if m["msg_type"] in ("display_data", "update_display_data")
        and "text/markdown" in m["content"].get("data", {})
    ]


@pytest.fixture
def kernel(byok_home, loopback, fake_key, monkeypatch, tmp_path):
    from jupyter_client.manager import start_new_kernel

    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "profiles.toml").write_text(
        f'[profiles.loop]\ntype = "openai"\nbase_url = "{loopback.url}/v1"\n'
        'key_env = "LOOP_TEST_KEY"\n'
    )
    monkeypatch.setenv("LOOP_TEST_KEY", fake_key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_interrupt_mid_stream(kernel, loopback):
    km, kc = kernel
    slow = Reply.sse(chat_chunks([f"w{i} " for i in range(40)]), delay=0.25)
    loopback.route("POST", "/v1/chat/completions", [slow, Reply.sse(chat_chunks(["second"]))])
    msg_id = kc.execute("%load_ext byok_magic")
    _outputs_until_idle(kc, msg_id)

    msg_id = kc.execute("%%byok loop:m\nfirst question")
    seen_partial = False
    deadline = time.monotonic() + 15
    collected = []
    while time.monotonic() < deadline and not seen_partial:
        msg = kc.get_iopub_msg(timeout=15)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        collected.append(msg)
        seen_partial = any("w3" in md for md in _markdown(collected))
    assert seen_partial, "the answer should have started streaming"
    t0 = time.monotonic()
    km.interrupt_kernel()
    collected += _outputs_until_idle(kc, msg_id)
    assert time.monotonic() - t0 < 5, "the connection must close at once (the rest would take 9 s)"
    final = _markdown(collected)[-1]
    assert "w0 w1 w2 w3" in final
    assert "stopped" in final.lower()
    # the cell fails quietly (Run All stops, as on any interrupt): one line, no traceback
    (err,) = [m["content"] for m in collected if m["msg_type"] == "error"]
    assert err["traceback"] == ["byok: stopped; the answer so far is kept"]

    msg_id = kc.execute("%%byok loop:m\nsecond question")
    after = _outputs_until_idle(kc, msg_id)
    assert any("second" in md for md in _markdown(after))
    history = loopback.seen()[-1].json["messages"]
    assert history == [{"role": "user", "content": "second question"}], (
        "an interrupted exchange must not enter the thread"
    )
