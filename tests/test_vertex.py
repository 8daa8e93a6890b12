"""The ``vertex`` profile type: Gemini on Vertex AI with a refreshed OAuth token, end to end against
a loopback token endpoint and a loopback Vertex-shaped server (issue 8)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from byok_magic import errors, oauth
from byok_magic.config import Profile
from byok_magic.credentials import Credential, Secret
from byok_magic.events import ChatRequest, Message, TextDelta
from byok_magic.providers import adapter_for
from byok_magic.providers.vertex import VertexAdapter
from tests.leakcheck import assert_no_secret, exception_texts
from tests.loopback import Reply
from tests.oauth_helpers import (
    MODEL,
    STREAM_PATH,
    TokenEndpoint,
    adc,
    gemini_stream,
    secrets_of,
)

REQ = ChatRequest(model="gemini-test", messages=(Message("user", "hi"),))


def _cred(token: str = "ya29.test-static-token-0001", **meta: str) -> Credential:
    return Credential(Secret(token), "bearer", "test", meta=meta)


def _vertex(router, loopback, name="vx", **kw) -> Profile:
    prof = Profile(name=name, type="vertex", auth="bearer", base_url=loopback.url, **kw)
    router.config.add(prof)
    return prof


# -- building requests --------------------------------------------------------------------------


def test_url_auth_and_body_on_google_cloud():
    prof = Profile(name="vertex", type="vertex", auth="bearer", project_id="my-proj")
    assert isinstance(adapter_for(prof), VertexAdapter)
    wire = VertexAdapter().build(REQ, prof, _cred(quota_project="quota-proj"))
    assert wire.url == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1"
        "/publishers/google/models/gemini-test:streamGenerateContent"
    )
    assert dict(wire.params) == {"alt": "sse"} and wire.framing == "sse"
    assert (wire.auth_header, wire.auth_prefix) == ("Authorization", "Bearer ")
    assert wire.headers["x-goog-user-project"] == "quota-proj"
    assert wire.json["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert "ya29" not in repr(wire)


@pytest.mark.parametrize(
    ("kw", "meta", "url_part"),
    [
        (
            {"location": "europe-west4"},
            {"project_id": "from-json"},
            "https://europe-west4-aiplatform",
        ),
        ({"location": "global", "project_id": "p1"}, {}, "https://aiplatform.googleapis.com/v1/"),
        ({"project_id": "profile-wins"}, {"project_id": "json"}, "/projects/profile-wins/"),
        (
            {"base_url": "https://vertex.internal.example/v1/", "project_id": "p"},
            {},
            "https://vertex.internal.example/v1/projects/p/",
        ),
    ],
)
def test_location_project_and_base_url(kw, meta, url_part):
    prof = Profile(name="vx", type="vertex", auth="bearer", **kw)
    wire = VertexAdapter().build(
        ChatRequest(model="models/gemini-test", messages=REQ.messages), prof, _cred(**meta)
    )
    assert url_part in wire.url and wire.url.endswith("/models/gemini-test:streamGenerateContent")


def test_no_project_or_a_bad_location_is_a_clear_config_error(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback)
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri, project=None, access="ya29.test-v")))
    with pytest.raises(errors.ConfigError) as ei:
        router.ask("hi", f"vx:{MODEL}")
    assert "no Google Cloud project" in str(ei.value) and "--project-id" in str(ei.value)
    prof = Profile(name="vx", type="vertex", project_id="p", location="us-central1.evil.com/x#")
    with pytest.raises(errors.ConfigError, match="not a Google Cloud region"):
        VertexAdapter().build(REQ, prof, _cred())
    assert loopback.seen(STREAM_PATH) == []


def test_missing_credential_names_the_gcloud_route(router, loopback):
    _vertex(router, loopback, project_id="demo-project")
    with pytest.raises(errors.MissingKeyError) as ei:
        router.ask("hi", f"vx:{MODEL}")
    assert "gcloud auth application-default login" in str(ei.value)
    assert "%byok keys set vx --oauth --from gcloud" in str(ei.value)


# -- end to end ---------------------------------------------------------------------------------


def test_expired_pasted_credential_streams_after_exactly_one_refresh(
    router, loopback, memory_store
):
    """Done-when: a vertex profile with an expired pasted credential answers from a loopback
    server after exactly one refresh, and the store holds the new token."""
    endpoint = TokenEndpoint(loopback)
    old = "ya29.test-expired-aaaabbbbcccc"
    data = adc(endpoint.uri, access=old, expires_in=-600)
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(data))
    loopback.route("POST", STREAM_PATH, gemini_stream("Hello ", "from Vertex"))
    prof, req = router.request("Say hello", f"vx:{MODEL}")
    events = list(router.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello from Vertex"
    assert len(endpoint.calls) == 1
    (seen,) = loopback.seen(STREAM_PATH)
    new = endpoint.issued[0]
    assert seen.header("authorization") == f"Bearer {new}"
    assert seen.query == {"alt": ["sse"]}
    assert seen.header("x-goog-user-project") == "demo-project"
    assert seen.json["contents"][-1] == {"role": "user", "parts": [{"text": "Say hello"}]}
    stored = json.loads(memory_store.values["vx#oauth"])
    assert stored["access_token"] == new and stored["refresh_token"] == data["refresh_token"]
    # a second cell uses the stored token: no more refreshes
    assert router.ask("again", f"vx:{MODEL}") == "Hello from Vertex"
    assert len(endpoint.calls) == 1
    assert [s.header("authorization") for s in loopback.seen(STREAM_PATH)] == [f"Bearer {new}"] * 2


def test_401_refreshes_once_and_retries(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback)
    old = "ya29.test-revoked-early-0001"
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri, access=old, expires_in=3000)))
    unauth = {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
    }
    loopback.route("POST", STREAM_PATH, [Reply.json(unauth, 401), gemini_stream("ok")])
    assert router.ask("hi", f"vx:{MODEL}") == "ok"
    assert len(endpoint.calls) == 1
    auths = [s.header("authorization") for s in loopback.seen(STREAM_PATH)]
    assert auths == [f"Bearer {old}", f"Bearer {endpoint.issued[0]}"]
    assert json.loads(memory_store.values["vx#oauth"])["access_token"] == endpoint.issued[0]


def test_401_after_the_refresh_says_log_in_again(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback)
    data = adc(endpoint.uri, access="ya29.test-still-bad-0002", expires_in=3000)
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(data))
    unauth = {"error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}}
    loopback.route("POST", STREAM_PATH, Reply.json(unauth, 401))
    with pytest.raises(errors.AuthError) as ei:
        router.ask("hi", f"vx:{MODEL}")
    assert "Vertex AI rejected the OAuth access token for profile 'vx'" in str(ei.value)
    assert "gcloud auth application-default login" in str(ei.value)
    assert len(endpoint.calls) == 1 and len(loopback.seen(STREAM_PATH)) == 2
    for where, text in exception_texts(ei.value).items():
        assert_no_secret(text, secrets_of(data) + endpoint.issued, where)


def test_refused_refresh_sends_nothing_to_vertex(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback, refuse=True)
    data = adc(endpoint.uri, access="ya29.test-gone-0003", expires_in=-1)
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(data))
    loopback.route("POST", STREAM_PATH, gemini_stream("never"))
    prof, req = router.request("hi", f"vx:{MODEL}")
    from byok_magic.router import Answer

    answer = Answer(target=f"vx:{MODEL}")
    with pytest.raises(oauth.RefreshRefused) as ei:
        list(router.stream(prof, req, answer))
    assert "`%byok keys set vx --oauth`" in str(ei.value)
    assert answer.error is ei.value
    assert loopback.seen(STREAM_PATH) == []
    assert_no_secret(repr(answer), secrets_of(data), "the answer")


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (
            403,
            {
                "error": {
                    "code": 403,
                    "message": "Permission denied on resource project demo-project.",
                    "status": "PERMISSION_DENIED",
                }
            },
            errors.PermissionDenied,
            "roles/aiplatform.user",
        ),
        (
            404,
            {
                "error": {
                    "code": 404,
                    "message": "Publisher Model was not found",
                    "status": "NOT_FOUND",
                }
            },
            errors.ModelNotFoundError,
            "not found",
        ),
        (
            400,
            [
                {
                    "error": {
                        "code": 400,
                        "message": "The input token count (9) exceeds the maximum number of "
                        "tokens allowed (8).",
                        "status": "INVALID_ARGUMENT",
                    }
                }
            ],
            errors.ContextLengthError,
            "too long",
        ),
    ],
)
def test_errors_are_mapped_the_gemini_way(router, loopback, memory_store, status, body, kind, says):
    endpoint = TokenEndpoint(loopback)
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri, access="ya29.test-ok-0004")))
    loopback.route("POST", STREAM_PATH, Reply.json(body, status))
    with pytest.raises(kind) as ei:
        router.ask("hi", f"vx:{MODEL}")
    assert says in str(ei.value)
    assert endpoint.calls == []


def test_model_list(router, loopback, memory_store):
    endpoint = TokenEndpoint(loopback)
    _vertex(router, loopback)
    memory_store.set("vx#oauth", json.dumps(adc(endpoint.uri, access="ya29.test-list-0005")))
    page1 = {
        "publisherModels": [
            {"name": "publishers/google/models/gemini-test"},
            {"name": "publishers/google/models/imagen-x"},
        ],
        "nextPageToken": "p2",
    }
    page2 = {"publisherModels": [{"name": "publishers/google/models/gemini-other"}]}
    loopback.route(
        "GET", "/v1beta1/publishers/google/models", [Reply.json(page1), Reply.json(page2)]
    )
    ids = [m.id for m in router.list_models("vx", refresh=True)]
    assert ids == ["gemini-test", "gemini-other"]
    seen = loopback.seen("/v1beta1/publishers/google/models")
    assert seen[1].query["pageToken"] == ["p2"]
    assert seen[0].header("authorization") == "Bearer ya29.test-list-0005"


# -- in a real kernel, saved as a notebook ------------------------------------------------------


def test_notebook_with_an_expired_credential_keeps_no_token(
    byok_home, loopback, monkeypatch, tmp_path
):
    """nbclient runs a notebook against a vertex profile whose pasted credential has expired.

    The kernel cannot see this process's in-memory store, so the credential sits in byok's
    opt-in plaintext file store (``BYOK_MAGIC_INSECURE_FILE_STORE=1``, a real store the kernel
    reads and writes) inside the test's private byok home.
    """
    from byok_magic.credentials import KeyStore
    from byok_magic.filestore import FileBackend

    endpoint = TokenEndpoint(loopback)
    data = adc(endpoint.uri, access="ya29.test-expired-in-kernel-0006", expires_in=-60)
    monkeypatch.setenv("BYOK_MAGIC_INSECURE_FILE_STORE", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "profiles.toml").write_text(
        f'[profiles.vx]\ntype = "vertex"\nauth = "bearer"\nbase_url = "{loopback.url}"\n'
    )
    KeyStore(insecure_file=True).set("vx#oauth", json.dumps(data))
    loopback.route("POST", STREAM_PATH, gemini_stream("kernel ", "answer"))
    cells = [
        "%load_ext byok_magic",
        "%xmode Verbose",
        f"%%byok vx:{MODEL}\nHello from a kernel",
        "%byok keys",
        "%byok",
        f"import byok_magic as byok\nbyok.ask('again', target='vx:{MODEL}')",
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=True, store_widget_state=True
    ).execute()
    path = Path(tmp_path, "vertex.ipynb")
    nbformat.write(nb, path)
    saved = path.read_text()
    assert "kernel answer" in saved
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert len(endpoint.calls) == 1
    new = endpoint.issued[0]
    auths = [s.header("authorization") for s in loopback.seen(STREAM_PATH)]
    assert auths == [f"Bearer {new}"] * 2
    stored = json.loads(FileBackend().get_password(KeyStore().service, "vx#oauth") or "{}")
    assert stored["access_token"] == new
    assert_no_secret(saved, [*secrets_of(data), new], "the saved notebook")
