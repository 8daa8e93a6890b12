"""Loading, unloading, help and load cost of the extension in a real IPython."""

from __future__ import annotations

import json
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
    code = (
        "import sys, json\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'byok_magic')\n"
        "print(json.dumps([m for m in ('httpx', 'keyring', 'ipywidgets', 'ssl',"
        " 'platformdirs', 'tomllib') if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
