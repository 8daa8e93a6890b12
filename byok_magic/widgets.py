"""``%byok settings``: the ipywidgets panel, a view of :class:`~.widgets_state.PanelState`.

Four tabs: **Keys** (one row per profile: where its secret comes from, masked, a field to set or
replace it, Delete, Test connection), **Profiles** (add or edit a profile with a live preview of
the final request URL; remove), **Model** (the default target for ``%%byok``, from the models
the profiles offer; 🔑 marks those whose profile has no secret yet) and **Help** (the ``%byok``
command behind every button).

Secrets: the key and OAuth fields are :class:`SecretInput` / :class:`SecretTextarea`. Their
value is tagged ``echo_update=False`` (the kernel never broadcasts it back to frontends), is
sent only on Enter or when the field loses focus, and is taken out of the widget the moment it
arrives: the widget's state, ``Widget.get_manager_state()`` and any saved notebook never hold
it. The field is never pre-filled; the masked ``…abcd`` is a separate label.
"""

from __future__ import annotations

import contextlib
import html
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
from ipywidgets.widgets.widget_string import HTMLStyle, TextStyle
from traitlets import Unicode

from .config import AUTH_MODES, PROFILE_TYPES, WIRE_APIS
from .settings_checks import add_command, request_url
from .widgets_state import NEW_PROFILE, OPEN_WAIT, Outcome, PanelState, register

if TYPE_CHECKING:
    from .router import Router

SUBMIT_WINDOW = 2.0
"""Seconds within which a value that arrives after Enter counts as "save it" (Enter's submit
message can reach the kernel before the value does)."""


