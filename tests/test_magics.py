"""%%byok and %byok driven in a real InteractiveShell against a loopback server."""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output

from byok_magic.config import Profile
from byok_magic.errors import CellFailed
from tests.loopback import Reply, chat_chunks


def markdown_of(outputs) -> list[str]:
    return [o.data.get("text/markdown", "") for o in outputs if "text/markdown" in o.data]


def _loop_profile(router, loopback, key, memory_store, name="loop"):
    router.config.add(Profile(name=name, type="openai", base_url=loopback.url + "/v1"))
    memory_store.set(name, key)


def test_cell_streams_answer_and_returns_nothing(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    pieces = [f"word{i} " for i in range(30)]
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(pieces), delay=0.02))
    with capture_output() as cap:
        result = ip.run_cell_magic("byok", "loop:test-model", "What is up?")
    assert result is None
    text = "".join(pieces)
    shown = markdown_of(cap.outputs)
    updates = [o for o in cap.outputs if getattr(o, "update", False)]
    assert len(updates) >= 3, "the answer should grow over several display updates"
    assert any(text.strip() in md for md in shown[-3:])
    (seen,) = loopback.seen()
    assert seen.header("authorization") == f"Bearer {fake_key}"
    assert seen.json["stream"] is True
    assert seen.json["model"] == "test-model"
    assert seen.json["messages"][-1] == {"role": "user", "content": "What is up?"}
    assert all(fake_key not in md for md in shown)


def test_missing_key_message(ip, router, loopback):
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "loop:m", "hi")
    out = "\n".join(markdown_of(cap.outputs))
    assert "no API key for profile 'loop'" in out
    assert "%byok keys set loop" in out
    assert loopback.seen() == []


def test_error_keeps_partial_answer(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    reply = Reply.sse(chat_chunks(["partial ", "answer"], usage=False), disconnect_after=3)
    loopback.route("POST", "/v1/chat/completions", reply)
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "loop:m", "hi")
    final = markdown_of(cap.outputs)[-1]
    assert "partial answer" in final
    assert "interrupted" in final


def test_key_in_arguments_is_refused(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", f"loop:m --system {fake_key}", "hi")
    out = "\n".join(markdown_of(cap.outputs))
    assert "rotate" in out and fake_key not in out
    assert loopback.seen() == []


def test_line_magic_profiles_use_and_status(ip, router, loopback, memory_store, fake_key):
    with capture_output() as cap:
        ip.run_line_magic("byok", f"add work --type openai --base-url {loopback.url}/v1")
        ip.run_line_magic("byok", "use work:gpt-test")
    memory_store.set("work", fake_key)
    with capture_output() as cap:
        ip.run_line_magic("byok", "")
    status = "\n".join(markdown_of(cap.outputs))
    assert "work:gpt-test" in status
    assert fake_key[-4:] in status and fake_key not in status
    assert (router.config.path).read_text().count("[profiles.work]") == 1
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["hi there"])))
    with capture_output() as cap:
        ip.run_cell_magic("byok", "", "hello")
    assert loopback.seen()[0].json["model"] == "gpt-test"
    with capture_output() as cap:
        ip.run_line_magic("byok", "remove work")
    assert "work" not in router.config.profiles()


def test_unknown_preset_type_is_clear(ip, router, memory_store, fake_key):
    router.config.add(Profile(name="vx", type="vertex", base_url="https://example.com"))
    memory_store.set("vx", fake_key)
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "vx:gemini-x", "hi")
    out = "\n".join(markdown_of(cap.outputs))
    assert "not supported yet" in out or "vertex" in out


def test_thread_history_and_rerun(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["A1"])))
    with capture_output():
        ip.run_cell_magic("byok", "loop:m", "first")
        ip.run_cell_magic("byok", "loop:m", "second")
        ip.run_cell_magic("byok", "loop:m", "second")  # re-run: replaces, does not duplicate
        ip.run_cell_magic("byok", "loop:m --no-history", "alone")
    msgs = [r.json["messages"] for r in loopback.seen()]
    assert msgs[1] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "second"},
    ]
    assert msgs[2] == msgs[1]
    assert msgs[3] == [{"role": "user", "content": "alone"}]


def test_json_and_dicts_survive_interpolation(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    ip.user_ns["name"] = "Ada"
    cell = 'Hi {name}! {"a": {"b": [1, 2]}} and {x: 1 for x in y} and f"{val!r}" {{name}} {nope}'
    with capture_output():
        ip.run_cell_magic("byok", "loop:m", cell)
    sent = loopback.seen()[0].json["messages"][-1]["content"]
    assert sent == cell.replace("{name}!", "Ada!").replace("{{name}}", "{name}")


def test_out_variable_and_code_format(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    answer = "Here:\n```python\nprint(42)\n```\n"
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks([answer])))
    with capture_output():
        ip.run_cell_magic("byok", "loop:m -f code -o ans", "code please")
    assert ip.user_ns["ans"] == answer
    assert ip.rl_next_input == "print(42)"


def test_long_threads_are_trimmed_with_a_note(ip, router, loopback, memory_store, fake_key):
    from byok_magic.events import ModelInfo

    router.config.add(
        Profile(
            name="loop",
            type="openai",
            base_url=loopback.url + "/v1",
            models=(ModelInfo(id="small", context_window=1000),),
        )
    )
    memory_store.set("loop", fake_key)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["x" * 400])))
    with capture_output() as cap:
        for i in range(6):
            ip.run_cell_magic("byok", "loop:small", f"question {i} " + "y" * 400)
    last = loopback.seen()[-1].json["messages"]
    assert last[-1]["content"].startswith("question 5")
    assert sum(len(m["content"]) for m in last) <= 3000
    assert len(last) < 11
    assert "left out to fit the context window" in markdown_of(cap.outputs)[-1]


