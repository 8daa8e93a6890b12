"""Azure OpenAI: the dated deployment route, the versionless v1 route, Foundry's /openai/v1/
through an openai profile, api-key vs bearer, and the content filter."""

from __future__ import annotations

import pytest

from byok_magic import errors
from byok_magic.config import Profile
from byok_magic.events import Finish, TextDelta
from tests.loopback import Reply, chat_chunks

PROMPT_FILTER = {
    "id": "",
    "model": "",
    "object": "",
    "created": 0,
    "choices": [],
    "prompt_filter_results": [
        {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}
    ],
}


def _azure(router, loopback, memory_store, key, **kw) -> Profile:
    prof = Profile(name="az", type="azure", base_url=loopback.url, **kw)
    router.config.add(prof)
    memory_store.set("az", key)
    return prof


def test_dated_route(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key, api_version="2024-10-21")
    path = "/openai/deployments/gpt-4o-prod/chat/completions"
    loopback.route("POST", path, Reply.sse([PROMPT_FILTER, *chat_chunks(["Hi", "!"])]))
    prof, req = router.request("hello", "az:gpt-4o-prod", max_tokens=50)
    events = list(router.stream(prof, req))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hi!"
    (seen,) = loopback.seen()
    assert seen.query == {"api-version": ["2024-10-21"]}
    assert seen.header("api-key") == fake_key
    assert seen.header("authorization") is None
    assert seen.json["max_completion_tokens"] == 50
    assert seen.json["stream_options"] == {"include_usage": True}


def test_old_api_version_gets_the_old_parameter_names(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key, api_version="2024-02-01")
    loopback.route("POST", "/openai/deployments/d/chat/completions", Reply.sse(chat_chunks(["x"])))
    prof, req = router.request("hello", "az:d", max_tokens=50)
    list(router.stream(prof, req))
    body = loopback.seen()[0].json
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body
    assert "stream_options" not in body


@pytest.mark.parametrize("base", ["", "/openai", "/openai/v1", "/openai/v1/"])
def test_v1_route_without_api_version(router, loopback, memory_store, fake_key, base):
    router.config.add(Profile(name="az", type="azure", base_url=loopback.url + base))
    memory_store.set("az", fake_key)
    loopback.route("POST", "/openai/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    assert router.ask("hello", "az:dep") == "ok"
    (seen,) = loopback.seen()
    assert seen.query == {} and seen.header("api-key") == fake_key
    assert seen.json["model"] == "dep"


def test_foundry_v1_through_an_openai_profile(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="fdy", type="openai", base_url=loopback.url + "/openai/v1/"))
    memory_store.set("fdy", fake_key)
    loopback.route("POST", "/openai/v1/chat/completions", Reply.sse(chat_chunks(["ok"])))
    assert router.ask("hello", "fdy:dep") == "ok"
    assert loopback.seen()[0].header("authorization") == f"Bearer {fake_key}"


def test_entra_token_is_sent_as_bearer_and_wins(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key, api_version="2024-10-21")
    memory_store.set("az#bearer", "entra-token-123")
    loopback.route("POST", "/openai/deployments/d/chat/completions", Reply.sse(chat_chunks(["ok"])))
    assert router.ask("hello", "az:d") == "ok"
    seen = loopback.seen()[0]
    assert seen.header("authorization") == "Bearer entra-token-123"
    assert seen.header("api-key") is None
    assert fake_key not in seen.raw


def test_content_filter_finish_is_shown_as_filtered(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key)
    base = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
    chunks = [
        PROMPT_FILTER,
        {**base, "choices": [{"index": 0, "delta": {"content": "Once"}}]},
        {**base, "choices": []},  # asynchronous filter annotation
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "finish_reason": "content_filter",
                    "content_filter_results": {"violence": {"filtered": True}},
                }
            ],
        },
    ]
    loopback.route("POST", "/openai/v1/chat/completions", Reply.sse(chunks))
    prof, req = router.request("hello", "az:d")
    events = list(router.stream(prof, req))
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Once")]
    assert events[-1] == Finish("filtered", "content_filter")


def test_blocked_prompt_says_blocked(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key)
    body = {"error": {"code": "content_filter", "message": "The prompt was filtered."}}
    loopback.route("POST", "/openai/v1/chat/completions", Reply.json(body, status=400))
    with pytest.raises(errors.BlockedError) as ei:
        router.ask("hello", "az:d")
    assert str(ei.value).startswith("blocked: content_filter")


def test_deployment_not_found_says_deployment(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key, api_version="2024-10-21")
    body = {"error": {"code": "DeploymentNotFound", "message": "does not exist"}}
    loopback.route("POST", "/openai/deployments/nope/chat/completions", Reply.json(body, 404))
    with pytest.raises(errors.ModelNotFoundError, match="deployment name"):
        router.ask("hello", "az:nope")


def test_azure_host_given_to_an_openai_profile_is_caught(router, memory_store, fake_key):
    from byok_magic.config import check_profile

    bad = Profile(name="w", type="openai", base_url="https://acme.openai.azure.com")
    with pytest.raises(errors.ConfigError) as ei:
        check_profile(bad)
    msg = str(ei.value)
    assert "use type azure with base URL https://acme.openai.azure.com" in msg
    assert "https://acme.openai.azure.com/openai/v1" in msg
    with pytest.raises(errors.ConfigError):
        router.config.add(bad)
    check_profile(
        Profile(name="w", type="openai", base_url="https://acme.openai.azure.com/openai/v1/")
    )


def test_models_on_the_v1_route(router, loopback, memory_store, fake_key):
    _azure(router, loopback, memory_store, fake_key)
    loopback.route("GET", "/openai/v1/models", Reply.json({"data": [{"id": "gpt-4o-prod"}]}))
    models = router.list_models("az", refresh=True)
    assert [m.id for m in models] == ["gpt-4o-prod"]
    assert models[0].vision is True  # a hint for the gpt-4o family
    assert loopback.seen()[0].header("api-key") == fake_key
