"""ask_many: order kept, errors collected, a bounded number of requests in flight."""

from __future__ import annotations

import io
import threading
import time

from byok_magic import errors
from byok_magic.batch import ask_many
from byok_magic.config import Profile
from tests.loopback import Reply, chat_chunks


def test_order_errors_and_bounded_concurrency(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("loop", fake_key)
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def handler(seen):
        prompt = seen.json["messages"][-1]["content"]
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        if prompt == "p3":
            return Reply.json({"error": {"message": "nope"}}, status=400)
        return Reply.sse(chat_chunks([f"answer to {prompt}"]))

    loopback.route("POST", "/v1/chat/completions", handler)
    out = io.StringIO()
    prompts = [f"p{i}" for i in range(10)]
    results = ask_many(router, prompts, "loop:m", concurrency=3, progress=out)
    assert [r for i, r in enumerate(results) if i != 3] == [
        f"answer to p{i}" for i in range(10) if i != 3
    ]
    assert isinstance(results[3], errors.BadRequestError)
    assert state["max"] <= 3
    assert state["max"] >= 2, "requests should overlap"
    assert len(loopback.seen()) == 10
    bar = out.getvalue()
    assert "10/10" in bar and "1 failed" in bar


def test_progress_in_a_shell_is_a_live_display(router, loopback, memory_store, fake_key):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["x"])))
    with capture_output() as cap:
        assert ask_many(router, ["a", "b", "c"], "loop:m", concurrency=2) == ["x", "x", "x"]
    texts = [o.data.get("text/plain", "") for o in cap.outputs]
    assert texts and "3/3" in texts[-1]
    assert any(getattr(o, "update", False) for o in cap.outputs)


def test_a_rejected_key_stops_the_batch(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("loop", fake_key)
    loopback.route(
        "POST", "/v1/chat/completions", Reply.json({"error": {"message": "bad key"}}, status=401)
    )
    results = ask_many(
        router, [f"p{i}" for i in range(30)], "loop:m", concurrency=2, progress=False
    )
    assert all(isinstance(r, errors.AuthError) for r in results)
    assert len(loopback.seen()) <= 3, "after a 401 the rest of the batch is not sent"
