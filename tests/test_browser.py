"""The settings panel in a real browser: JupyterLab on 127.0.0.1 driven by Playwright with
Debian's chromium (shared/recipes/browser).

A user's whole path: open a notebook, ``%load_ext byok_magic`` and ``%byok settings``; add a
profile pointing at the loopback provider server, paste a key, save, pick a model; run a
``%%byok`` cell and see the rendered Markdown answer; save the notebook (widget state saving
on) and find no copy of the key in the file. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser_helpers import (
    ARTIFACTS,
    CHROME_ARGS,
    Lab,
    chromium_path,
    kernel_keyring_env,
    write_notebook,
)
from tests.leakcheck import find_secret
from tests.loopback import Reply, chat_chunks

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SHOTS = ARTIFACTS / "browser"
ANSWER = (
    "## Hello from loopback\n\n"
    "Your key worked. Here is a list:\n\n"
    "- **one**\n- two\n\n"
    "```python\nprint('hi')\n```\n"
)
MODELS = {"data": [{"id": "loop-small"}, {"id": "loop-large", "context_length": 32768}]}
CELLS = ["%load_ext byok_magic", "%byok settings", "%%byok\nSay hello in Markdown."]


class Steps:
    """Timings and screenshots of one browser run."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.t0 = time.monotonic()
        self.times: list[tuple[str, float]] = []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def mark(self, name: str) -> None:
        self.times.append((name, time.monotonic() - self.t0))

    def shot(self, name: str, locator: Any = None) -> Path:
        path = SHOTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path


def _tab(panel: Any, title: str) -> None:
    panel.locator(".lm-TabBar-tab", has_text=re.compile(f"^{title}$")).click()


def _text_input(panel: Any, label: str) -> Any:
    box = panel.locator(".widget-text", has=panel.page.locator(f"label:text-is('{label}')"))
    return box.locator("input")


