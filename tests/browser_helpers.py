"""Helpers for the panel tests that run a real kernel (nbclient) or a real browser (JupyterLab).

* :func:`kernel_keyring_env`: which keyring a child kernel uses. The real Secret Service when
  ``scripts/keyring-session.sh`` provides one (CI), else the in-memory test keyring, so a key the
  panel saves really goes through byok's vetted key store either way.
* :class:`Lab`: a JupyterLab server on 127.0.0.1 with a fixed free port, a token, fresh
  settings/workspace/runtime dirs, and ``BYOK_MAGIC_HOME`` in a temporary directory.
* :func:`chromium_path` and :data:`CHROME_ARGS`: Debian's chromium for Playwright (which cannot
  download a browser here), per ``shared/recipes/browser``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("BYOK_TEST_ARTIFACTS") or REPO / "test-artifacts")
MEMORY_KEYRING = "tests.keyring_helpers.MemoryKeyring"
CHROME_ARGS = [  # keep Debian chromium quiet and offline-friendly (shared/recipes/browser)
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def real_secret_service() -> bool:
    """True inside ``scripts/keyring-session.sh`` (a private, unlocked gnome-keyring)."""
    return os.environ.get("BYOK_TEST_SECRET_SERVICE") == "1"


def kernel_keyring_env() -> dict[str, str]:
    """Environment a child kernel needs so byok's key store works there.

    With a real Secret Service the kernel inherits its D-Bus address and nothing is added.
    Otherwise the kernel loads the in-memory test keyring (it lives as long as the kernel).
    """
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    if not real_secret_service():
        env["PYTHON_KEYRING_BACKEND"] = MEMORY_KEYRING
    return env


def chromium_path() -> str:
    """Debian's chromium (``BYOK_CHROMIUM`` or /usr/bin/chromium): skip without it, fail in CI."""
    path = os.environ.get("BYOK_CHROMIUM") or "/usr/bin/chromium"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        why = (
            f"no chromium at {path}: apt-get install -y --no-install-recommends chromium "
            "(or run bash scripts/test.sh, which installs it)"
        )
        if in_ci():
            pytest.fail(f"CI is set but {why}")
        pytest.skip(why)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook with an explicit python3 kernelspec (no "Select Kernel" dialog)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


class Lab:
    """``with Lab(tmp, env) as lab:`` JupyterLab on 127.0.0.1; ``lab.url``, ``lab.root``."""

    def __init__(self, base: Path, env: Mapping[str, str], save_widget_state: bool = True) -> None:
        self.base = base
        self.root = base / "root"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self.extra_env = dict(env)
        self.save_widget_state = save_widget_state
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    def _settings(self) -> Path:
        settings = self.base / "settings"
        notif = settings / "@jupyterlab/apputils-extension"
        widgets = settings / "@jupyter-widgets/jupyterlab-manager"
        for d in (notif, widgets):
            d.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        # "Save Widget State Automatically": on, so a saved notebook holds the widgets' state
        # and the test can check that no key is in it.
        (widgets / "plugin.jupyterlab-settings").write_text(
            json.dumps({"saveState": self.save_widget_state})
        )
        return settings

    def __enter__(self) -> Lab:
        self.root.mkdir(parents=True, exist_ok=True)
        b = self.base
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(b / "config"),
            "JUPYTER_RUNTIME_DIR": str(b / "runtime"),
            "JUPYTER_DATA_DIR": str(b / "data"),
            "JUPYTERLAB_SETTINGS_DIR": str(self._settings()),
            "JUPYTERLAB_WORKSPACES_DIR": str(b / "workspaces"),
            "IPYTHONDIR": str(b / "ipython"),
            **self.extra_env,
        }
        jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or "jupyter"
        cmd = [
            jupyter,
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
        ]
        t0 = time.monotonic()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = t0 + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/lab?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"JupyterLab did not start:\n{self.log_tail()}")
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - t0
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def api(self, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def wait_kernels_idle(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ks = self.api("/api/kernels")
            if ks and all(k["execution_state"] == "idle" for k in ks):
                return
            time.sleep(0.2)
        raise TimeoutError("the kernel never became idle")
