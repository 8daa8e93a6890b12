"""Gemini on Google Cloud Vertex AI, with a user OAuth access token.

``POST https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
publishers/google/models/{model}:streamGenerateContent?alt=sse`` with ``Authorization: Bearer
<access token>`` (location ``global`` uses ``https://aiplatform.googleapis.com``). A profile's
``base_url`` replaces the scheme-and-host part (a private endpoint, or a test server).

The project is the profile's ``project_id``, else the ``projectId``/``quota_project_id`` of the
stored credential JSON (``Credential.meta``); ``location`` defaults to ``us-central1``. The body,
the stream and the error bodies are the Gemini API's, so this reuses :mod:`.gemini`'s halves.
When the credential names a quota project, ``x-goog-user-project`` carries it, as Google's own
client libraries do for user credentials.

Model listing uses ``GET {host}/v1beta1/publishers/google/models`` (Model Garden's publisher
models, paged with ``pageToken``) and keeps the ``gemini`` ids **(shape unconfirmed)**.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .. import errors
from ..config import host_of
from ..events import ModelInfo
from .base import WireRequest, auth_for, clean_message, parse_json_body
from .gemini import GeminiAdapter, gemini_error, request_body

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest

DEFAULT_LOCATION = "us-central1"
_LOCATION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9.:-]{0,127}$")
_VERSIONED = re.compile(r"/v\d+(?:alpha|beta)?\d*$")


def location_of(profile: Profile) -> str:
    loc = (profile.location or DEFAULT_LOCATION).strip().lower()
    if not _LOCATION.match(loc):
        raise errors.ConfigError(
            f"profile {profile.name!r} has location {profile.location!r}, which is not a "
            "Google Cloud region",
            f"give a region such as us-central1: `%byok add {profile.name} --location REGION`",
        )
    return loc


def project_of(profile: Profile, credential: Credential | None) -> str:
    """The profile's project id, else the one the OAuth credential JSON carries."""
    meta = credential.meta if credential is not None else {}
    project = (profile.project_id or meta.get("project_id") or "").strip()
    if not project:
        raise errors.ConfigError(
            f"no Google Cloud project for vertex profile {profile.name!r}",
            f"set one with `%byok add {profile.name} --project-id PROJECT`, or store a "
            "credential whose JSON has projectId or quota_project_id",
        )
    if not _PROJECT.match(project):
        raise errors.ConfigError(
            f"profile {profile.name!r} has project id {project!r}, which is not a Google Cloud "
            "project id",
            f"give the project's id (not its name or number with spaces): "
            f"`%byok add {profile.name} --project-id PROJECT`",
        )
    return project


def host_root(profile: Profile, location: str) -> str:
    """``https://{location}-aiplatform.googleapis.com`` or the profile's base URL, no version."""
    if profile.base_url:
        base = profile.base_url.strip().rstrip("/")
        return _VERSIONED.sub("", base)
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def model_name(model: str) -> str:
    """A bare Gemini model id from ``gemini-x``, ``models/gemini-x`` or the full resource."""
    from .gemini import model_path

    bare = model.split("/models/")[-1] if "/models/" in model else model
    return model_path(bare)


def _headers(profile: Profile, credential: Credential | None) -> dict[str, str]:
    headers = dict(profile.headers)
    quota = credential.meta.get("quota_project") if credential is not None else None
    if quota and "x-goog-user-project" not in {k.lower() for k in headers}:
        headers["x-goog-user-project"] = quota
    return headers


def vertex_error(
    status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
) -> errors.ByokError:
    """Google's error bodies, the Gemini way; a 401 or 403 says what to do on Google Cloud."""
    err = gemini_error(status, headers, body, profile, url)
    if isinstance(err, errors.AuthError):
        from ..oauth import relogin_fix

        data = parse_json_body(body)
        inner = data.get("error") if isinstance(data, dict) else None
        msg = clean_message(inner.get("message") or "") if isinstance(inner, dict) else ""
        return errors.AuthError(
            f"{status} from {host_of(url)}: Vertex AI rejected the OAuth access token for "
            f"profile {profile.name!r}" + (f": {msg}" if msg else ""),
            relogin_fix(profile.name),
            **err.info,
        )
    if isinstance(err, errors.PermissionDenied):
        return errors.PermissionDenied(
            err.cause,
            "check that the Vertex AI API is enabled in the project and that your account "
            "has the Vertex AI User role (roles/aiplatform.user) there",
            **err.info,
        )
    return err


class VertexAdapter(GeminiAdapter):
    """Gemini models on Vertex AI (``type = "vertex"``), bearer auth from an OAuth credential.

    Streams, pages and parses exactly like the Gemini API; only the address, the auth and the
    model list differ.
    """

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        location = location_of(profile)
        project = project_of(profile, credential)
        method = "streamGenerateContent" if request.stream else "generateContent"
        url = (
            f"{host_root(profile, location)}/v1/projects/{project}/locations/{location}"
            f"/publishers/google/models/{model_name(request.model)}:{method}"
        )
        return WireRequest(
            "POST",
            url,
            headers=_headers(profile, credential),
            json=request_body(request),
            params={"alt": "sse"} if request.stream else {},
            framing="sse" if request.stream else "json",
            **auth_for(credential, "x-goog-api-key"),
        )

    error = staticmethod(vertex_error)

    def models_request(
        self, profile: Profile, credential: Credential | None, page: str | None = None
    ) -> WireRequest:
        params = {"pageSize": "200"}
        if page:
            params["pageToken"] = page
        return WireRequest(
            "GET",
            f"{host_root(profile, location_of(profile))}/v1beta1/publishers/google/models",
            headers=_headers(profile, credential),
            params=params,
            framing="json",
            **auth_for(credential, "x-goog-api-key"),
        )

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]:
        data = parse_json_body(body)
        out = []
        for m in data.get("publisherModels", []) if isinstance(data, dict) else []:
            name = m.get("name") if isinstance(m, dict) else None
            if not isinstance(name, str):
                continue
            model_id = name.rsplit("/", 1)[-1]
            if model_id.startswith("gemini"):
                out.append(ModelInfo(id=model_id, profile=profile.name))
        return out
