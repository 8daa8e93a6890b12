"""The notebooks run in a real kernel (nbclient) against a loopback server, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.leakcheck import find_secret
from tests.loopback import Reply, chat_chunks

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _loop_home(home: Path, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "profiles.toml").write_text(
        f'[profiles.loop]\ntype = "openai"\nbase_url = "{url}/v1"\nkey_env = "LOOP_TEST_KEY"\n'
    )


def test_quickstart_runs_and_keeps_no_key(loopback, byok_home, fake_key, monkeypatch, tmp_path):
    _loop_home(byok_home, loopback.url)
    monkeypatch.setenv("LOOP_TEST_KEY", fake_key)
    monkeypatch.setenv("BYOK_MAGIC_TARGET", "loop:test-model")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    answer = "Notebooks mix **code**, results and prose.\n\nThey make work easy to share."
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply.sse(chat_chunks([answer[i : i + 7] for i in range(0, len(answer), 7)]), delay=0.01),
    )
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=True).execute()
    out = tmp_path / "quickstart-run.ipynb"
    nbformat.write(nb, out)

    seen = loopback.seen("/v1/chat/completions")
    assert len(seen) == 3
    assert all(s.header("authorization") == f"Bearer {fake_key}" for s in seen)
    first = seen[0].json
    assert first["model"] == "test-model" and first["stream"] is True
    assert first["messages"] == [
        {
            "role": "user",
            "content": "In two sentences: what is a Jupyter notebook good for?",
        }
    ]
    second = seen[1].json["messages"]
    assert second[-1]["content"] == (
        'Now one sentence about reproducible research, in the style {"style": "short"}.'
    )
    assert second[1] == {"role": "assistant", "content": answer}

    ask_cell = next(c for c in nb.cells if c.source.startswith("%%byok {TARGET}\nIn two"))
    shown = [o for o in ask_cell.outputs if "text/markdown" in o.get("data", {})]
    assert shown, ask_cell.outputs
    assert answer in shown[-1]["data"]["text/markdown"]
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    saved = out.read_text()
    assert find_secret(saved, fake_key) is None
    assert json.loads(saved)  # a valid notebook file


@pytest.mark.parametrize("name", ["quickstart.ipynb", "tour.ipynb", "providers.ipynb"])
def test_notebooks_have_kernelspec_and_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_tour_runs_in_a_real_kernel(loopback, byok_home, fake_key, monkeypatch, tmp_path):
    import time

    byok_home.mkdir(parents=True, exist_ok=True)
    speeds = {"fast": 0.0, "mid": 0.05, "slow": 0.12}
    (byok_home / "profiles.toml").write_text(
        "".join(
            f'[profiles.{n}]\ntype = "openai"\nbase_url = "{loopback.url}/{n}/v1"\n'
            f'key_env = "LOOP_TEST_KEY"\n\n'
            for n in speeds
        )
    )
    monkeypatch.setenv("LOOP_TEST_KEY", fake_key)
    monkeypatch.setenv("BYOK_MAGIC_TARGET", "fast:m1")
    monkeypatch.setenv("BYOK_MAGIC_COMPARE", "fast:m1 mid:m2 slow:m3")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    arrivals: dict[str, list[float]] = {}

    def handler_for(name):
        def handler(seen):
            arrivals.setdefault(name, []).append(time.monotonic())
            prompt = seen.json["messages"][-1]["content"]
            if "reverses a string" in prompt:
                text = "Sure:\n```python\ndef rev(s):\n    return s[::-1]\n```\n"
            else:
                text = f"{name} says: answer to [{prompt[:30]}]"
            pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
            return Reply.sse(chat_chunks(pieces), delay=speeds[name])

        return handler

    for n in speeds:
        loopback.route("POST", f"/{n}/v1/chat/completions", handler_for(n))
    nb = nbformat.read(NOTEBOOKS / "tour.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        # run "What is my name?" again: the thread must not grow a duplicate
        again = next(i for i, c in enumerate(nb.cells) if "What is my name?" in c.source)
        client.execute_cell(nb.cells[again], again)
    fast = [s.json for s in loopback.seen("/fast/v1/chat/completions")]
    name_calls = [b for b in fast if b["messages"][-1]["content"] == "What is my name?"]
    assert len(name_calls) == 2
    assert name_calls[0]["messages"] == name_calls[1]["messages"]
    assert [m["role"] for m in name_calls[1]["messages"]] == ["user", "assistant", "user"]
    side = next(b for b in fast if "separate thread" in b["messages"][-1]["content"])
    assert len(side["messages"]) == 1
    interp = next(b for b in fast if "Who scored more" in b["messages"][-1]["content"])
    assert interp["messages"][-1]["content"] == (
        "Who scored more in {'alice': 3, 'bob': 5}? Answer as JSON like {\"winner\": \"<name>\"}.\n"
        "Also name a use for rust. Literal braces: {langs}."
    )
    code = next(b for b in fast if "reverses a string" in b["messages"][-1]["content"])
    assert code["temperature"] == 0.2
    assert code["messages"][0] == {
        "role": "system",
        "content": "Answer with one Python code block only.",
    }
    # -f code: the kernel asked the frontend to put the code in a new cell
    code_cell = next(c for c in nb.cells if c.source.startswith("%%byok {TARGET} -f code"))
    assert code_cell.execution_count
    # comparison: all three requests were in flight together, and three columns were rendered
    compare_starts = [arrivals[n][-2 if n == "fast" else -1] for n in ("mid", "slow")]
    assert max(compare_starts) - min(compare_starts) < 0.5
    grid = next(c for c in nb.cells if c.source.startswith("%%byok {COMPARE}"))
    html = "".join(
        o.get("data", {}).get("text/html", "") + o.get("data", {}).get("text/markdown", "")
        for o in grid.outputs
    )
    for label in ("fast:m1", "mid:m2", "slow:m3"):
        assert label in html
    errors_seen = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors_seen, errors_seen
    batch = nb.cells[-1].outputs[-1]["data"]["text/plain"]
    assert batch.count("fast says") == 3


def test_providers_notebook_against_stand_in_servers(
    loopback, byok_home, fake_key, monkeypatch, tmp_path
):
    """Each section of providers.ipynb talks to a loopback server in that provider's format."""
    ark_key, gw_key = fake_key + "-ark", fake_key + "-gw"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", fake_key)
    monkeypatch.setenv("ARK_API_KEY", ark_key)
    monkeypatch.setenv("GATEWAY_KEY", gw_key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("DEMO_AZURE", loopback.url)
    monkeypatch.setenv("DEMO_OLLAMA", loopback.url + "/ollama")
    monkeypatch.setenv("DEMO_ARK", loopback.url + "/api/v3")
    monkeypatch.setenv("DEMO_LITELLM", loopback.url + "/litellm")
    monkeypatch.setenv("DEMO_GATEWAY", loopback.url + "/team-a/chat/completions#")

    def chat(text):
        return Reply.sse(chat_chunks([text[:6], text[6:]]))

    ndjson = "".join(
        json.dumps(line) + "\n"
        for line in (
            {"model": "llama3.2:3b", "message": {"role": "assistant", "content": "Hello "}},
            {"model": "llama3.2:3b", "message": {"role": "assistant", "content": "from Ollama"}},
            {
                "model": "llama3.2:3b",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 9,
                "eval_count": 3,
            },
        )
    )
    loopback.route("POST", "/openai/deployments/gpt-4.1/chat/completions", chat("Hello from Azure"))
    loopback.route("POST", "/openai/v1/chat/completions", chat("Hello from Foundry"))
    loopback.route("GET", "/ollama/api/tags", Reply.json({"models": [{"name": "llama3.2:3b"}]}))
    loopback.route("POST", "/ollama/api/chat", Reply.raw(ndjson, "application/x-ndjson"))
    loopback.route("POST", "/api/v3/chat/completions", chat("Hello from Doubao"))
    loopback.route("POST", "/litellm/v1/chat/completions", chat("Hello via LiteLLM"))
    loopback.route("POST", "/team-a/chat/completions", chat("Hello via gateway"))

    nb = nbformat.read(NOTEBOOKS / "providers.ipynb", as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    errors_seen = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors_seen, errors_seen
    shown = "\n".join(
        o["data"]["text/markdown"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    for text in (
        "Hello from Azure",
        "Hello from Foundry",
        "Hello from Ollama",
        "Hello from Doubao",
        "Hello via LiteLLM",
        "Hello via gateway",
    ):
        assert text in shown, text
    assert "⚠️" not in shown, shown

    (azure,) = loopback.seen("/openai/deployments/gpt-4.1/chat/completions")
    assert azure.query == {"api-version": ["2024-10-21"]}
    assert azure.header("api-key") == fake_key and azure.header("authorization") is None
    (foundry,) = loopback.seen("/openai/v1/chat/completions")
    assert foundry.header("authorization") == f"Bearer {fake_key}"
    assert foundry.json["model"] == "gpt-4.1-mini"
    (ollama,) = loopback.seen("/ollama/api/chat")
    assert ollama.json["model"] == "llama3.2:3b" and ollama.header("authorization") is None
    (ark,) = loopback.seen("/api/v3/chat/completions")
    assert ark.json["model"] == "ep-20260101123456-abcde"
    assert ark.header("authorization") == f"Bearer {ark_key}"
    (lite,) = loopback.seen("/litellm/v1/chat/completions")
    assert lite.json["model"] == "team-default"
    (gw,) = loopback.seen("/team-a/chat/completions")
    assert gw.header("x-team") == "ml" and gw.header("authorization") == f"Bearer {gw_key}"
    assert gw.json["model"] == "house-model"
    saved = json.dumps(nb)
    for key in (fake_key, ark_key, gw_key):
        assert find_secret(saved, key) is None
