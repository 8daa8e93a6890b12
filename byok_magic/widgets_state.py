"""The settings panel's state and actions, apart from any view.

:class:`PanelState` is a traitlets object built from the router (profiles, where each secret
comes from, discovered models, the default target). It never holds a secret: a key passes
through :meth:`PanelState.save_secret` on its way to the key store and is not kept. Every
action calls the same router, config and key store code as the matching ``%byok`` command and
reports that command, so nothing here needs a browser.

Panels and ``%byok`` stay in step: actions refresh the state, ``%byok`` subcommands call
:func:`refresh_live_panels`, every executed cell does too (``post_run_cell``), and a watcher
thread re-reads the state when ``profiles.toml`` changes on disk (a hand edit, a terminal).

Importing this module does not import ipywidgets (the view lives in :mod:`byok_magic.widgets`).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from traitlets import Dict, HasTraits, Int, List, Unicode

from . import errors
from .settings_checks import (
    KEY_REQUIRED,
    add_command,
    capability_hints,
    connection_check,
    model_label,
    parse_headers,
    profile_dict,
    refuse_key_like,
)

if TYPE_CHECKING:
    from .events import ModelInfo
    from .router import Router

POLL_SECONDS = 2.0
"""How often the watcher thread looks at ``profiles.toml``'s modification time."""
DISCOVER_WAIT = 4.0
"""How long an action (save a key, save a profile, Discover) waits for model discovery before
showing what it has; slower answers update the panel when they arrive."""
OPEN_WAIT = 1.5
"""The same when the panel opens: ``%byok settings`` never hangs on a slow or offline server."""
NEW_PROFILE = ""
"""The profile editor's "new profile" choice."""


@dataclass(frozen=True)
class Outcome:
    """What an action did: ok or not, one line for the user, and the ``%byok`` equivalent."""

    ok: bool
    message: str
    command: str = ""


# ---------------------------------------------------------------------------------------------
# the state


