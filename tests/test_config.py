"""Profiles, presets, targets, the profile file and the base-URL rules."""

from __future__ import annotations

import pytest

from byok_magic import errors
from byok_magic.config import (
    PRESETS,
    Config,
    Profile,
    check_profile,
    openai_url,
    parse_target,
    split_base,
)

# Cherry Studio's current rule (providers.md §7b), one row per case a user types.
URL_TABLE = [
    ("https://api.demo.com", "https://api.demo.com/v1/chat/completions"),
    ("https://api.demo.com/", "https://api.demo.com/v1/chat/completions"),
    ("https://api.demo.com/v1", "https://api.demo.com/v1/chat/completions"),
    ("https://api.demo.com/v1/", "https://api.demo.com/v1/chat/completions"),
    (
        "https://ark.cn-beijing.volces.com/api/v3",
        "https://ark.cn-beijing.volces.com/api/v3/chat/completions",
    ),
    ("https://g.demo.com/v1beta/openai", "https://g.demo.com/v1beta/openai/chat/completions"),
    ("https://g.demo.com/v1beta/openai/", "https://g.demo.com/v1beta/openai/chat/completions"),
    ("https://gw.demo.com/x/chat/completions#", "https://gw.demo.com/x/chat/completions"),
    ("https://gw.demo.com/custom#", "https://gw.demo.com/custom/chat/completions"),
    ("https://gw.demo.com/custom/#", "https://gw.demo.com/custom/chat/completions"),
    ("http://localhost:4000", "http://localhost:4000/v1/chat/completions"),
    ("http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"),
    ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/chat/completions"),
    ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions"),
    (
        "https://x.openai.azure.com/openai/v1/",
        "https://x.openai.azure.com/openai/v1/chat/completions",
    ),
    ("  https://api.demo.com/v2  ", "https://api.demo.com/v2/chat/completions"),
    ("https://api.demo.com/version1", "https://api.demo.com/version1/v1/chat/completions"),
]


@pytest.mark.parametrize(("typed", "final"), URL_TABLE)
def test_url_rules(typed, final):
    assert openai_url(typed, "chat/completions") == final


def test_exact_operation_url_keeps_its_base_for_other_operations():
    assert split_base("https://gw.demo.com/x/chat/completions#") == (
        "https://gw.demo.com/x",
        "https://gw.demo.com/x/chat/completions",
    )
    assert openai_url("https://gw.demo.com/x/chat/completions#", "models") == (
        "https://gw.demo.com/x/models"
    )


@pytest.mark.parametrize(
    ("target", "parsed"),
    [
        ("openai:gpt-4.1", ("openai", "gpt-4.1")),
        ("ollama:llama3.2:3b", ("ollama", "llama3.2:3b")),
        ("ollama", ("ollama", None)),
        ("ark:ep-20260101-abcde", ("ark", "ep-20260101-abcde")),
        (" anthropic:claude-x ", ("anthropic", "claude-x")),
    ],
)
def test_targets_split_on_first_colon(target, parsed):
    assert parse_target(target) == parsed


def test_every_preset_of_the_interface_exists():
    want = {
        "openai",
        "azure",
        "anthropic",
        "gemini",
        "ollama",
        "foundry-local",
        "vllm",
        "litellm",
        "ark",
        "deepseek",
        "openrouter",
        "groq",
        "mistral",
        "dashscope",
    }
    assert want <= set(PRESETS)
    assert PRESETS["openai"].env_vars == ("OPENAI_API_KEY",)
    assert PRESETS["gemini"].env_vars == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert not PRESETS["ollama"].needs_secret
    for p in PRESETS.values():
        check_profile(p)


def test_profile_file_round_trip_and_hand_edits(byok_home):
    cfg = Config(home=byok_home)
    cfg.add(
        Profile(
            name="work",
            type="azure",
            base_url="https://acme.openai.azure.com",
            api_version="2024-10-21",
            model="gpt-4.1",
            key_env="ACME_AZURE_KEY",
            headers={"X-Team": 'ml "quoted"'},
        )
    )
    cfg.set_default("work:gpt-4.1")
    again = Config(home=byok_home)
    work = again.get("work")
    assert work.type == "azure" and work.api_version == "2024-10-21"
    assert dict(work.headers) == {"X-Team": 'ml "quoted"'}
    assert again.default_target() == "work:gpt-4.1"
    assert again.resolve(None) == (work, "gpt-4.1")
    # a hand edit is picked up without restarting
    text = cfg.path.read_text().replace('model = "gpt-4.1"', 'model = "gpt-5"')
    cfg.path.write_text(text + "\n# edited\n")
    assert again.get("work").model == "gpt-5"


def test_preset_overlay_and_removal(byok_home):
    cfg = Config(home=byok_home)
    cfg.add(Profile(name="openai", type="openai", model="gpt-4.1-mini"))
    p = cfg.get("openai")
    assert p.base_url == "https://api.openai.com/v1" and p.model == "gpt-4.1-mini"
    assert p.env_vars == ("OPENAI_API_KEY",)
    cfg.remove("groq")
    assert "groq" not in Config(home=byok_home).profiles()


def test_the_file_refuses_secrets(byok_home):
    byok_home.mkdir(parents=True)
    (byok_home / "profiles.toml").write_text('[profiles.x]\ntype = "openai"\napi_key = "sk-1"\n')
    with pytest.raises(errors.ConfigError) as ei:
        Config(home=byok_home).profiles()
    assert "keys set" in ei.value.fix


def test_azure_host_on_openai_type_is_caught():
    p = Profile(name="w", type="openai", base_url="https://acme.openai.azure.com")
    with pytest.raises(errors.ConfigError) as ei:
        check_profile(p)
    assert "type azure" in ei.value.fix and "/openai/v1" in ei.value.fix
    check_profile(
        Profile(name="w", type="openai", base_url="https://acme.openai.azure.com/openai/v1")
    )


def test_bad_url_and_names(byok_home):
    cfg = Config(home=byok_home)
    with pytest.raises(errors.ConfigError, match="not an http"):
        cfg.add(Profile(name="x", type="openai", base_url="api.example.com"))
    with pytest.raises(errors.ConfigError, match="not a usable profile name"):
        cfg.add(Profile(name="a:b", type="openai", base_url="https://x"))


def test_no_target_and_no_model(byok_home):
    cfg = Config(home=byok_home)
    with pytest.raises(errors.NoModelError, match="no target"):
        cfg.resolve(None)
    with pytest.raises(errors.NoModelError, match="no model"):
        cfg.resolve("openai")
    with pytest.raises(errors.ConfigError, match="no profile named"):
        cfg.resolve("nope:m")
