"""The settings panel without a browser: state, actions, the URL preview, sync with ``%byok``,
and the widget leak tests of docs/security.md §5 (1–3) driven in a real kernel like a frontend."""

from __future__ import annotations

import json
import queue
import time
from typing import Any

import ipywidgets as W
import nbformat
import pytest
from IPython.utils.capture import capture_output
from nbclient import NotebookClient
from nbclient.util import run_sync

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.errors import CellFailed
from byok_magic.settings_checks import (
    add_command,
    connection_check,
    parse_headers,
    request_url,
)
from tests.browser_helpers import kernel_keyring_env
from tests.leakcheck import find_secret
from tests.loopback import Reply, chat_chunks
from tests.test_config import URL_TABLE

MODELS = {"data": [{"id": "m-small"}, {"id": "gpt-4o"}]}
OAUTH = {
    "type": "authorized_user",
    "client_id": "123-abc.apps.googleusercontent.com",
    "client_secret": "GOCSPX-notreallyasecret0001",
    "refresh_token": "1//0refresh-token-for-tests-only-0123456789",
    "quota_project_id": "demo-project",
}


@pytest.fixture
def panel(router):
    from byok_magic.widgets import settings_panel

    p = settings_panel(router)
    yield p
    p.close()


@pytest.fixture
def sent(monkeypatch) -> list[dict[str, Any]]:
    """Every message the kernel side of any widget sends to frontends."""
    out: list[dict[str, Any]] = []
    real = W.Widget._send

    def record(self, msg, buffers=None):
        out.append({"comm_id": self.model_id, **msg})
        return real(self, msg, buffers)

    monkeypatch.setattr(W.Widget, "_send", record)
    return out


def _add_loop(panel, loopback, name="loop"):
    loopback.route("GET", "/v1/models", Reply.json(MODELS))
    panel.editor.pick.value = ""
    panel.editor.f_name.value = name
    panel.editor.f_base.value = loopback.url
    panel.editor.save_clicked()
    return panel.rows[name]


def _paste(field, value):
    """What the widget manager does with a frontend's ``update`` message."""
    field.set_state({"value": value})


# -- state and keys ---------------------------------------------------------------------------


def test_key_goes_to_the_store_and_nowhere_else(
    panel, router, memory_store, loopback, fake_key, sent
):
    row = _add_loop(panel, loopback)
    _paste(row.field, fake_key)
    assert row.field.value == "", "the field must be emptied the moment the key arrives"
    row.save.click()
    assert memory_store.values["loop"] == fake_key
    assert panel.state.keys["loop"]["source"].startswith("keyring")
    assert panel.state.keys["loop"]["masked"] == "…" + fake_key[-4:]
    assert "%byok keys set loop" in panel.status.value
    # nothing the kernel sent, nothing the state holds, no widget's state carries the key
    assert find_secret(json.dumps(sent, default=str), fake_key) is None
    assert find_secret(json.dumps(panel.state.trait_values(), default=str), fake_key) is None
    assert find_secret(json.dumps(W.Widget.get_manager_state(), default=str), fake_key) is None
    assert row.field.get_state()["value"] == ""


def test_no_echo_of_the_value_trait():
    from byok_magic.widgets import SecretInput, SecretTextarea

    for cls in (SecretInput, SecretTextarea):
        w = cls()
        try:
            assert w.trait_metadata("value", "echo_update") is False
            assert w.continuous_update is False
        finally:
            w.close()


def test_save_without_a_key_says_so(panel, loopback, memory_store):
    row = _add_loop(panel, loopback)
    row.save.click()
    assert "paste a key in the field first" in row.status.value
    assert "loop" not in memory_store.values


def test_enter_saves_even_when_submit_arrives_before_the_value(
    panel, loopback, memory_store, fake_key
):
    row = _add_loop(panel, loopback)
    row.field._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "submit"}}}, "buffers": []}
    )
    _paste(row.field, fake_key)
    assert memory_store.values["loop"] == fake_key


def test_fresh_panel_is_never_prefilled(router, memory_store, fake_key, loopback):
    from byok_magic.widgets import settings_panel

    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("loop", fake_key)
    memory_store.set("openai", fake_key + "x")
    p = settings_panel(router)
    try:
        assert all(row.field.value == "" for row in p.rows.values())
        assert p.state.keys["loop"]["masked"] == "…" + fake_key[-4:]
        state = json.dumps(W.Widget.get_manager_state(), default=str, ensure_ascii=False)
        assert find_secret(state, fake_key) is None
        assert "…" + fake_key[-4:] in state  # the masked label is shown, apart from the field
    finally:
        p.close()