def _anthropic_stream(text: str) -> Reply:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [],
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 3},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    import json

    chunks = [f"event: {e}\ndata: {json.dumps(d)}\n\n".encode() for e, d in events]
    return Reply(200, {"content-type": "text/event-stream"}, chunks)


def test_threads_survive_switching_providers(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    router.config.add(Profile(name="claude", type="anthropic", base_url=loopback.url))
    memory_store.set("claude", fake_key + "-a")
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["from gpt"])))
    loopback.route("POST", "/v1/messages", _anthropic_stream("from claude"))
    with capture_output():
        ip.run_cell_magic("byok", "loop:m -s 'be brief'", "one")
        ip.run_cell_magic("byok", "claude:claude-x -s 'be brief'", "two")
        ip.run_cell_magic("byok", "loop:m", "three")
    (anth,) = loopback.seen("/v1/messages")
    assert anth.header("x-api-key") == fake_key + "-a"
    assert anth.json["system"] == "be brief"
    assert [(m["role"], m["content"]) for m in anth.json["messages"]] == [
        ("user", "one"),
        ("assistant", "from gpt"),
        ("user", "two"),
    ]
    last = loopback.seen("/v1/chat/completions")[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in last] == [
        ("user", "one"),
        ("assistant", "from gpt"),
        ("user", "two"),
        ("assistant", "from claude"),
        ("user", "three"),
    ]


def test_outputs_read_as_text_in_a_terminal(ip, router):
    """Terminal IPython and text frontends get the Markdown source, not an object repr."""
    with capture_output() as cap:
        ip.run_line_magic("byok", "")
        with pytest.raises(CellFailed):
            ip.run_cell_magic("byok", "nosuchprofile:m", "hi")
    plain = [o.data.get("text/plain", "") for o in cap.outputs]
    assert all("IPython.core.display" not in p for p in plain)
    assert any("default target" in p for p in plain)
    assert any("no profile named 'nosuchprofile'" in p for p in plain)


def test_help_names_the_magics_as_typed(ip):
    cell_doc = ip.magics_manager.magics["cell"]["byok"].__doc__
    line_doc = ip.magics_manager.magics["line"]["byok"].__doc__
    assert "%%byok [-s SYSTEM]" in cell_doc and "byok_cell" not in cell_doc
    assert "%byok [command]" in line_doc and "byok_line" not in line_doc


def test_a_blank_cell_sends_nothing(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "loop:m", "   \n\t\n")
    assert "the prompt is empty" in "\n".join(markdown_of(cap.outputs))
    assert loopback.seen() == []


def test_models_without_a_key_say_how_to_add_one(ip, router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="nokey", type="openai", base_url=loopback.url + "/v1"))
    loopback.route("GET", "/v1/models", Reply.json({"error": {"message": "no auth"}}, status=401))
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_line_magic("byok", "models nokey")
    out = "\n".join(markdown_of(cap.outputs))
    assert "no API key for profile 'nokey'" in out and "rejected" not in out
    # listing every profile contacts only those that have a key (or need none)
    _loop_profile(router, loopback, fake_key, memory_store)
    loopback.route("GET", "/v1/models", Reply.json({"data": [{"id": "m1"}]}))
    before = len(loopback.seen())
    with capture_output() as cap:
        ip.run_line_magic("byok", "models")
    out = "\n".join(markdown_of(cap.outputs))
    assert "loop:m1" in out
    assert "openai:…" in out and "🔑 key required" in out
    assert len(loopback.seen()) == before + 1


def test_keys_delete_removes_key_and_bearer(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    memory_store.set("loop#bearer", fake_key + "-bearer")
    with capture_output() as cap:
        ip.run_line_magic("byok", "keys delete loop")
    out = "\n".join(markdown_of(cap.outputs))
    assert "Deleted the API key and bearer token for profile 'loop'." in out
    assert memory_store.values == {}


def test_a_cut_variable_is_said_in_the_footer(ip, router, loopback, memory_store, fake_key):
    _loop_profile(router, loopback, fake_key, memory_store)
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    ip.user_ns["big"] = "A" * 100_000
    with capture_output() as cap:
        ip.run_cell_magic("byok", "loop:m --no-history", "{big}")
    sent = loopback.seen()[0].json["messages"][-1]["content"]
    assert sent.startswith("A" * 20_000) and "80,000 more characters truncated" in sent
    assert "{big} was cut to 20,000 characters" in markdown_of(cap.outputs)[-1]


def test_an_error_before_any_answer_has_no_token_footer(ip, router, loopback):
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "loop:m", "hi")
    final = markdown_of(cap.outputs)[-1]
    assert "no API key for profile 'loop'" in final
    assert "tokens" not in final and "<sub>" not in final


def test_small_things_users_trip_on(ip, router, loopback):
    with capture_output() as cap:
        ip.run_line_magic("byok", "add new3 --type openai")
    assert "needs a base URL" in markdown_of(cap.outputs)[-1]
    ip.user_ns["ans"] = "earlier answer"
    with capture_output(), pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "new3:m -o ans", "hi")
    assert ip.user_ns["ans"] == "earlier answer", "a failure that kept nothing leaves -o alone"
