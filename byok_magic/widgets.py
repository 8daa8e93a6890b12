"""``%byok settings``: the ipywidgets panel, a view of :class:`~.widgets_state.PanelState`.

Four tabs: **Keys** (one row per profile: where its secret comes from, masked, a field to set or
replace it, delete, Test connection; :mod:`.widgets_keys`), **Profiles** (add or edit a profile
with a live preview of the final request URL; remove; :mod:`.widgets_profiles`), **Model** (the
default target for ``%%byok``, from the models the profiles offer; "🔑 key required" marks those
whose profile has no secret yet) and **Help** (the ``%byok`` command behind every button).

Secrets: the key and OAuth fields are :class:`SecretInput` / :class:`SecretTextarea`: never
echoed, never kept, never pre-filled (see :mod:`.widgets_keys`). The panel's state never holds
a secret (:mod:`.widgets_state`). This is the only module family that imports ipywidgets, and
only ``%byok settings`` imports it.
"""

from __future__ import annotations

import contextlib
import html
import time
import weakref
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .widgets_keys import KeyRow, KeysTab, SecretInput, SecretTextarea, outcome_html, shared_ui
from .widgets_profiles import DESC, ProfileEditor
from .widgets_state import OPEN_WAIT, Outcome, PanelState, register

if TYPE_CHECKING:
    from .router import Router

__all__ = ["SecretInput", "SecretTextarea", "SettingsPanel", "live_panels", "settings_panel"]
_E = html.escape

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


class SettingsPanel(W.VBox):
    """The whole panel. ``state`` is the :class:`PanelState` it shows; ``keys_tab`` and
    ``editor`` are the Keys and Profiles tabs."""

    def __init__(self, state: PanelState, **kw: Any) -> None:
        super().__init__(**kw)
        self.state = state
        self.created = time.monotonic()
        self._quiet = False
        self.ui = shared_ui()
        self.add_class("byok-settings")

        self.head = W.HTML()
        self.refresh_button = W.Button(
            description="↻ Refresh",
            tooltip="re-read profiles, keys and models",
            layout=W.Layout(width="96px"),
        )
        self.refresh_button.on_click(lambda _b: self.refresh_clicked())
        header = W.HBox(
            [self.head, self.refresh_button],
            layout=W.Layout(justify_content="space-between", align_items="center"),
        )
        self.keys_tab = KeysTab(state, self.ui)
        self.editor = ProfileEditor(state)
        self.tabs = W.Tab(
            children=[self.keys_tab.box, self.editor.box, self._build_model(), W.HTML(help_html())],
            titles=("Keys", "Profiles", "Model", "Help"),
        )
        self.status = W.HTML()
        self.status.add_class("byok-status")
        self.children = [W.HTML(_STYLE), header, self.tabs, self.status]
        state.observe(self._on_revision, "revision")
        state.observe(self._on_message, ["message", "command"])
        self._render()

    @property
    def rows(self) -> dict[str, KeyRow]:
        """The Keys tab's rows by profile name."""
        return self.keys_tab.rows

    # -- model tab -----------------------------------------------------------------------------

    def _build_model(self) -> W.VBox:
        self.model_pick = W.Dropdown(
            description="Default model", style=DESC, layout=W.Layout(width="640px")
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
        """Ask every profile with an address for its models."""
        self.model_info.value = '<span class="byok-hint">asking the profiles…</span>'
        names = [p["name"] for p in self.state.profiles if p["base_url"] or p["type"] == "vertex"]
        self.state.discover(names)

    def refresh_clicked(self) -> None:
        """Re-read everything, keyring included (another process may have changed it)."""
        self.state.refresh(forget_cache=True)
        self.state.discover(refresh=False)

    # -- rendering -----------------------------------------------------------------------------

    def _on_revision(self, _change: Any) -> None:
        self._render()

    def _on_message(self, _change: Any) -> None:
        s = self.state
        self.status.value = outcome_html(
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
        self.keys_tab.render()
        self.editor.render()
        self._render_models()
        self._on_message(None)

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
        keys_tab = getattr(self, "keys_tab", None)
        rows = keys_tab.widgets() if keys_tab is not None else []
        for w in [*_descendants(self), *rows, *getattr(self, "ui", {}).values()]:
            if w is not self:
                w.close()
        super().close()


def _descendants(w: W.Widget) -> list[W.Widget]:
    out = [w]
    for c in getattr(w, "children", ()):
        out += _descendants(c)
    return out


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
