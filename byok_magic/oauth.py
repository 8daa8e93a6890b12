"""OAuth credentials as a kind of secret: stored, refreshed, and turned into a bearer token.

A profile's OAuth credential is one keyring entry, user ``NAME#oauth``, holding the credential
file's JSON (Google ``authorized_user``, as ``gcloud auth application-default login`` writes it).
:func:`credential` turns it into a bearer :class:`~byok_magic.credentials.Credential`:

* when the access token is missing or expires within :data:`EARLY` seconds, it is refreshed
  with the standard OAuth2 refresh-token grant (``grant_type=refresh_token``, ``client_id``,
  ``client_secret``, ``refresh_token``; form-encoded ``POST``) at the credential's
  ``token_uri`` (default ``https://oauth2.googleapis.com/token``), through the shared
  :class:`~byok_magic.transport.Transport`, so proxies, CA bundles, origin pinning and the
  no-redirects rule apply;
* the new access token, its expiry and a rotated refresh token (if the server sent one) go back
  into the store as **one** ``set`` of the whole JSON, so no reader sees half an update;
* a per-profile lock makes racing cells share one refresh: whoever waits re-reads the store
  and uses the token the first one got;
* the credential carries ``renew``, which the router calls once after a 401: it refreshes
  unless another cell already replaced the rejected token;
* a refused refresh (``invalid_grant`` …) raises :class:`RefreshRefused` naming the command
  that logs in again.

Tokens only ever live in :class:`~byok_magic.credentials.Secret` objects and are registered
with :func:`~byok_magic.redact.remember` as soon as they are read, so any message or log
record that quoted one would be redacted. Tool logins (Qwen Code, Gemini CLI, Claude Code) are
refused before anything else happens (:mod:`byok_magic.oauth_files`): no request is ever built
from them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from . import errors
from .oauth_files import (
    RELOGIN,
    ParsedCredential,
    ToolLoginRefused,
    check_token_uri,
    detect,
    expiry_of,
    expiry_text,
    load_json,
    parse_credential,
    read_file,
    refusal,
)
from .redact import get_logger, remember

if TYPE_CHECKING:
    from .config import Profile
    from .credentials import Credential, KeyStore
    from .transport import Transport

__all__ = [
    "EARLY",
    "RefreshRefused",
    "UserCredential",
    "credential",
    "describe_stored",
    "save",
    "text_from_input",
    "user",
]

EARLY = 60.0  # refresh when the access token expires within this many seconds
REFRESH_TIMEOUTS = {"first_token": 30.0, "total": 60.0}
clock: Callable[[], float] = time.time  # wall clock: expiries are absolute (tests replace it)
_log = get_logger("byok_magic.oauth")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class RefreshRefused(errors.AuthError):
    """The token endpoint refused the refresh token (revoked, expired, wrong client)."""


def user(profile_name: str) -> str:
    """The key-store user that holds a profile's OAuth credential JSON."""
    return f"{profile_name}#oauth"


def relogin_fix(name: str) -> str:
    return f"log in again with `{RELOGIN}`, then `%byok keys set {name} --oauth`"


