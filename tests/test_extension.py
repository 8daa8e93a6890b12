"""Loading, unloading, help and load cost of the extension in a real IPython."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from IPython.core.interactiveshell import InteractiveShell


def test_load_unload_reload():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "byok_magic")
    assert "byok" in ip.magics_manager.magics["cell"]
    assert "byok" in ip.magics_manager.magics["line"]
    ip.run_line_magic("unload_ext", "byok_magic")
    assert "byok" not in ip.magics_manager.magics["cell"]
    assert "byok" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "byok_magic")
    assert "byok" in ip.magics_manager.magics["cell"]
    ip.run_line_magic("unload_ext", "byok_magic")


def test_help_is_real():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "byok_magic")
    try:
        cell_doc = ip.magics_manager.magics["cell"]["byok"].__doc__
        line_doc = ip.magics_manager.magics["line"]["byok"].__doc__
    finally:
        ip.run_line_magic("unload_ext", "byok_magic")
    for opt in (
        "--system",
        "--temperature",
        "--max-tokens",
        "--thread",
        "--new",
        "--format",
        "--out",
        "--show-reasoning",
        "--no-history",
        "--no-interpolate",
    ):
        assert opt in cell_doc, opt
    for sub in ("use PROFILE:MODEL", "keys set NAME", "models", "settings", "reset"):
        assert sub in line_doc, sub


def test_load_ext_imports_nothing_heavy():
    # Only what load_ext adds: on 3.10, IPython 8's shell already imports asyncio, which
    # imports ssl there (3.11+ asyncio does not).
    code = (
        "import sys, json\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "before = set(sys.modules)\n"
        "ip.run_line_magic('load_ext', 'byok_magic')\n"
        "print(json.dumps([m for m in ('httpx', 'keyring', 'ipywidgets', 'ssl',"
        " 'platformdirs', 'tomllib', 'tomli') if m in set(sys.modules) - before]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_keyring_and_client_are_warmed_after_the_loading_cell(tmp_path):
    """%load_ext stays cheap; when the loading cell finishes, a one-shot callback starts a
    background warm-up, so the first %%byok does not pay for resolving the keyring and building
    the HTTP client."""
    code = (
        "import sys, json, threading\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "before = len(ip.events.callbacks['post_run_cell'])\n"
        "ip.run_cell('%load_ext byok_magic')\n"
        "for t in threading.enumerate():\n"
        "    if t.name == 'byok-warm-up':\n"
        "        t.join(30)\n"
        "from byok_magic.router import router\n"
        "r = router()\n"
        "after = len(ip.events.callbacks['post_run_cell'])\n"
        "print(json.dumps([r.store._status is not None, bool(r.transport._clients),\n"
        "                  before == after]))\n"
    )
    env = {**os.environ, "BYOK_MAGIC_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    warmed_store, warmed_client, one_shot = json.loads(out.stdout.strip().splitlines()[-1])
    assert warmed_store and warmed_client and one_shot
