"""Shared fixtures: a loopback provider server, a private byok home, fake keys, a router."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer

# Keys a developer may have in their shell must never reach a test (or its servers).
_KEY_VARS = [
    v
    for v in os.environ
    if v.endswith(("_API_KEY", "_API_TOKEN", "_AD_TOKEN")) or v in ("OLLAMA_HOST",)
]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own byok home and no provider keys from the environment."""
    home = tmp_path / "byok-home"
    monkeypatch.setenv("BYOK_MAGIC_HOME", str(home))
    monkeypatch.delenv("BYOK_MAGIC_TARGET", raising=False)
    for v in _KEY_VARS:
        monkeypatch.delenv(v, raising=False)
    yield home


@pytest.fixture
def byok_home(_isolated: Path) -> Path:
    return _isolated


@pytest.fixture
def fake_key() -> str:
    """An obviously fake, unique key."""
    return "sk-test-" + secrets.token_hex(16)


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


class MemoryStore:
    """A key store with the real KeyStore's interface, for tests that are not about the keyring."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.gets = 0

    def get(self, user: str) -> str | None:
        self.gets += 1
        return self.values.get(user)

    def set(self, user: str, value: str) -> None:
        self.values[user] = value

    def delete(self, user: str) -> bool:
        return self.values.pop(user, None) is not None

    def status(self, refresh: bool = False):
        from byok_magic.credentials import BackendStatus

        return BackendStatus(True, "tests.MemoryStore", "ok")

    def forget_cache(self) -> None:
        pass


@pytest.fixture
def memory_store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    """Replace the process key store with an in-memory one (the keyring tests use the real one)."""
    import byok_magic.credentials as cred

    store = MemoryStore()
    monkeypatch.setattr(cred, "_store", store)
    return store


@pytest.fixture
def router(byok_home: Path, memory_store: MemoryStore):
    from byok_magic.config import Config
    from byok_magic.router import Router

    return Router(config=Config(home=byok_home), store=memory_store)  # type: ignore[arg-type]


@pytest.fixture
def ip(router):
    """A real InteractiveShell with the extension loaded, using the test router."""
    from IPython.core.interactiveshell import InteractiveShell

    import byok_magic
    from byok_magic import router as router_mod

    shell = InteractiveShell.instance()
    old = router_mod._router
    router_mod._router = router
    shell.run_line_magic("load_ext", "byok_magic")
    yield shell
    shell.run_line_magic("unload_ext", "byok_magic")
    router_mod._router = old
    byok_magic._magics = None
