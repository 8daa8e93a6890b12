"""Keys never land in a notebook, a traceback, the namespace or IPython's history (security.md §5
tests 4, 7, 21 and 22), driven in a real kernel with every public function and magic."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.leakcheck import find_secret
from tests.loopback import Reply, chat_chunks

CELLS = [
    "%load_ext byok_magic",
    "%xmode Verbose",
    "%byok",
    "%byok keys",
    "%byok profiles",
    "%byok models loop",
    "%byok use loop:m1",
    "%%byok\nHello there",
    "%%byok loop:m1 tok:m2 --no-history\nCompare this",
    "%%byok loop:m1 -o answer -f text\nKeep it",
    "answer",
    "%%byok bad:m1\nThis one cannot connect",
    "%%byok denied:m1\nThis one is rejected",
    "import byok_magic as byok\nbyok.ask('api call', target='loop:m1')",
    "list(byok.stream('api stream', target='loop:m1'))",
    "byok.list_models('loop')",
    "byok.ask_many(['a', 'b'], target='loop:m1', concurrency=2)",
    # uncaught errors under %xmode Verbose: frames and their locals are printed
    "byok.ask('verbose failure', target='bad:m1')",
    "byok.ask('verbose 401', target='denied:m1')",
    "%byok reset",
    "%whos",
    (
        "import os\n"
        "k = os.environ['LOOP_TEST_KEY']\n"
        "leaks = [n for n, v in list(globals().items()) if n not in ('k', 'os') and "
        "k in repr(v)]\n"
        "del k\nleaks"
    ),
]


@pytest.fixture
def keyed_home(byok_home, loopback, fake_key, monkeypatch, tmp_path):
    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "profiles.toml").write_text(
        f'[profiles.loop]\ntype = "openai"\nbase_url = "{loopback.url}/v1"\n'
        'key_env = "LOOP_TEST_KEY"\n\n'
        f'[profiles.tok]\ntype = "openai"\nbase_url = "{loopback.url}/tok/v1"\n'
        'key_env = "LOOP_TEST_KEY"\nauth = "bearer"\n\n'
        '[profiles.bad]\ntype = "openai"\nbase_url = "http://127.0.0.1:1/v1"\n'
        'key_env = "LOOP_TEST_KEY"\n\n'
        f'[profiles.denied]\ntype = "openai"\nbase_url = "{loopback.url}/denied/v1"\n'
        'key_env = "LOOP_TEST_KEY"\n'
    )
    monkeypatch.setenv("LOOP_TEST_KEY", fake_key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    ok = Reply.sse(chat_chunks(["an ", "answer"]))
    loopback.route("POST", "/v1/chat/completions", ok)
    loopback.route("POST", "/tok/v1/chat/completions", ok)
    loopback.route(
        "POST",
        "/denied/v1/chat/completions",
        Reply.json(
            {
                "error": {
                    "message": f"Incorrect API key provided: {fake_key}",
                    "code": "invalid_api_key",
                }
            },
            status=401,
        ),
    )
    loopback.route("GET", "/v1/models", Reply.json({"data": [{"id": "m1"}, {"id": "m2"}]}))
    return tmp_path


def test_every_public_face_in_a_kernel_keeps_no_key(keyed_home, fake_key, loopback):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=True, store_widget_state=True
    ).execute()
    path = keyed_home / "run.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text()
    assert find_secret(saved, fake_key) is None

    outputs = {i: c.outputs for i, c in enumerate(nb.cells)}
    errors_at = [i for i, outs in outputs.items() for o in outs if o.output_type == "error"]
    failing_cells = [CELLS.index(c) for c in CELLS if c.startswith("%%byok bad:")] + [
        CELLS.index(c) for c in CELLS if c.startswith("%%byok denied:")
    ]
    api_errors = [CELLS.index(c) for c in CELLS if c.startswith("byok.ask('verbose")]
    assert errors_at == sorted(failing_cells + api_errors)
    for i in failing_cells:  # a failed %%byok fails its cell with one line, no traceback
        (err,) = [o for o in outputs[i] if o.output_type == "error"]
        assert err["traceback"] == ["byok: the request failed (the message above says why)"]
    verbose_tb = "\n".join(
        "\n".join(o["traceback"])
        for i in api_errors
        for o in outputs[i]
        if o.output_type == "error"
    )
    assert "ConnectFailed" in verbose_tb and "AuthError" in verbose_tb
    leaks = outputs[len(CELLS) - 1][0]["data"]["text/plain"]
    assert leaks == "[]"
    # the key did reach the right server, as a header
    assert loopback.seen("/v1/chat/completions")[0].header("authorization") == f"Bearer {fake_key}"
    for seen in loopback.seen():
        assert find_secret(seen.path + str(seen.query) + seen.body.decode(), fake_key) is None


def test_history_database_keeps_no_key(keyed_home, fake_key):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        for code in CELLS[:10]:
            kc.execute_interactive(code, timeout=30)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    dbs = list(Path(keyed_home, "ipython").rglob("history.sqlite"))
    assert dbs, "the kernel should have written its history"
    for db in dbs:
        con = sqlite3.connect(db)
        rows = con.execute("select source_raw from history").fetchall()
        con.close()
        assert rows and find_secret(repr(rows), fake_key) is None


def test_nbconvert_execute_to_html_keeps_no_key(keyed_home, fake_key):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS[:14]]
    src = keyed_home / "export.ipynb"
    nbformat.write(nb, src)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "html",
            "--execute",
            "--allow-errors",
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    html = (keyed_home / "export.html").read_text()
    assert "an answer" in html
    assert find_secret(html, fake_key) is None