class PanelState(HasTraits):
    """Everything the panel shows, as plain data: never a secret.

    ``profiles``: one dict per profile (:func:`profile_dict`); ``keys``: per profile the
    secret's ``source`` (``keyring:…``, ``env:VAR``, ``none``, ``not needed``), ``masked``
    (``…abcd``) and ``present``; ``models``: dropdown entries (``target``, ``label``,
    ``needs_key``); ``default_target``; ``message``/``command``: the last action's outcome.
    """

    profiles = List(Dict())
    keys = Dict()
    models = List(Dict())
    model_errors = Dict()
    default_target = Unicode("")
    keyring = Unicode("")
    message = Unicode("")
    message_ok = Int(1)
    command = Unicode("")
    revision = Int(0)

    def __init__(self, router: Router, **kw: Any) -> None:
        super().__init__(**kw)
        self.router = router
        self._lock = threading.RLock()
        self._discovered: dict[str, list[ModelInfo]] = {}
        self._seen_mtime: float | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- reading ------------------------------------------------------------------------------

    def refresh(self, forget_cache: bool = False) -> None:
        """Re-read profiles, secrets' sources and the default target from the router."""
        from .reports import key_source

        with self._lock:
            config = self.router.config
            if forget_cache:
                self._forget_key_cache()
            try:
                config.refresh()
                profiles = config.profiles()
                default = config.default_target() or ""
            except errors.ByokError as err:  # a broken profiles.toml: say so, keep the rest
                self._seen_mtime = self._mtime()
                self._say(False, str(err), "%byok profiles")
                return
            self._seen_mtime = self._mtime()
            keys: dict[str, dict[str, Any]] = {}
            for name, p in sorted(profiles.items()):
                source, masked = key_source(p, self.router)
                present = masked != "" or source.startswith(("keyring", "env", "token"))
                info: dict[str, Any] = {"source": source, "masked": masked, "present": present}
                if p.type == "vertex":
                    info.update(self._oauth_info(name))
                keys[name] = info
            self.keyring = self._keyring_line()
            self.profiles = [profile_dict(profiles[n]) for n in sorted(profiles)]
            self.keys = keys
            self.default_target = default
            self._discovered = {n: v for n, v in self._discovered.items() if n in profiles}
            self._rebuild_models()
            self.revision += 1

    def _oauth_info(self, name: str) -> dict[str, Any]:
        """Whether an OAuth credential is stored for ``name``, masked (never a token)."""
        try:
            text = self.router.store.get(f"{name}#oauth")
        except errors.ByokError:
            text = None
        if not text:
            return {"oauth": False}
        from . import oauth

        masked, note = oauth.describe_stored(text)
        del text
        return {
            "oauth": True,
            "present": True,
            "source": "keyring (OAuth)",
            "masked": masked,
            "note": note,
        }

    def _forget_key_cache(self) -> None:
        forget = getattr(self.router.store, "forget_cache", None)
        if forget is not None:
            forget()

    def _keyring_line(self) -> str:
        try:
            st = self.router.store.status()
        except Exception as exc:  # a broken keyring must not break the panel
            return f"unavailable ({type(exc).__name__}); environment variables still work"
        if st.ok:
            return backend_label(st.name)
        return f"unavailable ({st.reason}); environment variables still work"

    def _mtime(self) -> float | None:
        try:
            return self.router.config.path.stat().st_mtime
        except OSError:
            return None

    def changed_on_disk(self) -> bool:
        """True when ``profiles.toml`` changed since the last refresh."""
        return self._mtime() != self._seen_mtime

    def profile(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.profiles if p["name"] == name), None)

    def has_secret(self, name: str) -> bool:
        p = self.profile(name)
        info = self.keys.get(name, {})
        return bool(info.get("present")) or (p is not None and not p["needs_secret"])

    # -- models --------------------------------------------------------------------------------

    def _rebuild_models(self) -> None:
        from .events import ModelInfo

        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for p in self.profiles:
            name = p["name"]
            found = self._discovered.get(name)
            if found is None:
                found = self._static_models(name)
            if not found and p["model"]:
                found = [ModelInfo(id=p["model"], profile=name)]
            ok = self.has_secret(name)
            for m in found:
                m = m if m.profile else replace(m, profile=name)
                if m.target in seen:
                    continue
                seen.add(m.target)
                rows.append(
                    {
                        "target": m.target,
                        "label": model_label(m, ok),
                        "needs_key": not ok,
                        "hints": capability_hints(m),
                    }
                )
        rows.sort(key=lambda r: (r["needs_key"], r["target"]))
        if self.default_target and self.default_target not in seen:
            name = self.default_target.partition(":")[0]
            ok = self.has_secret(name)
            label = self.default_target + ("" if ok else f" · {KEY_REQUIRED}")
            rows.insert(0, {"target": self.default_target, "label": label, "needs_key": not ok})
        self.models = rows

    def _static_models(self, name: str) -> list[ModelInfo]:
        """Models known without a request: a registered lister or the profile's fixed list."""
        prof = self.router.config.profiles().get(name)
        if prof is None or not (prof.models or name in self.router.model_listers):
            return []
        try:
            return list(self.router.list_models(name))
        except Exception:
            return []

    def auto_discover_names(self) -> list[str]:
        """Profiles worth asking for models when the panel opens: configured ones only.

        A profile counts as configured when it has a secret, or is the user's own (not an
        untouched preset), and has somewhere to send the request.
        """
        names = []
        for p in self.profiles:
            reachable = p["base_url"] or p["type"] == "vertex" or p["url"].startswith("(found")
            if reachable and (self.keys.get(p["name"], {}).get("present") or not p["builtin"]):
                names.append(p["name"])
        return names

    def discover(
        self, names: list[str] | None = None, refresh: bool = True, wait: float = DISCOVER_WAIT
    ) -> None:
        """Ask profiles for models in parallel; wait up to ``wait`` s (the rest land later)."""
        names = self.auto_discover_names() if names is None else names
        if not names:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="byok-models")
        futures = [self._pool.submit(self._discover_one, n, refresh) for n in names]
        _done, pending = wait_futures(futures, timeout=wait)
        with self._lock:
            self._rebuild_models()
            self.revision += 1
        for f in pending:  # a slow server: show its models when they come
            f.add_done_callback(lambda _f: self._late_models())

    def _discover_one(self, name: str, refresh: bool) -> None:
        try:
            models = self.router.list_models(name, refresh=refresh)
        except errors.ByokError as err:
            with self._lock:
                self.model_errors = {**self.model_errors, name: err.cause}
            return
        except Exception as exc:  # never let one profile's bug break the panel
            with self._lock:
                self.model_errors = {**self.model_errors, name: type(exc).__name__}
            return
        with self._lock:
            self._discovered[name] = list(models)
            self.model_errors = {k: v for k, v in self.model_errors.items() if k != name}

    def _late_models(self) -> None:
        with self._lock:
            self._rebuild_models()
            self.revision += 1

    # -- actions: each one is a %byok command ---------------------------------------------------

    def _say(self, ok: bool, message: str, command: str = "") -> Outcome:
        with self.hold_trait_notifications():
            self.message, self.message_ok, self.command = message, int(ok), command
        return Outcome(ok, message, command)

    def _run(self, command: str, fn: Any) -> Outcome:
        """Run an action; ``fn`` returns the message, or ``(message, command)`` when what it
        did turned out to be a different command than planned."""
        with self._lock:
            try:
                message = fn()
                if isinstance(message, tuple):
                    message, command = message
            except errors.ByokError as err:
                out = self._say(False, str(err), command)
            else:
                out = self._say(True, message, command)
            self.refresh()
            refresh_live_panels(exclude=self)
            return out

    def save_secret(self, name: str, value: str, kind: str = "key") -> Outcome:
        """Store a key (``kind="key"``) or OAuth JSON (``"oauth"``) for a profile.

        ``value`` is not kept anywhere: the caller has already cleared the widget it came from.
        """
        from . import oauth
        from .credentials import Secret

        command = f"%byok keys set {name}" + (" --oauth" if kind == "oauth" else "")

        def act() -> str:
            self.router.config.get(name)  # the profile must exist
            secret = value.strip()
            if kind == "oauth":  # the same code as `%byok keys set NAME --oauth`
                parsed = oauth.save(self.router.store, name, secret, "the panel")
                return f"OAuth credential ({parsed.kind}) for {name!r} stored in the keyring"
            if not secret:
                raise errors.KeyStoreError("no key was pasted", "nothing was stored")
            oauth.refuse_tool_login(secret)  # a login file pasted as a key: store nothing
            self.router.store.set(name, secret)
            return f"API key for {name!r} stored in the keyring ({Secret(secret).masked})"

        out = self._run(command, act)
        if out.ok:
            self.discover([name])
        return out

    def delete_secret(self, name: str, kind: str = "key") -> Outcome:
        """Delete the stored key (and bearer token), or the stored OAuth JSON."""
        command = f"%byok keys delete {name}" + (" --oauth" if kind == "oauth" else "")

        def act() -> str | tuple[str, str]:
            self.router.config.get(name)
            if kind == "oauth":
                gone = self.router.store.delete(f"{name}#oauth")
                return (
                    f"OAuth credential for {name!r} deleted from the keyring"
                    if gone
                    else f"no stored OAuth credential for {name!r}"
                )
            # The row shows one secret; lookup prefers a bearer token, so both go.
            key = self.router.store.delete(name)
            bearer = self.router.store.delete(f"{name}#bearer")
            if bearer:
                what = "API key and bearer token" if key else "bearer token"
                both = f"{command} --bearer" + (f"; {command}" if key else "")
                return f"{what} for {name!r} deleted from the keyring", both
            if key:
                return f"API key for {name!r} deleted from the keyring"
            source = self.keys.get(name, {}).get("source", "")
            if source.startswith("env:"):
                return f"{name!r} takes its key from {source[4:]}: unset that variable"
            return f"no stored API key for {name!r}"

        return self._run(command, act)

    def save_profile(self, form: dict[str, Any]) -> Outcome:
        """Add or update a profile from the editor's fields (strings; empty = not set)."""
        from .line_commands import profile_from_args

        name = str(form.get("name", "")).strip()
        command = add_command(form, self.profile(name))

        def act() -> str:
            if not name:
                raise errors.ConfigError("the profile needs a name", "type one, e.g. work")
            text = {k: str(form.get(k) or "") for k in _FORM_TEXT}
            refuse_key_like(**text, headers=str(form.get("headers") or ""))
            headers = parse_headers(str(form.get("headers") or ""))
            existing = self.router.config.profiles().get(name)
            args = argparse.Namespace(
                name=name,
                type=form.get("type") or None,
                base_url=text["base_url"].strip() or None,
                model=text["model"].strip() or None,
                wire_api=form.get("wire_api") or None,
                api_version=text["api_version"].strip() or None,
                auth=form.get("auth") or None,
                key_env=text["key_env"].strip() or None,
                header=[f"{k}={v}" for k, v in headers.items()],
                allow_http=False,
                project_id=text["project_id"].strip() or None,
                location=text["location"].strip() or None,
            )
            prof = profile_from_args(self.router, args)
            # The editor shows every field, so an emptied field means "not set".
            cleared = {k: None for k in _CLEARABLE if not text[k].strip()}
            prof = replace(prof, headers=headers, **cleared)
            self.router.config.add(prof)
            verb = "updated" if existing is not None else "added"
            return f"profile {name!r} {verb} ({prof.type}, {prof.base_url or 'no base URL'})"

        out = self._run(command, act)
        if out.ok:
            self.discover([name])
        return out

    def remove_profile(self, name: str) -> Outcome:
        def act() -> str:
            self.router.config.remove(name)
            self._discovered.pop(name, None)
            return f"profile {name!r} removed"

        return self._run(f"%byok remove {name}", act)

    def use(self, target: str) -> Outcome:
        """Set the default target for ``%%byok``."""

        def act() -> str:
            self.router.config.set_default(target)
            name = target.partition(":")[0]
            if not self.has_secret(name):
                return f"default target: {target} (profile {name!r} has no key yet: add one)"
            return f"default target: {target}"

        return self._run(f"%byok use {target}", act)

    def test(self, name: str) -> Outcome:
        """One cheap request (list models, else a 1-token chat): ``ok · 123 ms`` or the error."""
        with self._lock:
            try:
                ok, text = connection_check(self.router, name)
            except errors.ByokError as err:
                ok, text = False, str(err)
        return self._say(ok, f"{name}: {text}", f"%byok test {name}")

    def close(self) -> None:
        """Forget this state (it stops being refreshed)."""
        _live.discard(self)
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def backend_label(name: str) -> str:
    """``keyring.backends.SecretService.Keyring`` → ``SecretService``; ``a.b.Cls`` → ``Cls``."""
    if name.startswith("keyring.backends."):
        return name[len("keyring.backends.") :].removesuffix(".Keyring")
    if name.startswith("file:"):
        return "plaintext file (opted in)"
    return name.rsplit(".", 1)[-1]