def test_delete_key(panel, loopback, memory_store, fake_key):
    row = _add_loop(panel, loopback)
    _paste(row.field, fake_key)
    row.save.click()
    row.delete.click()
    assert "loop" not in memory_store.values
    assert panel.state.keys["loop"]["source"] == "none"
    assert "%byok keys delete loop" in row.status.value


def test_delete_also_removes_a_bearer_token(panel, loopback, memory_store, fake_key):
    row = _add_loop(panel, loopback)
    memory_store.set("loop#bearer", fake_key)
    panel.state.refresh()
    assert panel.state.keys["loop"]["present"]
    row.delete.click()
    assert "loop#bearer" not in memory_store.values
    assert panel.state.keys["loop"]["source"] == "none"
    assert "%byok keys delete loop --bearer" in row.status.value


def test_oauth_json_for_vertex(panel, router, memory_store):
    router.config.add(Profile(name="vx", type="vertex", auth="bearer"))
    panel.state.refresh()
    row = panel.rows["vx"]
    assert row.oauth and isinstance(row.field, W.Textarea)
    _paste(row.field, "{not json")
    row.save.click()
    assert "not valid JSON" in row.status.value and "vx#oauth" not in memory_store.values
    blob = json.dumps(OAUTH)
    _paste(row.field, blob)
    assert row.field.value == ""
    row.save.click()
    assert memory_store.values["vx#oauth"] == blob
    assert "OAuth credential (authorized_user) for &#x27;vx&#x27; stored" in row.status.value
    assert "%byok keys set vx --oauth" in row.status.value
    assert panel.state.keys["vx"]["present"]
    state = json.dumps(W.Widget.get_manager_state(), default=str)
    for secret in (OAUTH["refresh_token"], OAUTH["client_secret"]):
        assert find_secret(state, secret) is None
        assert find_secret(json.dumps(panel.state.trait_values()), secret) is None


def test_a_tool_login_pasted_as_a_key_is_refused(panel, router, memory_store, loopback):
    row = _add_loop(panel, loopback)
    login = {"claudeAiOauth": {"accessToken": "sk-ant-oat01-" + "x" * 40, "refreshToken": "r"}}
    _paste(row.field, json.dumps(login))
    row.save.click()
    assert "loop" not in memory_store.values
    assert "Claude Code" in row.status.value


# -- profiles and the URL preview ---------------------------------------------------------------


@pytest.mark.parametrize(("typed", "final"), URL_TABLE)
def test_preview_follows_the_url_rules(panel, typed, final):
    from byok_magic.config import openai_url

    panel.editor.pick.value = ""
    panel.editor.f_type.value = "openai"
    panel.editor.f_base.value = typed
    assert f"<code>{final}</code>" in panel.editor.preview.value
    assert final == openai_url(typed, "chat/completions")


def test_preview_other_types():
    azure = Profile(name="az", type="azure", base_url="https://acme.openai.azure.com", model="d1")
    assert request_url(azure)[0] == "https://acme.openai.azure.com/openai/v1/chat/completions"
    dated = Profile(
        name="az",
        type="azure",
        base_url="https://acme.openai.azure.com/",
        model="d1",
        api_version="2024-10-21",
    )
    assert request_url(dated)[0] == (
        "https://acme.openai.azure.com/openai/deployments/d1/chat/completions"
        "?api-version=2024-10-21"
    )
    wrong = Profile(name="w", type="openai", base_url="https://acme.openai.azure.com")
    url, problem = request_url(wrong)
    assert not url and "use type azure" in problem
    assert request_url(Profile(name="a", type="anthropic", base_url="https://api.anthropic.com"))[
        0
    ].endswith("/v1/messages")


def test_preview_reacts_to_every_field(panel):
    panel.editor.pick.value = ""
    panel.editor.f_type.value = "azure"
    panel.editor.f_base.value = "https://acme.openai.azure.com"
    panel.editor.f_model.value = "dep"
    panel.editor.f_version.value = "2024-10-21"
    assert (
        "/openai/deployments/dep/chat/completions?api-version=2024-10-21"
        in panel.editor.preview.value
    )
    assert panel.editor.f_version.layout.display == ""
    panel.editor.f_type.value = "openai"
    assert "use type azure" in panel.editor.preview.value
    assert panel.editor.f_version.layout.display == "none"


