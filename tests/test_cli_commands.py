"""byok ask / models / profiles / add / use / remove, as subprocesses, against a loopback server."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.leakcheck import find_secret
from tests.loopback import Reply, chat_chunks


def byok(*args, env=None, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "byok_magic.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_profile_commands_then_ask_and_models(loopback, byok_home, fake_key):
    r = byok(
        "add",
        "loop",
        "--type",
        "openai",
        "--base-url",
        loopback.url + "/v1",
        "--key-env",
        "LOOP_KEY",
        "--model",
        "m-default",
    )
    assert r.returncode == 0, r.stderr
    assert byok("use", "loop:m1").returncode == 0
    r = byok("profiles", env={"LOOP_KEY": fake_key})
    assert "default target: loop:m1" in r.stdout
    assert "env:LOOP_KEY" in r.stdout and fake_key[-4:] in r.stdout
    assert find_secret(r.stdout + r.stderr, fake_key) is None

    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["4", " (four)"])))
    r = byok("ask", "What is 2+2?", env={"LOOP_KEY": fake_key})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "4 (four)\n"
    assert "loop:m1" in r.stderr and "tokens" in r.stderr
    seen = loopback.seen()[-1]
    assert seen.json["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert seen.header("authorization") == f"Bearer {fake_key}"

    r = byok("ask", "-t", "loop", "-s", "be brief", env={"LOOP_KEY": fake_key}, stdin="from stdin")
    assert r.returncode == 0, r.stderr
    body = loopback.seen()[-1].json
    assert body["model"] == "m-default"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "from stdin"},
    ]

    loopback.route("GET", "/v1/models", Reply.json({"data": [{"id": "m1"}, {"id": "m2"}]}))
    r = byok("models", "loop", env={"LOOP_KEY": fake_key})
    assert r.returncode == 0, r.stderr
    assert "loop:m1" in r.stdout and "loop:m2" in r.stdout and "🔑" not in r.stdout
    r = byok("models", "loop", "--refresh")  # no key in the environment now
    assert "🔑 key required" in r.stdout

    assert byok("remove", "loop").returncode == 0
    assert "loop" not in byok("profiles").stdout.split()


def test_ask_errors_are_one_line(loopback, byok_home, fake_key):
    byok("add", "loop", "--type", "openai", "--base-url", loopback.url + "/v1")
    r = byok("ask", "-t", "loop:m", "hi")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "no API key for profile 'loop'" in r.stderr and "byok keys set loop" in r.stderr
    assert "%byok" not in r.stderr and "cell" not in r.stderr  # worded for a shell prompt
    r = byok("ask", "-t", "nope:m", "hi")
    assert r.returncode == 2 and "no profile named 'nope'" in r.stderr
    r = byok("ask", "-t", "loop:m", fake_key)
    assert r.returncode == 2 and "rotate" in r.stderr and fake_key not in r.stderr


def test_ask_into_a_closed_pipe_exits_quietly(loopback, byok_home, fake_key):
    byok("add", "loop", "--type", "openai", "--base-url", loopback.url + "/v1", "--key-env", "K")
    loopback.route(
        "POST", "/v1/chat/completions", Reply.sse(chat_chunks(["word "] * 20000), delay=0)
    )
    proc = subprocess.run(
        f"{sys.executable} -m byok_magic.cli ask -t loop:m hi | head -c 20",
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, "K": fake_key},
        timeout=60,
    )
    assert proc.stdout == "word " * 4
    assert proc.stderr == ""


def test_add_without_a_needed_base_url_says_so(byok_home):
    r = byok("add", "nourl", "--type", "openai")
    assert r.returncode == 0
    assert "needs a base URL" in r.stdout and "byok add nourl --base-url URL" in r.stdout
