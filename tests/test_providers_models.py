"""Model lists: a profile's own list, a registered lister, and live discovery cached in the byok
home with a refresh option; capability hints for well-known model ids."""

from __future__ import annotations

import json

import pytest

from byok_magic import errors, models
from byok_magic.config import Profile
from byok_magic.events import ModelInfo
from tests.loopback import Reply

LIST = {"object": "list", "data": [{"id": "gpt-4o-mini"}, {"id": "o3"}, {"id": "my-finetune"}]}


@pytest.fixture
def gw(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="gw", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("gw", fake_key)
    loopback.route("GET", "/v1/models", Reply.json(LIST))
    return router


def test_live_list_is_cached_in_the_byok_home(gw, loopback, byok_home, fake_key):
    first = gw.list_models("gw")
    assert [(m.id, m.vision, m.reasoning) for m in first] == [
        ("gpt-4o-mini", True, False),
        ("my-finetune", None, None),
        ("o3", True, True),
    ]
    assert gw.list_models("gw") == first
    assert len(loopback.seen()) == 1  # the second answer came from the cache
    text = (byok_home / "models-cache.json").read_text()
    assert "gpt-4o-mini" in text and fake_key not in text
    gw.list_models("gw", refresh=True)
    assert len(loopback.seen()) == 2


def test_stale_or_moved_cache_is_asked_again(gw, loopback, byok_home):
    gw.list_models("gw")
    path = byok_home / "models-cache.json"
    data = json.loads(path.read_text())
    data["profiles"]["gw"]["fetched"] -= models.TTL + 1
    path.write_text(json.dumps(data))
    gw.list_models("gw")
    assert len(loopback.seen()) == 2
    gw.config.add(Profile(name="gw", type="openai", base_url=loopback.url + "/v1/"))
    gw.list_models("gw")  # another base URL: another server's list
    assert len(loopback.seen()) == 3


def test_a_broken_cache_file_is_ignored(gw, loopback, byok_home):
    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "models-cache.json").write_text("{not json")
    assert len(gw.list_models("gw")) == 3


def test_model_list_errors_are_clear(router, loopback, memory_store, fake_key):
    router.config.add(Profile(name="gw", type="openai", base_url=loopback.url + "/v1"))
    memory_store.set("gw", fake_key)
    body = {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}
    loopback.route("GET", "/v1/models", Reply.json(body, status=401))
    with pytest.raises(errors.AuthError, match="%byok keys set gw"):
        router.list_models("gw", refresh=True)


def test_profile_file_list_replaces_discovery(router, loopback, byok_home):
    byok_home.mkdir(parents=True, exist_ok=True)
    (byok_home / "profiles.toml").write_text(
        f"""
[profiles.work]
type = "openai"
base_url = "{loopback.url}/v1"

[[profiles.work.models]]
id = "gpt-4.1"
name = "GPT-4.1 (Acme)"
vision = true
reasoning_effort = false
context_window = 128000
""",
        encoding="utf-8",
    )
    (m,) = router.list_models("work")
    assert (m.id, m.name, m.vision, m.reasoning, m.context_window, m.profile) == (
        "gpt-4.1",
        "GPT-4.1 (Acme)",
        True,
        False,
        128000,
        "work",
    )
    assert loopback.seen() == []


def test_registered_lister_replaces_discovery(gw, loopback):
    gw.model_listers["gw"] = lambda: [
        "plain-id",
        {"id": "dict-id", "vision": True},
        ModelInfo(id="info-id", context_window=8192),
    ]
    got = gw.list_models("gw", refresh=True)
    assert [(m.id, m.profile) for m in got] == [
        ("plain-id", "gw"),
        ("dict-id", "gw"),
        ("info-id", "gw"),
    ]
    assert got[1].vision is True and got[2].context_window == 8192
    assert loopback.seen() == []


@pytest.mark.parametrize(
    ("model", "known"),
    [
        ("gpt-4.1-mini", {"vision": True, "reasoning": False}),
        ("o4-mini", {"reasoning": True}),
        ("claude-3-haiku-20240307", {"max_output": 4096}),
        ("claude-sonnet-4-5", {"reasoning": True, "context_window": 200_000}),
        ("gemini-2.5-flash", {"reasoning": True, "context_window": 1_048_576}),
        ("deepseek-reasoner", {"reasoning": True}),
        ("llava:7b", {"vision": True}),
        ("qwen3:8b", {"reasoning": True}),
    ],
)
def test_hints_for_well_known_ids(model, known):
    got = models.hints(model)
    assert {k: got.get(k) for k in known} == known


def test_unknown_ids_get_no_hints():
    assert models.hints("my-private-model") == {}