def test_add_edit_remove_profile(panel, router, loopback):
    _add_loop(panel, loopback)
    assert router.config.get("loop").base_url == loopback.url
    assert panel.editor.pick.value == "loop" and panel.editor.f_name.disabled
    panel.editor.f_model.value = "m-small"
    panel.editor.f_headers.value = "X-Team=ml\nX-Env: test"
    assert "--model m-small" in panel.editor.preview.value
    panel.editor.save_clicked()
    prof = router.config.get("loop")
    assert prof.model == "m-small" and dict(prof.headers) == {"X-Team": "ml", "X-Env": "test"}
    panel.editor.f_headers.value = "X-Team=ml"
    panel.editor.save_clicked()
    assert dict(router.config.get("loop").headers) == {"X-Team": "ml"}
    panel.editor.b_remove.click()
    assert "loop" not in router.config.profiles()
    assert "loop" not in panel.rows and panel.editor.pick.value == ""
    assert "%byok remove loop" in panel.editor.status.value


def test_profile_fields_refuse_secrets(panel, router, fake_key):
    panel.editor.pick.value = ""
    panel.editor.f_name.value = "hdr"
    panel.editor.f_base.value = "https://api.example.com/v1"
    panel.editor.f_headers.value = f"Authorization=Bearer {fake_key}"
    panel.editor.save_clicked()
    assert "hdr" not in router.config.profiles()
    assert "refuse" in panel.editor.status.value or "holds a key" in panel.editor.status.value
    panel.editor.f_headers.value = f"X-Anything={fake_key}"
    panel.editor.save_clicked()
    assert "hdr" not in router.config.profiles()
    assert "looks like it holds a key" in panel.editor.status.value
    with pytest.raises(errors.ConfigError, match="carries a credential"):
        parse_headers("x-api-key: abc")


def test_add_command_lists_only_what_changes():
    assert add_command({"name": "w", "type": "openai", "base_url": "https://x/v1"}) == (
        "%byok add w --type openai --base-url https://x/v1"
    )
    old = {"type": "openai", "base_url": "https://x/v1", "model": "a", "headers": {}}
    form = {**old, "name": "w", "model": "b", "headers": "X-A=1"}
    assert add_command(form, old) == "%byok add w --model b --header X-A=1"


# -- models and test connection -----------------------------------------------------------------


def test_model_picker_marks_missing_keys_and_sets_default(
    panel, router, loopback, memory_store, fake_key
):
    row = _add_loop(panel, loopback)
    labels = dict((t, lbl) for lbl, t in panel.model_pick.options)
    assert labels["loop:m-small"].endswith("🔑 key required")
    assert "vision" in labels["loop:gpt-4o"]  # capability hints from the model table
    _paste(row.field, fake_key)
    row.save.click()
    labels = dict((t, lbl) for lbl, t in panel.model_pick.options)
    assert "🔑" not in labels["loop:m-small"]
    panel.model_pick.value = "loop:m-small"
    assert router.config.default_target() == "loop:m-small"
    assert "%byok use loop:m-small" in panel.status.value
    auths = [s.header("authorization") for s in loopback.seen("/v1/models")]
    assert f"Bearer {fake_key}" in auths


def test_connection_check(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    ok, text = connection_check(router, "loop")
    assert not ok and text.startswith("no API key for profile 'loop'")
    memory_store.set("loop", fake_key)
    loopback.route("GET", "/v1/models", Reply.json(MODELS))
    ok, text = connection_check(router, "loop")
    assert ok and text.startswith("ok · ") and " ms · 2 models listed" in text
    # no listing on this server: one 1-token chat instead
    loopback.route("GET", "/v1/models", Reply.json({"error": {"message": "nope"}}, status=404))
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["p"])))
    router.config.add(
        Profile(name="loop", type="openai", base_url=loopback.url + "/v1", model="tiny")
    )
    ok, text = connection_check(router, "loop")
    assert ok and "1-token chat with tiny" in text, text
    chat = loopback.seen("/v1/chat/completions")[-1].json
    assert chat["model"] == "tiny" and chat.get("max_tokens") == 1


