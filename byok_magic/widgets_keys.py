"""The panel's Keys tab: one row per profile, and the secret fields that never keep a secret.

:class:`SecretInput` (a password field) and :class:`SecretTextarea` (pasted OAuth JSON) tag
their value ``echo_update=False``, so the kernel never broadcasts it back to frontends; they
send it only on Enter or when the field loses focus (``continuous_update=False``); and they
take it out of the widget the moment it arrives, so the widget's state,
``Widget.get_manager_state()``, a reconnecting frontend and a saved notebook never hold it.
A field is never pre-filled: the masked ``…abcd`` is a separate label.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
from ipywidgets.widgets.widget_string import HTMLStyle, TextStyle
from traitlets import Unicode

from .widgets_state import Outcome

if TYPE_CHECKING:
    from .widgets_state import PanelState

SUBMIT_WINDOW = 2.0
"""Seconds within which a value that arrives after Enter counts as "save it" (Enter's submit
message can reach the kernel before the value does)."""
_E = html.escape


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
        """Forget a pasted secret that was never saved."""
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


def outcome_html(out: Outcome | None) -> str:
    """An action's result as one line: ✓/⚠, the message, and the ``%byok`` command behind it."""
    if out is None or not out.message:
        return ""
    cls, icon = ("byok-ok", "✓") if out.ok else ("byok-err", "⚠")
    same = (
        f' <span class="byok-muted">· same as <code>{_E(out.command)}</code></span>'
        if out.command
        else ""
    )
    return f'<span class="{cls}">{icon} {_E(out.message)}</span>{same}'


def shared_ui() -> dict[str, Any]:
    """Layout and style models shared by every row (one model each, not one per widget)."""
    return {
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


class KeyRow:
    """One profile's secret: source, masked value, a field to set/replace it, Delete, Test."""

    def __init__(self, state: PanelState, ui: dict[str, Any], name: str, oauth: bool) -> None:
        self.state, self.ui, self.name, self.oauth = state, ui, name, oauth
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
                placeholder="paste a key to set it", layout=ui["field"], style=ui["text"]
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
        return W.Button(
            description=label,
            tooltip=tip,
            button_style=style,
            icon=icon,
            layout=self.ui["icon" if icon and not label else "button"],
            style=self.ui["button_style"],
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
        """Show the state's view of this profile's secret (source and masked value only)."""
        source = key.get("source", "none")
        shown = "keyring" if source.startswith("keyring:") else source
        cls = "byok-ok" if key.get("present") else "byok-muted"
        masked = key.get("masked") or ""
        tip = key.get("note") or source
        self.info.value = (
            f'<div class="byok-info"><span class="byok-name" title="{_E(self.name)}">'
            f"{_E(self.name)}</span>"
            f'<span class="{cls}" title="{_E(tip)}">{_E(shown)}</span>'
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
        """Store what was pasted (it left the widget when it arrived)."""
        value = self.field.take()
        if value is None:
            what = "OAuth JSON" if self.oauth else "a key"
            self.say(outcome_html(Outcome(False, f"paste {what} in the field first")))
            return
        out = self.state.save_secret(self.name, value, "oauth" if self.oauth else "key")
        del value
        self.say(outcome_html(out))

    def delete_clicked(self) -> None:
        """Delete the stored secret (``%byok keys delete NAME``)."""
        self.field.discard()
        out = self.state.delete_secret(self.name, "oauth" if self.oauth else "key")
        self.say(outcome_html(out))

    def test_clicked(self) -> None:
        """One cheap request (``%byok test NAME``); the result shows under the row."""
        self.say('<span class="byok-hint">testing…</span>')
        self.say(outcome_html(self.state.test(self.name)))


class KeysTab:
    """The rows, kept in step with the state: rows are made, updated and closed as profiles
    come and go."""

    def __init__(self, state: PanelState, ui: dict[str, Any]) -> None:
        self.state, self.ui = state, ui
        self.rows: dict[str, KeyRow] = {}
        self.rows_box = W.VBox()
        head = W.HTML(
            '<div class="byok-colhead"><span>profile</span><span>secret from</span>'
            "<span>secret</span><span>set · replace · delete · test</span></div>"
        )
        self.box = W.VBox([head, self.rows_box])

    def render(self) -> None:
        """Match the rows to the state's profiles and secrets."""
        s = self.state
        names = [p["name"] for p in s.profiles]
        for gone in set(self.rows) - set(names):
            self._close_row(self.rows.pop(gone))
        for p in s.profiles:
            name = p["name"]
            oauth = p["type"] == "vertex"
            row = self.rows.get(name)
            if row is not None and row.oauth != oauth:  # the profile's type changed
                self._close_row(row)
                row = None
            if row is None:
                row = self.rows[name] = KeyRow(s, self.ui, name, oauth)
            row.update(p, s.keys.get(name, {}))
        boxes = [self.rows[n].box for n in names]
        if list(self.rows_box.children) != boxes:
            self.rows_box.children = boxes

    @staticmethod
    def _close_row(row: KeyRow) -> None:
        for w in row.widgets():
            w.close()

    def widgets(self) -> list[W.Widget]:
        """Every row widget, shown or not (to close them)."""
        return [w for row in self.rows.values() for w in row.widgets()]
