"""Ollama's native API (NDJSON /api/chat, /api/tags, OLLAMA_HOST, remote hosts) and Foundry
Local's port discovery (a real `foundry` program on PATH, the env var, or a clear message)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from byok_magic import discovery, errors
from byok_magic.config import Profile
from byok_magic.events import Finish, Message, ReasoningDelta, TextDelta, Usage
from byok_magic.router import Answer
from tests.loopback import Reply, chat_chunks


def ndjson(*objs: dict) -> Reply:
    return Reply(
        200,
        {"content-type": "application/x-ndjson"},
        [(json.dumps(o) + "\n").encode() for o in objs],
    )


def line(content: str = "", thinking: str | None = None, **extra) -> dict:
    msg: dict = {"role": "assistant", "content": content}
    if thinking is not None:
        msg["thinking"] = thinking
    return {"model": "qwen3:8b", "message": msg, "done": False, **extra}


DONE = {
    **line(),
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 26,
    "eval_count": 12,
    "total_duration": 912000000,
}


@pytest.fixture
def ollama(router, loopback):
    router.config.add(Profile(name="ollama", type="ollama", base_url=loopback.url))
    return router


def test_streams_ndjson_with_thinking_and_counts(ollama, loopback):
    loopback.route(
        "POST",
        "/api/chat",
        ndjson(line(thinking="Adding."), line("4"), line(" exactly"), DONE),
    )
    prof, req = ollama.request(
        "what is 2+2?",
        "ollama:qwen3:8b",
        history=(Message("user", "hello"), Message("assistant", "Hi.")),
        system="Answer in one line.",
        max_tokens=800,
        temperature=0.3,
        reasoning_effort="low",
    )
    events = list(ollama.stream(prof, req))
    assert events == [
        ReasoningDelta("Adding."),
        TextDelta("4"),
        TextDelta(" exactly"),
        Usage(input_tokens=26, output_tokens=12),
        Finish("stop", "stop"),
    ]
    (seen,) = loopback.seen()
    assert seen.header("authorization") is None  # no key needed locally
    assert seen.header("accept") == "application/x-ndjson"
    assert seen.json == {
        "model": "qwen3:8b",
        "messages": [
            {"role": "system", "content": "Answer in one line."},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "what is 2+2?"},
        ],
        "stream": True,
        "options": {"num_predict": 800, "temperature": 0.3},
        "think": True,
    }


def test_gpt_oss_takes_a_think_level(ollama, loopback):
    loopback.route("POST", "/api/chat", ndjson(line("ok"), DONE))
    prof, req = ollama.request("hi", "ollama:gpt-oss:20b", reasoning_effort="high")
    list(ollama.stream(prof, req))
    assert loopback.seen()[0].json["think"] == "high"


def test_done_line_may_carry_text_and_omit_zero_counts(ollama, loopback):
    loopback.route("POST", "/api/chat", ndjson({**line("last words"), "done": True}))
    prof, req = ollama.request("hi", "ollama:m")
    events = list(ollama.stream(prof, req))
    assert events == [TextDelta("last words"), Usage(0, 0), Finish("stop", "stop")]


def test_error_line_mid_stream(ollama, loopback):
    loopback.route(
        "POST", "/api/chat", ndjson(line("Par"), {"error": "model runner has unexpectedly stopped"})
    )
    prof, req = ollama.request("hi", "ollama:m")
    answer = Answer(target="ollama:m")
    with pytest.raises(errors.ServerError, match="runner has unexpectedly stopped"):
        list(ollama.stream(prof, req, answer))
    assert answer.text == "Par"


def test_stream_cut_before_done_is_interrupted(ollama, loopback):
    loopback.route("POST", "/api/chat", ndjson(line("a"), line("b")))
    with pytest.raises(errors.StreamInterrupted):
        ollama.ask("hi", "ollama:m")


def test_unknown_model_says_how_to_pull_it(ollama, loopback):
    body = {"error": "model 'llama9' not found, try pulling it first"}
    loopback.route("POST", "/api/chat", Reply.json(body, status=404))
    with pytest.raises(errors.ModelNotFoundError, match="ollama pull"):
        ollama.ask("hi", "ollama:llama9")


def test_models_from_api_tags(ollama, loopback):
    tags = {
        "models": [
            {
                "name": "llava:7b",
                "details": {"families": ["llama", "clip"], "parameter_size": "7B"},
            },
            {"name": "llama3.2:3b", "details": {"families": ["llama"], "quantization_level": "Q4"}},
        ]
    }
    loopback.route("GET", "/api/tags", Reply.json(tags))
    models = ollama.list_models("ollama", refresh=True)
    assert [(m.id, m.vision) for m in models] == [("llama3.2:3b", None), ("llava:7b", True)]
    assert models[1].profile == "ollama"


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/", "/v1"])
def test_base_url_suffixes_are_normalised(router, loopback, suffix):
    router.config.add(
        Profile(name="box", type="ollama", base_url=loopback.url + suffix, auth="none")
    )
    loopback.route("POST", "/api/chat", ndjson(line("ok"), DONE))
    assert router.ask("hi", "box:m") == "ok"


def test_remote_host_with_a_key_sends_bearer(router, loopback, memory_store, fake_key):
    router.config.add(
        Profile(name="cloud", type="ollama", base_url=loopback.url + "/api", auth="api-key")
    )
    memory_store.set("cloud", fake_key)
    loopback.route("POST", "/api/chat", ndjson(line("ok"), DONE))
    assert router.ask("hi", "cloud:gpt-oss:120b") == "ok"
    assert loopback.seen()[0].header("authorization") == f"Bearer {fake_key}"


# ---------------------------------------------------------------------------------------------
# OLLAMA_HOST


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "http://127.0.0.1:{port}", "0.0.0.0:{port}"])
def test_ollama_host_moves_the_preset(router, loopback, monkeypatch, form):
    monkeypatch.setenv("OLLAMA_HOST", form.format(port=loopback.port))
    loopback.route("POST", "/api/chat", ndjson(line("hi there"), DONE))
    assert router.ask("hi", "ollama:llama3.2:3b") == "hi there"  # no profile added


def test_ollama_host_never_moves_an_address_the_user_typed(router, loopback, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:1")
    router.config.add(Profile(name="ollama", type="ollama", base_url=loopback.url))
    loopback.route("POST", "/api/chat", ndjson(line("mine"), DONE))
    assert router.ask("hi", "ollama:m") == "mine"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("0.0.0.0", "http://localhost:11434"),
        ("0.0.0.0:11434", "http://localhost:11434"),
        (":8080", "http://127.0.0.1:8080"),
        ("gpu-box", "http://gpu-box:11434"),
        ("gpu-box:9999", "http://gpu-box:9999"),
        ("http://gpu-box", "http://gpu-box:80"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("https://ollama.example.com/proxy/", "https://ollama.example.com:443/proxy"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("::", "http://localhost:11434"),
    ],
)
def test_ollama_host_forms(value, url):
    assert discovery.ollama_url(value) == url


# ---------------------------------------------------------------------------------------------
# Foundry Local


@pytest.fixture
def no_foundry(tmp_path, monkeypatch) -> Path:
    """A PATH with nothing but a bin dir of our own, and no remembered address."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("FOUNDRY_LOCAL_ENDPOINT", raising=False)
    discovery.forget()
    yield bin_dir
    discovery.forget()


