"""The panel's Profiles tab: add or edit a profile, with a live preview of the final request URL
and of the ``%byok add`` line its Save runs; remove a profile.

The preview is computed in the kernel on every change of a field (base URL, type, wire API, API
version, model), by the same code that builds real requests (:func:`request_url`).
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .config import AUTH_MODES, PROFILE_TYPES, WIRE_APIS, Profile
from .settings_checks import add_command, request_url
from .widgets_keys import outcome_html
from .widgets_state import NEW_PROFILE

if TYPE_CHECKING:
    from .widgets_state import PanelState

DESC = {"description_width": "110px"}
_E = html.escape
_BLANK: dict[str, Any] = {
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


def preview_url(state: PanelState, form: dict[str, Any]) -> tuple[str, str]:
    """``(final request URL, problem)`` for the editor's current (unsaved) fields."""
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


class ProfileEditor:
    """Pick a profile (or "+ new profile"), edit its fields, Save or Remove."""

    def __init__(self, state: PanelState) -> None:
        self.state = state
        self._quiet = False
        wide = W.Layout(width="560px")
        self.pick = W.Dropdown(description="Edit", style=DESC, layout=wide)
        self.f_name = W.Text(description="Name", placeholder="e.g. work", style=DESC, layout=wide)
        self.f_type = W.Dropdown(description="Type", options=PROFILE_TYPES, style=DESC)
        self.f_base = W.Text(
            description="Base URL",
            placeholder="https://api.example.com/v1  (end with # to use it exactly as typed)",
            style=DESC,
            layout=wide,
        )
        self.preview = W.HTML()
        self.preview.add_class("byok-url")
        self.f_wire = W.Dropdown(description="Wire API", options=WIRE_APIS, style=DESC)
        self.f_version = W.Text(
            description="API version", placeholder="empty = the v1 route", style=DESC
        )
        self.f_model = W.Text(
            description="Default model",
            placeholder="e.g. gpt-4.1-mini (azure: deployment)",
            style=DESC,
        )
        self.f_auth = W.Dropdown(description="Auth", options=AUTH_MODES, style=DESC)
        self.f_key_env = W.Text(
            description="Key env var", placeholder="optional, e.g. ACME_KEY", style=DESC
        )
        self.f_headers = W.Textarea(
            description="Extra headers",
            placeholder="X-Team=ml   (one per line; never secrets)",
            rows=2,
            style=DESC,
            layout=wide,
        )
        self.f_project = W.Text(description="Project id", style=DESC)
        self.f_location = W.Text(description="Location", placeholder="us-central1", style=DESC)
        self.b_save = W.Button(description="Save profile", button_style="primary")
        self.b_remove = W.Button(description="Remove profile", button_style="danger")
        self.b_save.on_click(lambda _b: self.save_clicked())
        self.b_remove.on_click(lambda _b: self.remove_clicked())
        self.status = W.HTML()
        self.pick.observe(self._picked, "value")
        for f in self.fields().values():
            f.observe(self._changed, "value")
        self.box = W.VBox(
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
                self.status,
            ]
        )
        self.fill(None)

    def fields(self) -> dict[str, Any]:
        """The editor's widgets by profile field name."""
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
        return {k: w.value for k, w in self.fields().items()}

    def fill(self, name: str | None) -> None:
        """Show profile ``name`` (None: an empty form for a new profile)."""
        p = self.state.profile(name) if name else None
        self._quiet = True
        try:
            if p is None:
                values = dict(_BLANK)
            else:
                values = {k: p[k] for k in self.fields() if k != "headers"}
                values["headers"] = "\n".join(f"{k}={v}" for k, v in p["headers"].items())
            for k, w in self.fields().items():
                w.value = values[k]
            self.f_name.disabled = p is not None
            self.b_remove.disabled = p is None
        finally:
            self._quiet = False
        self._changed()

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.status.value = ""
            self.fill(change["new"] or None)

    def _changed(self, _change: Any = None) -> None:
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

    def save_clicked(self) -> None:
        """Add or update the profile (``%byok add ...``)."""
        form = self.form()
        name = str(form["name"]).strip()
        out = self.state.save_profile(form)
        if out.ok and self.pick.value != name:
            self._quiet = True
            try:
                self.pick.value = name
            finally:
                self._quiet = False
            self.fill(name)
        self.status.value = outcome_html(out)

    def remove_clicked(self) -> None:
        """Remove the profile shown (``%byok remove NAME``)."""
        name = self.pick.value
        if not name:
            return
        out = self.state.remove_profile(name)
        self.status.value = outcome_html(out)
        if out.ok:
            self.fill(None)

    def render(self) -> None:
        """Keep the profile picker in step with the state's profiles."""
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
            self.fill(None)