_FORM_TEXT = ("base_url", "model", "api_version", "key_env", "project_id", "location")
_CLEARABLE = ("base_url", "model", "api_version", "key_env", "project_id", "location")


# ---------------------------------------------------------------------------------------------
# live panels: refreshed after %byok commands, after each cell, and when the file changes

_live: weakref.WeakSet[PanelState] = weakref.WeakSet()
_watcher: threading.Thread | None = None
_hooked_shells: weakref.WeakSet[Any] = weakref.WeakSet()


def register(state: PanelState, shell: Any = None) -> None:
    """Keep ``state`` in step with ``%byok`` commands, executed cells and the profile file."""
    global _watcher
    _live.add(state)
    if shell is not None and shell not in _hooked_shells:
        try:
            shell.events.register("post_run_cell", _after_cell)
            _hooked_shells.add(shell)
        except Exception:  # not an IPython shell: the watcher still runs
            pass
    if POLL_SECONDS > 0 and (_watcher is None or not _watcher.is_alive()):
        _watcher = threading.Thread(target=_watch, name="byok-panel-watch", daemon=True)
        _watcher.start()


def live_states() -> list[PanelState]:
    """The states of every panel still shown."""
    return list(_live)


def refresh_live_panels(exclude: PanelState | None = None) -> None:
    """Re-read every live panel's state. ``%byok`` subcommands call this after they ran."""
    for state in list(_live):
        if state is exclude:
            continue
        with contextlib.suppress(Exception):  # one broken panel must not break a command
            state.refresh()


def _after_cell(*_: Any) -> None:
    for state in list(_live):
        if state.changed_on_disk():
            with contextlib.suppress(Exception):
                state.refresh()


def _watch() -> None:
    while _live:
        time.sleep(POLL_SECONDS)
        _after_cell()
