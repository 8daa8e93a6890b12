"""Against a real LiteLLM proxy (``litellm[proxy]``, pinned) with mock-response models.

The proxy gets its own virtualenv outside the repository (``$BYOK_GATEWAY_VENV``, default
``$TMPDIR/byok-litellm-VERSION``), installed once (≈ 1 min, reused by later runs) and started
once per session on a free loopback port, then stopped by its process id. Outside CI the tests
skip with the reason when the proxy cannot be installed or started; with ``CI`` set they fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import Finish, TextDelta, Usage

pytestmark = [pytest.mark.gateway, pytest.mark.timeout(900)]

VERSION = "1.106.2"
MASTER_KEY = "sk-test-master-" + "gateway"
ANSWER = "Hello from the proxy"
CONFIG = f"""
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-fake-not-used
      mock_response: "{ANSWER}"
  - model_name: mock-429
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-fake-not-used
      mock_response: "litellm.RateLimitError"
router_settings:
  num_retries: 0
litellm_settings:
  num_retries: 0
general_settings:
  master_key: {MASTER_KEY}
"""
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 120.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the LiteLLM gateway test must run in CI, but: {reason}")
    pytest.skip(reason)


def _venv() -> Path:
    default = Path(tempfile.gettempdir()) / f"byok-litellm-{VERSION}"
    return Path(os.environ.get("BYOK_GATEWAY_VENV") or default)


def _install(venv: Path) -> Path:
    """The ``litellm`` program, installing it first if needed (idempotent, one at a time)."""
    exe = venv / "bin" / "litellm"
    stamp = venv / ".byok-installed"
    if stamp.exists() and stamp.read_text() == VERSION and exe.exists():
        return exe
    import fcntl

    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == VERSION and exe.exists():
            return exe
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--timeout",
                "30",
                "--retries",
                "2",
                f"litellm[proxy]=={VERSION}",
                "prisma>=0.11,<1",  # as the recipe: a missing key then fails cleanly
            ],
        ]
        for cmd in steps:
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                _unavailable(f"cannot install litellm[proxy]=={VERSION}: {exc}")
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-2:]
                _unavailable(f"cannot install litellm[proxy]=={VERSION}: {' | '.join(tail)}")
        stamp.write_text(VERSION)
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    """Stop the proxy we started (its own process group: uvicorn may fork workers)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.fixture(scope="session")
def litellm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.name != "posix":
        _unavailable("the gateway fixture manages a POSIX process group")
    exe = _install(_venv())
    work = tmp_path_factory.mktemp("litellm")
    (work / "litellm.yaml").write_text(CONFIG)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_API_TOKEN")) and k != "DATABASE_URL"
    }
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch the price map
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = work / "litellm.log"
    with open(log_path, "wb") as log:
        command = [str(exe), "--config", str(work / "litellm.yaml"), "--host", "127.0.0.1"]
        command += ["--port", str(port)]
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                _unavailable(f"the LiteLLM proxy exited at start: {' | '.join(tail)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health/liveliness", timeout=2, trust_env=False).is_success:
                    break
            if time.monotonic() > deadline:
                _unavailable(f"the LiteLLM proxy was not ready within {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def gateway(router, memory_store, litellm_url, monkeypatch):
    """The ``litellm`` preset pointed at the real proxy, with its master key stored."""
    router.config.add(Profile(name="litellm", type="openai", base_url=litellm_url))
    memory_store.set("litellm", MASTER_KEY)
    monkeypatch.setattr(router.transport, "sleep", lambda s: None)
    return router


def test_streams_an_answer_through_the_proxy(gateway):
    prof, req = gateway.request("hi", "litellm:mock-gpt", max_tokens=20)
    events = list(gateway.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
    usage = [e for e in events if isinstance(e, Usage)]
    assert usage and usage[-1].output_tokens and usage[-1].input_tokens
    assert events[-1] == Finish("stop", "stop")


def test_byok_and_the_openai_sdk_read_the_proxy_alike(gateway, litellm_url):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=litellm_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    chunks = client.chat.completions.create(
        model="mock-gpt", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    sdk = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert gateway.ask("hi", "litellm:mock-gpt") == sdk == ANSWER


def test_lists_the_proxy_models(gateway):
    models = {m.id: m for m in gateway.list_models("litellm", refresh=True)}
    assert set(models) == {"mock-gpt", "mock-429"}
    assert models["mock-gpt"].context_window == 128000


def test_rate_limit_is_shown_as_such(gateway):
    with pytest.raises(errors.RateLimitError, match="429"):
        gateway.ask("hi", "litellm:mock-429")


def test_a_wrong_key_is_a_key_error(gateway, memory_store):
    memory_store.set("litellm", "sk-test-not-the-master-key")
    with pytest.raises(errors.AuthError, match="%byok keys set litellm"):
        gateway.ask("hi", "litellm:mock-gpt")