class UserCredential:
    """A parsed ``authorized_user`` credential; its tokens are Secrets, its repr shows none."""

    def __init__(self, parsed: ParsedCredential) -> None:
        from .credentials import Secret

        d = parsed.data
        self._data = dict(d)
        self.client_id = str(d["client_id"])
        self.client_secret = Secret(str(d["client_secret"]))
        self.refresh_token = Secret(str(d["refresh_token"]))
        token = d.get("access_token") or d.get("token")
        self.access_token = Secret(token) if isinstance(token, str) and token.strip() else None
        self.expiry = expiry_of(d)
        self.token_uri = check_token_uri(d.get("token_uri"))
        self.project_id = parsed.project_id
        quota = d.get("quota_project_id")
        self.quota_project = str(quota) if quota else None
        for s in (self.client_secret, self.refresh_token, self.access_token):
            if s is not None:
                remember(s.reveal())

    def __repr__(self) -> str:
        return f"UserCredential(project_id={self.project_id!r}, {expiry_text(self.expiry)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("an OAuth credential cannot be pickled")

    def fresh(self, now: float) -> bool:
        """An access token that is still good for more than :data:`EARLY` seconds."""
        if self.access_token is None or self.expiry is None:
            return False
        return self.expiry > now + EARLY

    def updated(self, access: str, expires_in: float, refresh: str | None) -> str:
        """The credential JSON with a new access token (and maybe a rotated refresh token)."""
        data = dict(self._data)
        data.pop("token", None)  # google-auth's name for it; one name only from now on
        data.pop("expiry_date", None)
        data["access_token"] = access
        when = datetime.fromtimestamp(clock() + expires_in, tz=timezone.utc)
        data["expiry"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        if refresh:
            data["refresh_token"] = refresh
        return json.dumps(data)


def _load(text: str, name: str) -> UserCredential:
    return UserCredential(parse_credential(text, f"stored for profile {name!r}"))


# ---------------------------------------------------------------------------------------------
# storing


def text_from_input(value: str) -> tuple[str, str]:
    """(JSON text, where it came from) for what a user typed: the JSON itself, or a path."""
    from .redact import looks_like_key

    value = value.strip()
    if value.startswith(("{", "[")):
        return value, ""
    if looks_like_key(value, strict="/" in value or "\\" in value):
        raise errors.ConfigError(
            "that looks like an API key or token, not an OAuth credential file",
            "nothing was stored; store a key with `%byok keys set NAME` (without --oauth)",
        )
    failure: errors.ConfigError | None = None
    try:
        return read_file(value), ""
    except errors.ConfigError as err:
        failure = err  # its message names the path: typed at a hidden prompt, keep it unsaid
    raise errors.ConfigError(
        "cannot read the OAuth credential file named at the prompt "
        f"({failure.cause.rsplit('(', 1)[-1]}",
        failure.fix,
    )


def save(store: Any, name: str, text: str, where: str = "") -> ParsedCredential:
    """Check a credential (refusing tool logins with their explanation) and store it whole."""
    parsed = parse_credential(text, where)
    UserCredential(parsed)  # validates token_uri and remembers its secrets for redaction
    store.set(user(name), text.strip())
    return parsed


def describe_stored(text: str) -> tuple[str, str]:
    """(masked refresh token, note) for status output; never a token, never the network."""
    try:
        data = load_json(text)
        tool = detect(data)
        if tool is not None:
            return "", f"a {tool.name} login: byok does not use it ({tool.why})"
        cred = UserCredential(parse_credential(text))
    except errors.ByokError as err:
        return "", f"stored OAuth JSON unusable: {err.cause}"
    token = "no access token yet" if cred.access_token is None else "access token"
    when = "" if cred.access_token is None else f" {expiry_text(cred.expiry, clock())}"
    project = f", project {cred.project_id}" if cred.project_id else ""
    return cred.refresh_token.masked, f"OAuth credential{project}; {token}{when}"


# ---------------------------------------------------------------------------------------------
# using


def credential(
    profile: Profile,
    store: KeyStore,
    text: str,
    label: str,
    transport: Transport | None = None,
) -> Credential:
    """A bearer credential with a fresh access token from the stored JSON ``text``.

    Refreshes (once, shared by racing callers) when the token is missing or about to expire.
    A tool login stored for the profile raises :class:`ToolLoginRefused` before anything
    is sent.
    """
    cred = _load(text, profile.name)
    if not cred.fresh(clock()):
        cred = _refresh_locked(profile, store, transport, stale=None)
    return _bearer(profile, store, transport, cred, label)


def _bearer(
    profile: Profile,
    store: KeyStore,
    transport: Transport | None,
    cred: UserCredential,
    label: str,
) -> Credential:
    from .credentials import Credential

    assert cred.access_token is not None
    token = cred.access_token
    meta = {"project_id": cred.project_id or "", "quota_project": cred.quota_project or ""}

    def renew() -> Credential:
        """After a 401: a new token, unless another caller already replaced this one."""
        fresh = _refresh_locked(profile, store, transport, stale=token)
        return _bearer(profile, store, transport, fresh, label)

    return Credential(token, "bearer", f"{label} (OAuth)", meta=meta, renew=renew)


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(name)
        if lock is None:
            lock = _locks[name] = threading.Lock()
        return lock


def _refresh_locked(
    profile: Profile, store: KeyStore, transport: Transport | None, stale: Any
) -> UserCredential:
    """Refresh under the profile's lock; a caller that waited uses the token just stored.

    ``stale`` is the access token a provider rejected (None: refresh because of expiry).
    """
    with _lock_for(profile.name):
        text = store.get(user(profile.name))
        if not text:
            raise errors.MissingKeyError(
                f"the OAuth credential for profile {profile.name!r} was deleted meanwhile",
                f"add it again with `%byok keys set {profile.name} --oauth`",
            )
        cred = _load(text, profile.name)
        if cred.fresh(clock()) and (stale is None or cred.access_token != stale):
            return cred  # someone refreshed while we waited
        new_text = _refresh(profile, cred, transport)
        new = _load(new_text, profile.name)
        failure: errors.KeyStoreError | None = None
        try:
            store.set(user(profile.name), new_text)
        except errors.KeyStoreError as err:
            failure = err
        if failure is not None:  # the new token still serves this request
            _log.warning(
                "could not save the refreshed OAuth token for profile %r (%s); it will be "
                "refreshed again next time",
                profile.name,
                failure.cause,
            )
        return new


def _refresh(profile: Profile, cred: UserCredential, transport: Transport | None) -> str:
    """One refresh-token grant at the credential's token endpoint → the updated JSON text."""
    from .providers.base import WireRequest

    if transport is None:
        from .transport import transport as shared

        transport = shared()
    wire = WireRequest(
        "POST",
        cred.token_uri,
        form={
            "grant_type": "refresh_token",
            "client_id": cred.client_id,
            "client_secret": cred.client_secret,
            "refresh_token": cred.refresh_token,
        },
        framing="json",
    )
    via = replace(profile, timeouts={**profile.timeouts, **REFRESH_TIMEOUTS})

    def on_error(status: int, headers: Mapping[str, str], body: bytes) -> errors.ByokError:
        return _token_error(status, body, profile, cred.token_uri)

    body = transport.fetch(wire, via, on_error)
    data = _json_object(body) or {}
    access = data.get("access_token")
    if not isinstance(access, str) or not access.strip():
        raise errors.ProtocolError(
            f"the token endpoint answered without an access token (profile {profile.name!r})",
            relogin_fix(profile.name),
        )
    remember(access)
    rotated = data.get("refresh_token")
    rotated = rotated if isinstance(rotated, str) and rotated.strip() else None
    if rotated:
        remember(rotated)
    try:
        expires_in = float(data.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600.0
    _log.info("refreshed the OAuth access token for profile %r", profile.name)
    return cred.updated(access, expires_in, rotated)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


_REFUSED = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"}


def _token_error(status: int, body: bytes, profile: Profile, url: str) -> errors.ByokError:
    """``{"error": "invalid_grant", "error_description": …}`` → a clear, tokenless error."""
    from .providers.base import clean_message, http_error

    data = _json_object(body) or {}
    code = data.get("error")
    code = code if isinstance(code, str) else ""
    desc = clean_message(data.get("error_description") or "")
    if code in _REFUSED or status in (400, 401):
        what = f"{code}: {desc}" if code and desc else code or desc or f"HTTP {status}"
        return RefreshRefused(
            f"Google refused to refresh the OAuth credential for profile {profile.name!r} ({what})",
            relogin_fix(profile.name),
            status=status,
            code=code,
        )
    return http_error(status, profile=profile, url=url, message=desc or code, code=code)


def refuse_tool_login(text: str, where: str = "") -> None:
    """Raise the explanation if ``text`` (e.g. pasted where a key goes) is a tool login."""
    if not text.lstrip().startswith("{"):
        return
    try:
        data = json.loads(text)
    except ValueError:
        return
    tool = detect(data)
    if tool is not None:
        raise refusal(tool, where)
    if isinstance(data, dict) and data.get("type") == "authorized_user":
        raise errors.ConfigError(
            "this is an OAuth credential file, not an API key",
            "store it with `%byok keys set NAME --oauth` (for a vertex profile)",
        )


__all__ += ["ToolLoginRefused", "refuse_tool_login", "relogin_fix"]
