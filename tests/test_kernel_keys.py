"""The way a user adds a key in a notebook: `%byok keys set NAME` asks with a hidden prompt in a
real kernel, the key lands in the real Secret Service, and the next `%%byok` uses it."""

from __future__ import annotations

import secrets
import time

import pytest

from tests.keyring_helpers import require_secret_service
from tests.leakcheck import find_secret
from tests.loopback import Reply, chat_chunks


def _run(kc, code, answer=None, timeout=30.0):
    """Execute ``code``; answer an input request with ``answer``; return (iopub msgs, prompts)."""
    msg_id = kc.execute(code, allow_stdin=answer is not None)
    msgs, prompts = [], []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if answer is not None:
            try:
                req = kc.get_stdin_msg(timeout=0.05)
            except Exception:
                req = None
            if req and req["msg_type"] == "input_request":
                prompts.append(req["content"])
                kc.input(answer)
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
        except Exception:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs, prompts
    raise TimeoutError(code)


def _shown(msgs) -> str:
    return "\n".join(
        str(m["content"].get("data", {}).get("text/markdown", ""))
        + str(m["content"].get("text", ""))
        for m in msgs
    )


@pytest.mark.keyring
def test_keys_set_in_a_kernel_then_ask(byok_home, loopback, fake_key, monkeypatch, tmp_path):
    require_secret_service()
    from jupyter_client.manager import start_new_kernel

    service = "byok_magic-test-" + secrets.token_hex(4)
    monkeypatch.setenv("BYOK_MAGIC_KEYRING_SERVICE", service)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "profiles.toml").write_text(
        f'[profiles.loop]\ntype = "openai"\nbase_url = "{loopback.url}/v1"\n'
    )
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["stored ", "key ok"])))
    km, kc = start_new_kernel(kernel_name="python3")
    seen_by_frontend: list = []  # every iopub message a frontend received
    try:
        _run(kc, "%load_ext byok_magic")
        msgs, prompts = _run(kc, "%byok keys set loop", answer=fake_key)
        seen_by_frontend += msgs
        assert len(prompts) == 1 and prompts[0]["password"] is True
        assert "loop" in prompts[0]["prompt"] and fake_key not in prompts[0]["prompt"]
        assert "stored in the keyring" in _shown(msgs)
        msgs, _ = _run(kc, "%byok keys")
        seen_by_frontend += msgs
        status = _shown(msgs)
        assert "keyring" in status and fake_key[-4:] in status
        msgs, _ = _run(kc, "%%byok loop:m1\nhello")
        seen_by_frontend += msgs
        assert "stored key ok" in _shown(msgs)
        msgs, _ = _run(kc, "%byok keys delete loop")
        seen_by_frontend += msgs
        assert "Deleted the API key" in _shown(msgs)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    (seen,) = loopback.seen()
    assert seen.header("authorization") == f"Bearer {fake_key}"
    assert find_secret(repr(seen_by_frontend), fake_key) is None
    import keyring

    assert keyring.get_password(service, "loop") is None