class _TakesSecret:
    """Mixin: the value is moved out of the widget as soon as it arrives; :meth:`take` gives it
    once. ``on_submit`` (Enter) is called when a value is waiting."""

    value: str
    _pending: str | None
    _submitted: float
    on_submit: Callable[[], None] | None
    on_pending: Callable[[str], None] | None

    def _init_secret(self) -> None:
        self._pending = None
        self._submitted = 0.0
        self.on_submit = None
        self.on_pending = None
        self.observe(self._take_value, "value")  # type: ignore[attr-defined]
        self.on_msg(self._on_custom)  # type: ignore[attr-defined]

    def _take_value(self, change: dict[str, Any]) -> None:
        new = change["new"]
        if not new:
            return
        self._pending = new
        self.value = ""  # cleared at once: nothing of it stays in the widget's state
        if self.on_pending is not None:
            self.on_pending(new)
        if time.monotonic() - self._submitted < SUBMIT_WINDOW and self.on_submit is not None:
            self._submitted = 0.0
            self.on_submit()

    def _on_custom(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") != "submit":
            return
        if self._pending and self.on_submit is not None:
            self.on_submit()
        else:  # the value is still on its way
            self._submitted = time.monotonic()

    def take(self) -> str | None:
        """The pasted secret, once (None when nothing is waiting)."""
        value, self._pending = self._pending, None
        return value

    def discard(self) -> None:
        self._pending = None


class SecretInput(_TakesSecret, W.Password):
    """A password field that never echoes, never keeps, and is never pre-filled."""

    value = Unicode("", help="the secret while it travels; always empty afterwards").tag(
        sync=True, echo_update=False
    )

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("continuous_update", False)
        super().__init__(**kw)
        self._init_secret()


class SecretTextarea(_TakesSecret, W.Textarea):
    """A textarea for pasted credential JSON, with :class:`SecretInput`'s guarantees."""

    value = Unicode("", help="the secret while it travels; always empty afterwards").tag(
        sync=True, echo_update=False
    )

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("continuous_update", False)
        super().__init__(**kw)
        self._init_secret()

    def _repr_keys(self) -> Any:
        for key in super()._repr_keys():
            if key != "value":
                yield key


_STYLE = """<style>
.byok-settings { max-width: 1100px; font-size: var(--jp-ui-font-size1, 13px); }
.byok-settings .byok-head { padding: 2px 0 6px; color: var(--jp-ui-font-color1); }
.byok-settings .byok-head b { font-size: 1.15em; }
.byok-settings .byok-muted, .byok-settings .byok-hint { color: var(--jp-ui-font-color2); }
.byok-settings .byok-hint { font-size: 0.92em; line-height: 1.4; }
.byok-settings .byok-info { display: grid; grid-template-columns: 120px 170px 64px;
  align-items: center; column-gap: 8px; white-space: nowrap; }
.byok-settings .byok-info span { overflow: hidden; text-overflow: ellipsis; }
.byok-settings .byok-info code, .byok-settings .byok-url code { font-size: 0.95em; }
.byok-settings .byok-name { font-weight: 600; }
.byok-settings .byok-ok { color: var(--jp-success-color0, #2e7d32); }
.byok-settings .byok-err { color: var(--jp-error-color0, #c62828); }
.byok-settings .byok-keyrow { border-bottom: 1px solid var(--jp-border-color2, #e0e0e0);
  padding: 1px 0; }
.byok-settings .byok-url { padding: 2px 0 4px 120px; word-break: break-all; }
.byok-settings .byok-help td { padding: 1px 14px 1px 0; vertical-align: top; }
.byok-settings .byok-help td:first-child { min-width: 190px; }
.byok-settings .byok-nowrap { white-space: nowrap; }
.byok-settings .byok-status { padding: 4px 2px 0; min-height: 1.4em; }
.byok-settings .byok-colhead { display: grid; grid-template-columns: 120px 170px 64px 1fr;
  column-gap: 8px; font-weight: 600; color: var(--jp-ui-font-color2); padding: 2px 0; }
</style>"""

_DESC = {"description_width": "110px"}
_E = html.escape


def _small_button(label: str, tip: str, style: str = "", width: str = "64px") -> W.Button:
    return W.Button(
        description=label, tooltip=tip, button_style=style, layout=W.Layout(width=width)
    )


def _outcome_html(out: Outcome | None, prefix: str = "") -> str:
    if out is None or not out.message:
        return ""
    cls, icon = ("byok-ok", "✓") if out.ok else ("byok-err", "⚠")
    same = (
        f' <span class="byok-muted">· same as <code>{_E(out.command)}</code></span>'
        if out.command
        else ""
    )
    return f'<span class="{cls}">{icon} {_E(prefix + out.message)}</span>{same}'


class KeyRow:
    """One profile's secret: source, masked value, a field to set/replace it, Delete, Test."""

    def __init__(self, panel: SettingsPanel, name: str, oauth: bool) -> None:
        self.panel, self.name, self.oauth = panel, name, oauth
        ui = panel.ui
        self.info = W.HTML(layout=ui["info"], style=ui["html"])
        if oauth:
            self.field: SecretInput | SecretTextarea = SecretTextarea(
                placeholder='paste OAuth JSON {"type": "authorized_user", …}',
                rows=2,
                layout=ui["field"],
                style=ui["text"],
            )
        else:
            self.field = SecretInput(
                placeholder="paste a key to set it",
                layout=ui["field"],
                style=ui["text"],
            )
        self.field.on_submit = self.save_clicked
        self.field.on_pending = self._pending
        self.field.add_class("byok-secret")
        self.save = self._button("Save", "store it in the keyring", "primary")
        self.delete = self._button("", "delete the stored secret", icon="trash")
        self.delete.add_class("byok-delete")
        self.test = self._button("Test", "test connection: one cheap request")
        self.save.on_click(lambda _b: self.save_clicked())
        self.delete.on_click(lambda _b: self.delete_clicked())
        self.test.on_click(lambda _b: self.test_clicked())
        self.no_key = W.HTML(
            '<span class="byok-hint">no key needed</span>', layout=ui["no_key"], style=ui["html"]
        )
        self.status = W.HTML(style=ui["html"], layout=W.Layout(display="none"))
        self.line = W.HBox(layout=ui["line"])
        self.box = W.VBox([self.line, self.status], layout=ui["box"])
        self.box.add_class("byok-keyrow")
        self.box.add_class(f"byok-key-{name}")

    def _button(self, label: str, tip: str, style: str = "", icon: str = "") -> W.Button:
        ui = self.panel.ui
        return W.Button(
            description=label,
            tooltip=tip,
            button_style=style,
            icon=icon,
            layout=ui["icon" if icon and not label else "button"],
            style=ui["button_style"],
        )

    def say(self, html_text: str) -> None:
        """Show a line under the row (hidden while empty)."""
        self.status.value = html_text
        self.status.layout.display = "" if html_text else "none"

    def widgets(self) -> list[W.Widget]:
        """Every widget of the row (to close them)."""
        ws = [self.info, self.field, self.save, self.delete, self.test, self.no_key]
        return [*ws, self.status, self.status.layout, self.line, self.box]

    def update(self, profile: dict[str, Any], key: dict[str, Any]) -> None:
        source = key.get("source", "none")
        shown = "keyring" if source.startswith("keyring:") else source
        cls = "byok-ok" if key.get("present") else "byok-muted"
        masked = key.get("masked") or ""
        self.info.value = (
            f'<div class="byok-info"><span class="byok-name" title="{_E(self.name)}">'
            f"{_E(self.name)}</span>"
            f'<span class="{cls}" title="{_E(key.get("note") or source)}">{_E(shown)}</span>'
            f"<code>{_E(masked)}</code></div>"
        )
        if not self.oauth:
            self.field.placeholder = (
                "paste a new key to replace it" if key.get("present") else "paste a key to set it"
            )
        takes_secret = profile["auth"] != "none" or self.oauth
        middle = [self.field, self.save, self.delete] if takes_secret else [self.no_key]
        children = [self.info, *middle, self.test]
        if list(self.line.children) != children:
            self.line.children = children

    def _pending(self, value: str) -> None:
        from .credentials import Secret

        shown = "OAuth JSON" if self.oauth else f"key {Secret(value.strip()).masked}"
        self.say(f'<span class="byok-hint">{shown} received: press Save to store it</span>')

    def save_clicked(self) -> None:
        value = self.field.take()
        if value is None:
            what = "OAuth JSON" if self.oauth else "a key"
            self.say(_outcome_html(Outcome(False, f"paste {what} in the field first")))
            return
        out = self.panel.state.save_secret(self.name, value, "oauth" if self.oauth else "key")
        del value
        self.say(_outcome_html(out))

    def delete_clicked(self) -> None:
        self.field.discard()
        out = self.panel.state.delete_secret(self.name, "oauth" if self.oauth else "key")
        self.say(_outcome_html(out))

    def test_clicked(self) -> None:
        self.say('<span class="byok-hint">testing…</span>')
        self.say(_outcome_html(self.panel.state.test(self.name)))


class SettingsPanel(W.VBox):
    """The whole panel. ``state`` is the :class:`PanelState` it shows."""

    def __init__(self, state: PanelState, **kw: Any) -> None:
        super().__init__(**kw)
        self.state = state
        self.created = time.monotonic()
        self._quiet = False
        self.rows: dict[str, KeyRow] = {}
        # Shared layout and style models: one each for all rows, not one per widget.
        self.ui: dict[str, Any] = {
            "info": W.Layout(width="370px", flex="0 0 auto"),
            "field": W.Layout(width="230px", min_width="150px", flex="0 1 auto"),
            "button": W.Layout(width="64px", flex="0 0 auto"),
            "icon": W.Layout(width="36px", flex="0 0 auto"),
            # as wide as field + Save + delete, so every Test button lines up
            "no_key": W.Layout(width="338px", flex="0 0 auto"),
            "line": W.Layout(align_items="center"),
            "box": W.Layout(),
            "html": HTMLStyle(),
            "text": TextStyle(),
            "button_style": W.ButtonStyle(),
        }
        self.add_class("byok-settings")

        self.head = W.HTML()
        self.refresh_button = _small_button("↻ Refresh", "re-read profiles, keys and models", "")
        self.refresh_button.layout.width = "96px"
        self.refresh_button.on_click(lambda _b: self.refresh_clicked())
        header = W.HBox(
            [self.head, self.refresh_button],
            layout=W.Layout(justify_content="space-between", align_items="center"),
        )

        self.keys_box = W.VBox()
        keys_tab = W.VBox(
            [
                W.HTML(
                    '<div class="byok-colhead"><span>profile</span><span>secret from</span>'
                    "<span>secret</span><span>set · replace · delete · test</span></div>"
                ),
                self.keys_box,
            ]
        )
        profiles_tab = self._build_profiles()
        model_tab = self._build_model()
        help_tab = W.HTML(help_html())
        self.tabs = W.Tab(
            children=[keys_tab, profiles_tab, model_tab, help_tab],
            titles=("Keys", "Profiles", "Model", "Help"),
        )
        self.status = W.HTML()
        self.status.add_class("byok-status")
        self.children = [W.HTML(_STYLE), header, self.tabs, self.status]
        state.observe(self._on_revision, "revision")
        state.observe(self._on_message, ["message", "command"])
        self._render()

    # -- profiles tab ------------------------------------------------------------------------

    def _build_profiles(self) -> W.VBox:
        wide = W.Layout(width="560px")
        self.pick = W.Dropdown(description="Edit", style=_DESC, layout=wide)
        self.f_name = W.Text(description="Name", placeholder="e.g. work", style=_DESC, layout=wide)
        self.f_type = W.Dropdown(description="Type", options=PROFILE_TYPES, style=_DESC)
        self.f_base = W.Text(
            description="Base URL",
            placeholder="https://api.example.com/v1  (end with # to use it exactly as typed)",
            style=_DESC,
            layout=wide,
        )
        self.preview = W.HTML()
        self.preview.add_class("byok-url")
        self.f_wire = W.Dropdown(description="Wire API", options=WIRE_APIS, style=_DESC)
        self.f_version = W.Text(
            description="API version", placeholder="empty = the v1 route", style=_DESC
        )
        self.f_model = W.Text(
            description="Default model",
            placeholder="e.g. gpt-4.1-mini (azure: deployment)",
            style=_DESC,
        )
        self.f_auth = W.Dropdown(description="Auth", options=AUTH_MODES, style=_DESC)
        self.f_key_env = W.Text(
            description="Key env var", placeholder="optional, e.g. ACME_KEY", style=_DESC
        )
        self.f_headers = W.Textarea(
            description="Extra headers",
            placeholder="X-Team=ml   (one per line; never secrets)",
            rows=2,
            style=_DESC,
            layout=wide,
        )
        self.f_project = W.Text(description="Project id", style=_DESC)
        self.f_location = W.Text(description="Location", placeholder="us-central1", style=_DESC)
        self.b_save = W.Button(description="Save profile", button_style="primary")
        self.b_remove = W.Button(description="Remove profile", button_style="danger")
        self.b_save.on_click(lambda _b: self.save_profile_clicked())
        self.b_remove.on_click(lambda _b: self.remove_profile_clicked())
        self.profile_status = W.HTML()
        self.pick.observe(self._picked, "value")
        for f in self._fields().values():
            f.observe(self._form_changed, "value")
        self._fill_form(None)
        return W.VBox(
            [
                self.pick,
                self.f_name,
                W.HBox([self.f_type, self.f_auth]),
                self.f_base,
                self.preview,
                W.HBox([self.f_wire, self.f_version]),
                W.HBox([self.f_model, self.f_key_env]),
                W.HBox([self.f_project, self.f_location]),
                self.f_headers,
                W.HBox([self.b_save, self.b_remove]),
                self.profile_status,
            ]
        )

    def _fields(self) -> dict[str, Any]:
        return {
            "name": self.f_name,
            "type": self.f_type,
            "base_url": self.f_base,
            "wire_api": self.f_wire,
            "api_version": self.f_version,
            "model": self.f_model,
            "auth": self.f_auth,
            "key_env": self.f_key_env,
            "headers": self.f_headers,
            "project_id": self.f_project,
            "location": self.f_location,
        }

    def form(self) -> dict[str, Any]:
        """The editor's fields as plain values."""
        return {k: w.value for k, w in self._fields().items()}

    def _fill_form(self, name: str | None) -> None:
        p = self.state.profile(name) if name else None
        self._quiet = True
        try:
            if p is None:
                values: dict[str, Any] = {
                    "name": "",
                    "type": "openai",
                    "base_url": "",
                    "wire_api": "completions",
                    "api_version": "",
                    "model": "",
                    "auth": "api-key",
                    "key_env": "",
                    "headers": "",
                    "project_id": "",
                    "location": "",
                }
            else:
                values = {k: p[k] for k in self._fields() if k != "headers"}
                values["headers"] = "\n".join(f"{k}={v}" for k, v in p["headers"].items())
            for k, w in self._fields().items():
                w.value = values[k]
            self.f_name.disabled = p is not None
            self.b_remove.disabled = p is None
        finally:
            self._quiet = False
        self._form_changed()

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.profile_status.value = ""
            self._fill_form(change["new"] or None)

    def _form_changed(self, _change: Any = None) -> None:
        if self._quiet:
            return
        form = self.form()
        kind = form["type"]
        self.f_version.layout.display = "" if kind == "azure" else "none"
        self.f_wire.layout.display = "" if kind in ("openai", "azure") else "none"
        vertex = "" if kind == "vertex" else "none"
        self.f_project.layout.display = self.f_location.layout.display = vertex
        url, problem = preview_url(self.state, form)
        if problem:
            body = f'<span class="byok-err">⚠ {_E(problem)}</span>'
        else:
            body = f"→ <code>{_E(url)}</code>"
        command = add_command(form, self.state.profile(form["name"]))
        self.preview.value = (
            f'<div class="byok-hint">requests go to {body}<br>'
            f"Save does: <code>{_E(command)}</code></div>"
        )

    def save_profile_clicked(self) -> None:
        form = self.form()
        out = self.state.save_profile(form)
        if out.ok and self.pick.value != form["name"]:
            self._quiet = True
            try:
                self.pick.value = form["name"].strip()
            finally:
                self._quiet = False
            self._fill_form(form["name"].strip())
        self.profile_status.value = _outcome_html(out)

    def remove_profile_clicked(self) -> None:
        name = self.pick.value
        if not name:
            return
        out = self.state.remove_profile(name)
        self.profile_status.value = _outcome_html(out)
        if out.ok:
            self._fill_form(None)

    # -- model tab -----------------------------------------------------------------------------

    def _build_model(self) -> W.VBox:
        self.model_pick = W.Dropdown(
            description="Default model",
            style=_DESC,
            layout=W.Layout(width="640px"),
        )
        self.model_pick.add_class("byok-model-pick")
        self.model_pick.observe(self._model_picked, "value")
        self.b_discover = W.Button(description="↻ Discover models", tooltip="ask every profile")
        self.b_discover.on_click(lambda _b: self.discover_clicked())
        self.model_info = W.HTML()
        return W.VBox([W.HBox([self.model_pick, self.b_discover]), self.model_info])

    def _model_picked(self, change: dict[str, Any]) -> None:
        if self._quiet or not change["new"]:
            return
        self.state.use(change["new"])

    def discover_clicked(self) -> None:
        self.model_info.value = '<span class="byok-hint">asking the profiles…</span>'
        names = [p["name"] for p in self.state.profiles if p["base_url"] or p["type"] == "vertex"]
        self.state.discover(names)

    # -- actions -------------------------------------------------------------------------------

    def refresh_clicked(self) -> None:
        self.state.refresh(forget_cache=True)
        self.state.discover(refresh=False)

    # -- rendering -----------------------------------------------------------------------------

    def _on_revision(self, _change: Any) -> None:
        self._render()

    def _on_message(self, _change: Any) -> None:
        s = self.state
        self.status.value = _outcome_html(
            Outcome(bool(s.message_ok), s.message, s.command) if s.message else None
        )

    def _render(self) -> None:
        s = self.state
        default = (
            f"<code>{_E(s.default_target)}</code>"
            if s.default_target
            else '<i class="byok-muted">none yet (pick one under Model)</i>'
        )
        self.head.value = (
            f'<div class="byok-head"><b>byok settings</b> · default target {default}'
            f" · keyring: {_E(s.keyring)}</div>"
        )
        self._render_keys()
        self._render_profile_picker()
        self._render_models()
        self._on_message(None)

    def _render_keys(self) -> None:
        s = self.state
        names = [p["name"] for p in s.profiles]
        for gone in set(self.rows) - set(names):
            for w in self.rows.pop(gone).widgets():
                w.close()
        for p in s.profiles:
            name = p["name"]
            oauth = p["type"] == "vertex"
            row = self.rows.get(name)
            if row is not None and row.oauth != oauth:  # the profile's type changed
                for w in row.widgets():
                    w.close()
                row = None
            if row is None:
                row = self.rows[name] = KeyRow(self, name, oauth)
            row.update(p, s.keys.get(name, {}))
        boxes = [self.rows[n].box for n in names]
        if list(self.keys_box.children) != boxes:
            self.keys_box.children = boxes

    def _render_profile_picker(self) -> None:
        options = [("+ new profile", NEW_PROFILE)]
        options += [
            (p["name"] + ("" if p["builtin"] else "  (yours)"), p["name"])
            for p in self.state.profiles
        ]
        if list(self.pick.options) == options:
            return
        current = self.pick.value
        self._quiet = True
        try:
            self.pick.options = options
            self.pick.value = current if current in [v for _, v in options] else NEW_PROFILE
        finally:
            self._quiet = False
        if current and self.pick.value != current:
            self._fill_form(None)

    def _render_models(self) -> None:
        s = self.state
        options = [(m["label"], m["target"]) for m in s.models]
        self._quiet = True
        try:
            if list(self.model_pick.options) != options:
                self.model_pick.options = options
            targets = [t for _, t in options]
            want = s.default_target if s.default_target in targets else None
            if self.model_pick.value != want:
                self.model_pick.value = want
        finally:
            self._quiet = False
        lines = []
        if not options:
            lines.append("No models yet: add a profile and its key, then ↻ Discover models.")
        else:
            lines.append(
                "Choosing a model makes it the default target for <code>%%byok</code> "
                "(same as <code>%byok use PROFILE:MODEL</code>). "
                "“🔑 key required”: its profile has no key yet (set it under Keys)."
            )
        for name, cause in sorted(s.model_errors.items()):
            lines.append(f'<span class="byok-err">could not list {_E(name)}: {_E(cause)}</span>')
        self.model_info.value = '<div class="byok-hint">' + "<br>".join(lines) + "</div>"

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the panel, every widget in it, and stop refreshing its state (idempotent)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        state = getattr(self, "state", None)
        if state is not None:
            with contextlib.suppress(ValueError):
                state.unobserve(self._on_revision, "revision")
                state.unobserve(self._on_message, ["message", "command"])
            state.close()
        _panels.discard(self)
        rows = [w for row in getattr(self, "rows", {}).values() for w in row.widgets()]
        for w in [*_descendants(self), *rows, *getattr(self, "ui", {}).values()]:
            if w is not self:
                w.close()
        super().close()


def _descendants(w: W.Widget) -> list[W.Widget]:
    out = [w]
    for c in getattr(w, "children", ()):
        out += _descendants(c)
    return out


def preview_url(state: PanelState, form: dict[str, Any]) -> tuple[str, str]:
    """``(final request URL, problem)`` for the editor's current (unsaved) fields."""
    from dataclasses import replace

    from .config import Profile

    name = str(form.get("name") or "").strip() or "new"
    existing = state.router.config.profiles().get(name)
    fields: dict[str, Any] = {
        "type": form.get("type") or "openai",
        "base_url": str(form.get("base_url") or "").strip() or None,
        "wire_api": form.get("wire_api") or "completions",
        "api_version": str(form.get("api_version") or "").strip() or None,
        "model": str(form.get("model") or "").strip() or None,
        "auth": form.get("auth") or "api-key",
        "project_id": str(form.get("project_id") or "").strip() or None,
        "location": str(form.get("location") or "").strip() or None,
    }
    try:
        p = replace(existing, **fields) if existing else Profile(name=name, **fields)
    except Exception as exc:
        return "", type(exc).__name__
    return request_url(p)


def help_html() -> str:
    """Every panel action and the ``%byok`` command (or ``byok`` in a terminal) that does it."""
    rows = [
        ("Keys: where each secret comes from", "%byok keys", "byok keys list"),
        ("Keys: set or replace a key", "%byok keys set NAME", "byok keys set NAME"),
        ("Keys: paste OAuth JSON (vertex)", "%byok keys set NAME --oauth", ""),
        ("Keys: delete", "%byok keys delete NAME", "byok keys delete NAME"),
        ("Keys: Test connection", "%byok test NAME", ""),
        ("Profiles: list", "%byok profiles", "byok profiles"),
        (
            "Profiles: add or edit",
            "%byok add NAME --type T --base-url URL [--model M] [--wire-api W] "
            "[--api-version V] [--auth A] [--key-env VAR] [--header K=V]",
            "byok add NAME ...",
        ),
        ("Profiles: remove", "%byok remove NAME", "byok remove NAME"),
        ("Model: list models", "%byok models [PROFILE] [--refresh]", "byok models [PROFILE]"),
        ("Model: set the default target", "%byok use PROFILE:MODEL", "byok use PROFILE:MODEL"),
        ("Everything at a glance", "%byok", ""),
    ]
    body = "".join(
        f"<tr><td>{_E(a)}</td><td><code>{_E(b)}</code></td>"
        f'<td class="byok-nowrap">{f"<code>{_E(c)}</code>" if c else ""}</td></tr>'
        for a, b, c in rows
    )
    return (
        '<div class="byok-hint byok-help"><p>Every button has a command, so notebooks run '
        "without this panel (nbclient, papermill, a terminal). Keys go to the OS keyring, never "
        "into the notebook: the key fields are emptied the moment a key arrives, and secrets "
        "are never accepted as command arguments (the commands ask with a hidden prompt).</p>"
        '<table><tr><th align="left">panel</th><th align="left">in a notebook</th>'
        f'<th align="left">in a terminal</th></tr>{body}</table></div>'
    )


_panels: weakref.WeakSet[SettingsPanel] = weakref.WeakSet()


def live_panels() -> list[SettingsPanel]:
    """Panels not closed yet, oldest first (tests and notebooks reach the widgets this way)."""
    return sorted(_panels, key=lambda p: p.created)


def settings_panel(router: Router, magics: Any = None) -> SettingsPanel:
    """Build the settings panel for ``router`` (what ``%byok settings`` displays)."""
    state = PanelState(router)
    state.refresh()
    shell = getattr(magics, "shell", None)
    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except Exception:
            shell = None
    register(state, shell)
    panel = SettingsPanel(state)
    _panels.add(panel)
    state.discover(refresh=False, wait=OPEN_WAIT)
    return panel