def test_test_button_shows_the_magics_error_text(
    ip_panel, router, loopback, memory_store, fake_key
):
    ip, panel = ip_panel
    router.config.add(Profile(name="loop", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("loop", fake_key)
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply.json({"error": {"message": "bad key", "code": "invalid_api_key"}}, status=401),
    )
    loopback.route(
        "GET",
        "/v1/models",
        Reply.json({"error": {"message": "bad key", "code": "invalid_api_key"}}, status=401),
    )
    panel.state.refresh()
    panel.rows["loop"].test.click()
    with capture_output() as cap, pytest.raises(CellFailed):
        ip.run_cell_magic("byok", "loop:m", "hi")
    shown = "".join(o.data.get("text/markdown", "") for o in cap.outputs)
    status = panel.rows["loop"].status.value
    cause = status.split("loop: ", 1)[1].split(" — ", 1)[0]
    assert cause and cause.replace("&#x27;", "'") in shown
    with capture_output() as cap:
        ip.run_line_magic("byok", "test loop")
    assert cause.replace("&#x27;", "'") in "".join(
        o.data.get("text/markdown", "") for o in cap.outputs
    )


# -- panel and %byok stay in step ---------------------------------------------------------------


@pytest.fixture
def ip_panel(router):
    """A real InteractiveShell with the extension loaded and ``%byok settings`` shown."""
    from IPython.core.interactiveshell import InteractiveShell

    import byok_magic
    from byok_magic import router as router_mod
    from byok_magic.widgets import live_panels

    shell = InteractiveShell.instance()
    old = router_mod._router
    router_mod._router = router
    shell.run_line_magic("load_ext", "byok_magic")
    before = set(live_panels())
    with capture_output():
        shell.run_line_magic("byok", "settings")
    (panel,) = set(live_panels()) - before
    yield shell, panel
    panel.close()
    shell.run_line_magic("unload_ext", "byok_magic")
    router_mod._router = old
    byok_magic._magics = None


def test_panel_and_magics_see_each_other(ip_panel, router, loopback, memory_store, fake_key):
    ip, panel = ip_panel
    loopback.route("GET", "/v1/models", Reply.json(MODELS))
    with capture_output():
        ip.run_line_magic("byok", f"add work --type openai --base-url {loopback.url}/v1")
    assert panel.state.profile("work") is not None and "work" in panel.rows
    with capture_output():
        ip.run_line_magic("byok", "use work:gpt-x")
    assert panel.state.default_target == "work:gpt-x"
    assert panel.model_pick.value == "work:gpt-x"
    assert "work:gpt-x" in panel.head.value
    # panel → magics
    _paste(panel.rows["work"].field, fake_key)
    panel.rows["work"].save.click()
    with capture_output() as cap:
        ip.run_line_magic("byok", "keys")
    keys = "".join(o.data.get("text/markdown", "") for o in cap.outputs)
    assert "…" + fake_key[-4:] in keys and find_secret(keys, fake_key) is None
    panel.model_pick.value = "work:m-small"
    with capture_output() as cap:
        ip.run_line_magic("byok", "")
    assert "work:m-small" in "".join(o.data.get("text/markdown", "") for o in cap.outputs)
    with capture_output():
        ip.run_line_magic("byok", "keys delete work")
    assert panel.state.keys["work"]["source"] == "none"
    with capture_output():
        ip.run_line_magic("byok", "remove work")
    assert "work" not in panel.rows


def test_hand_edit_of_the_profile_file_shows_up(ip_panel, router, byok_home):
    ip, panel = ip_panel
    time.sleep(0.02)  # a different mtime
    text = router.config.path.read_text() if router.config.path.exists() else ""
    byok_home.mkdir(parents=True, exist_ok=True)
    router.config.path.write_text(
        text + '\n[profiles.byhand]\ntype = "openai"\nbase_url = "https://h.example/v1"\n'
    )
    ip.run_cell("1 + 1")  # post_run_cell: the panel re-reads a changed file
    assert "byhand" in panel.rows


# -- a real kernel, driven like a frontend (security.md §5 tests 1-3) ---------------------------


class _Frontend:
    """Plays a frontend over a running nbclient kernel: keeps each widget model's state from
    the messages it sees (as JupyterLab's manager does) and sends comm messages itself."""

    def __init__(self, client: NotebookClient) -> None:
        self.client = client
        self.kc = client.kc
        self.seen: list[dict[str, Any]] = []

    def send(self, comm_id: str, data: dict[str, Any]) -> None:
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)
        self.drain(msg["header"]["msg_id"])

    def drain(self, parent: str, timeout: float = 20) -> None:
        """Read iopub until the kernel is idle again after ``parent``; feed comm messages to
        nbclient's widget-state tracking like a frontend's manager would."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                m = run_sync(self.kc.get_iopub_msg)(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(m)
            if m["msg_type"] in ("comm_open", "comm_msg"):
                self.client.handle_comm_msg([], m, 0)
            if (
                m["msg_type"] == "status"
                and m["content"]["execution_state"] == "idle"
                and m["parent_header"].get("msg_id") == parent
            ):
                return
        raise TimeoutError("the kernel did not finish handling the comm message")

    def typed(self, comm_id: str, value: str) -> None:
        """The user typed ``value``: the frontend model holds it, then sends it."""
        self.client.widget_state.setdefault(comm_id, {})["value"] = value
        self.send(comm_id, {"method": "update", "state": {"value": value}, "buffer_paths": []})

    def click(self, comm_id: str) -> None:
        self.send(comm_id, {"method": "custom", "content": {"event": "click"}})


def _cell_json(cell: Any) -> Any:
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def test_kernel_frontend_drive_leaves_no_key(tmp_path, byok_home, loopback, fake_key, monkeypatch):
    name = f"loop{int(time.time() * 1000) % 100000}"
    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "profiles.toml").write_text(
        f'[profiles.{name}]\ntype = "openai"\nbase_url = "{loopback.url}/v1"\n'
    )
    loopback.route("GET", "/v1/models", Reply.json(MODELS))
    loopback.route("POST", "/v1/chat/completions", Reply.sse(chat_chunks(["kernel ", "ok"])))
    for k, v in kernel_keyring_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    ids_code = (
        "import json, byok_magic.widgets as bw\n"
        "p = bw.live_panels()[-1]\n"
        f"r = p.rows[{name!r}]\n"
        "print(json.dumps({'field': r.field.model_id, 'save': r.save.model_id,"
        " 'pick': p.model_pick.model_id}))"
    )
    cells = [
        "%load_ext byok_magic",
        "%byok settings",
        ids_code,
        # after the frontend's actions: every widget re-sends its state, so the saved
        # notebook's widget state is the kernel's full current state
        "import ipywidgets as W\nfor w in list(W.Widget._active_widgets.values()):\n"
        "    w.send_state()",
        "print(json.dumps(W.Widget.get_manager_state()))",
        f"%%byok {name}:m-small\nSay something",
        f"%byok keys delete {name}",
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=True)
    with client.setup_kernel():
        for i in range(3):
            client.execute_cell(nb.cells[i], i)
        ids = _cell_json(nb.cells[2])
        front = _Frontend(client)
        front.typed(ids["field"], fake_key)
        front.click(ids["save"])
        # a second frontend connecting now asks for the field's full state
        front.send(ids["field"], {"method": "request_state"})
        for i in range(3, len(cells)):
            client.execute_cell(nb.cells[i], i)
        client.set_widgets_metadata()
    out = tmp_path / "driven.ipynb"
    nbformat.write(nb, out)

    # the key went where it should: the store, then the provider's auth header
    chats = loopback.seen("/v1/chat/completions")
    assert chats and chats[-1].header("authorization") == f"Bearer {fake_key}"
    # no kernel→frontend message carried it (no echo_update, no update, no request_state reply)
    assert front.seen, "the kernel answered the frontend"
    assert (
        find_secret(json.dumps([m["content"] for m in front.seen], default=str), fake_key) is None
    )
    echoes = [m for m in front.seen if m["content"].get("data", {}).get("method") == "echo_update"]
    assert not any("value" in m["content"]["data"]["state"] for m in echoes)
    # the frontend's model for the field was cleared by the kernel
    assert client.widget_state[ids["field"]]["value"] == ""
    saved = out.read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved
    assert find_secret(saved, fake_key) is None
    stored = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert ids["field"] in stored and find_secret(stored, fake_key) is None
    deleted = "".join(json.dumps(o.get("data", {})) for o in nb.cells[6].outputs)
    assert "Deleted the API key" in deleted