def _fake_foundry(bin_dir: Path, output: str) -> None:
    exe = bin_dir / "foundry"
    exe.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")  # printf: a shell builtin
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(os.name != "posix", reason="the fake CLI is a shell script")
def test_foundry_port_from_the_cli(router, loopback, no_foundry):
    _fake_foundry(
        no_foundry,
        f"🟢 Model management service is running on http://127.0.0.1:{loopback.port}/openai/status",
    )
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["local"])))
    assert router.ask("hi", "foundry-local:phi-4-mini") == "local"
    (seen,) = loopback.seen()
    assert seen.header("authorization") is None


@pytest.mark.skipif(os.name != "posix", reason="the fake CLI is a shell script")
def test_foundry_not_running_falls_back_to_the_env(router, loopback, no_foundry, monkeypatch):
    _fake_foundry(no_foundry, "🔴 Model management service is not running!")
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", f"127.0.0.1:{loopback.port}")
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["env"])))
    assert router.ask("hi", "foundry-local:phi-4-mini") == "env"


def test_foundry_models_through_discovery(router, loopback, no_foundry, monkeypatch):
    monkeypatch.setenv("FOUNDRY_LOCAL_ENDPOINT", f"http://127.0.0.1:{loopback.port}/v1")
    loopback.route("GET", "/v1/models", Reply.json({"data": [{"id": "Phi-4-mini-instruct"}]}))
    assert [m.id for m in router.list_models("foundry-local", refresh=True)] == [
        "Phi-4-mini-instruct"
    ]


def test_foundry_unknown_says_how_to_give_the_address(router, no_foundry):
    with pytest.raises(errors.ConfigError) as ei:
        router.ask("hi", "foundry-local:phi-4-mini")
    msg = str(ei.value)
    assert "`%byok add foundry-local --base-url http://localhost:PORT/v1`" in msg
    assert "foundry service status" in msg


def test_foundry_address_given_by_hand_wins(router, loopback, no_foundry):
    router.config.add(Profile(name="foundry-local", type="openai", base_url=loopback.url + "/v1"))
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["typed"])))
    assert router.ask("hi", "foundry-local:m") == "typed"


def test_status_parsing_accepts_only_loopback():
    assert discovery.parse_status("running on http://localhost:5273/openai/status") == (
        "http://localhost:5273/v1"
    )
    assert discovery.parse_status("running on http://10.0.0.5:5273/openai/status") is None