def _run_cell(page: Any, index: int) -> None:
    """Select cell ``index`` in command mode and run it with Shift+Enter, like a user."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")


def test_settings_panel_in_jupyterlab(tmp_path, byok_home, loopback, fake_key):
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    loopback.route("GET", "/v1/models", Reply.json(MODELS))
    pieces = [ANSWER[i : i + 9] for i in range(0, len(ANSWER), 9)]
    loopback.route(
        "POST", "/v1/chat/completions", Reply.sse(chat_chunks(pieces, model="loop-small"))
    )
    name = "loop"
    env = {
        **kernel_keyring_env(),
        "BYOK_MAGIC_HOME": str(byok_home),
        "BYOK_MAGIC_TARGET": "",
    }
    if os.environ.get("BYOK_TEST_SECRET_SERVICE") == "1":
        # the throwaway keyring is shared by the whole run: a name of our own
        name = f"loop{os.getpid() % 10000}"
    lab = Lab(tmp_path / "lab", env)
    t0 = time.monotonic()
    with lab:
        nb_path = lab.root / "panel.ipynb"
        write_notebook(nb_path, CELLS)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=CHROME_ARGS,
                env={**os.environ, "NO_AT_BRIDGE": "1"},  # no accessibility bus on D-Bus
            )
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 1500}).new_page()
                page.set_default_timeout(30_000)
                try:
                    _drive(page, lab, name, fake_key, loopback)
                except Exception as exc:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / "failure.png"))
                    raise AssertionError(
                        f"{type(exc).__name__} in the browser (screenshot: {SHOTS}/failure.png)"
                        f"\n--- JupyterLab log tail ---\n{lab.log_tail()}"
                    ) from exc
            finally:
                browser.close()
        saved = nb_path.read_text()
        t_browser = time.monotonic() - t0
    print(f"browser test: {t_browser:.1f}s with the server up, {time.monotonic() - t0:.1f}s in all")

    nb = json.loads(saved)
    widget_state = nb["metadata"].get("widgets", {})
    assert "application/vnd.jupyter.widget-state+json" in widget_state, "saveState was on"
    assert find_secret(saved, fake_key) is None, "the saved notebook holds a copy of the key"
    answer_md = "".join(
        "".join(o.get("data", {}).get("text/markdown", ""))
        for o in nb["cells"][2].get("outputs", [])
    )
    assert "Hello from loopback" in answer_md
    chats = loopback.seen("/v1/chat/completions")
    assert chats and chats[-1].header("authorization") == f"Bearer {fake_key}"
    assert chats[-1].json["model"] == "loop-small"
    for seen in loopback.seen():  # never in a URL or a body
        assert find_secret(seen.path + str(seen.query) + seen.body.decode(), fake_key) is None


def _save_and_check(page: Any, lab: Lab, key: str, when: str) -> None:
    """Ctrl+S in command mode, wait for the file to change, and look for the key in it."""
    nb_file = lab.root / "panel.ipynb"
    before = nb_file.stat().st_mtime_ns
    page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 20
    while nb_file.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert nb_file.stat().st_mtime_ns != before, f"Ctrl+S did not save the notebook ({when})"
    time.sleep(0.2)  # the write may still be finishing
    text = nb_file.read_text()
    assert "application/vnd.jupyter.widget-state+json" in text, f"no widget state ({when})"
    assert find_secret(text, key) is None, f"the saved notebook holds the key ({when})"


def _drive(page: Any, lab: Lab, name: str, key: str, loopback: Any) -> None:
    steps = Steps(page)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{lab.url}/lab/tree/panel.ipynb?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    for _ in range(120):  # the kernel starts with the notebook
        if lab.api("/api/kernels"):
            break
        time.sleep(0.25)
    lab.wait_kernels_idle()
    steps.mark("notebook open, kernel idle")

    _run_cell(page, 0)
    page.keyboard.press("Shift+Enter")  # runs cell 1: %byok settings
    panel = page.locator(".byok-settings")
    panel.locator(".byok-keyrow").first.wait_for()
    lab.wait_kernels_idle()
    steps.mark("panel shown")
    steps.shot("1-panel-keys", panel)

    # -- Profiles: add one pointing at the loopback server ---------------------------------
    _tab(panel, "Profiles")
    _text_input(panel, "Name").fill(name)
    _text_input(panel, "Base URL").fill(loopback.url)
    preview = panel.locator(".byok-url")
    preview.get_by_text(f"{loopback.url}/v1/chat/completions").wait_for()
    steps.shot("2-profile-preview", panel)
    panel.locator("button", has_text="Save profile").click()
    panel.get_by_text(f"profile '{name}' added").first.wait_for()
    steps.mark("profile added")

    # -- Keys: paste the key, save ---------------------------------------------------------
    _tab(panel, "Keys")
    row = panel.locator(f".byok-key-{name}")
    secret = row.locator("input[type=password]")
    secret.fill(key)
    row.locator("button", has_text="Save").click()
    row.get_by_text("stored in the keyring").wait_for()
    assert secret.input_value() == "", "the password field must be empty after saving"
    assert row.get_by_text("…" + key[-4:]).count() >= 1
    steps.mark("key saved")
    _save_and_check(page, lab, key, "after the key was saved")
    row.locator("button", has_text="Test").click()
    row.get_by_text(re.compile(r"ok · \d+ ms")).wait_for()
    steps.shot("3-key-saved-and-tested", panel)

    # -- Model: pick one of the discovered models ------------------------------------------
    _tab(panel, "Model")
    select = panel.locator(".byok-model-pick select")
    target = f"{name}:loop-small"
    select.locator("option", has_text=target).first.wait_for(state="attached")
    select.select_option(label=target)
    panel.locator(".byok-head").get_by_text(target).wait_for()
    steps.mark("model picked")
    steps.shot("4-model-picked", panel)
    assert key not in page.locator("body").inner_text()

    # -- %%byok: the answer renders as Markdown --------------------------------------------
    _run_cell(page, 2)
    answer = (
        page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".jp-OutputArea .jp-RenderedMarkdown")
    )
    answer.locator("h2", has_text="Hello from loopback").wait_for()
    lab.wait_kernels_idle()
    assert answer.locator("li").count() >= 2
    assert "print('hi')" in answer.locator("pre").first.inner_text()
    steps.mark("answer rendered")
    page.locator(".jp-Notebook .jp-Cell").nth(2).scroll_into_view_if_needed()
    steps.shot("5-answer")

    _save_and_check(page, lab, key, "after the answer")
    steps.mark("saved")

    _tab(panel, "Help")
    steps.shot("6-help", panel)

    # -- clean up the stored key through the panel (the real keyring outlives the test) ----
    _tab(panel, "Keys")
    row.locator("button.byok-delete").click()
    row.get_by_text("deleted from the keyring").wait_for()
    # Enter in the key field saves too (its submit can reach the kernel before the value)
    secret.fill(key)
    secret.press("Enter")
    row.get_by_text("stored in the keyring").wait_for()
    assert secret.input_value() == ""
    row.locator("button.byok-delete").click()
    row.get_by_text("deleted from the keyring").wait_for()
    _save_and_check(page, lab, key, "after Enter-save and delete")
    steps.mark("enter-save, delete, saved")
    timings = ", ".join(f"{n} {t:.1f}s" for n, t in steps.times)
    (SHOTS / "timings.txt").write_text(
        f"server startup {lab.startup_seconds:.1f}s; {timings}\nconsole errors: {errors[:5]}\n"
    )
    print(f"\nbrowser: server {lab.startup_seconds:.1f}s; {timings}")
