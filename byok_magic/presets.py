"""Built-in profiles: a user only adds a key. An OpenAI-compatible vendor is a data row here
(base URL, key variables, wire quirks), never a class."""

from __future__ import annotations

from typing import Any

from .profile import Profile


def _preset(name: str, type: str, base_url: str | None, *env: str, **kw: Any) -> Profile:
    return Profile(name=name, type=type, base_url=base_url, env_keys=env, builtin=True, **kw)


_LOCAL = {"key_required": False, "allow_http": True}

PRESETS: dict[str, Profile] = {
    p.name: p
    for p in (
        _preset(
            "openai",
            "openai",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            quirks={"max_tokens_field": "max_completion_tokens", "developer_role": True},
            description="OpenAI",
        ),
        _preset(
            "azure",
            "azure",
            None,
            "AZURE_OPENAI_API_KEY",
            quirks={"max_tokens_field": "max_completion_tokens"},
            description="Azure OpenAI (give your https://RESOURCE.openai.azure.com)",
        ),
        _preset(
            "anthropic",
            "anthropic",
            "https://api.anthropic.com",
            "ANTHROPIC_API_KEY",
            description="Anthropic",
        ),
        _preset(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            description="Google Gemini API",
        ),
        _preset(
            "ollama",
            "ollama",
            "http://localhost:11434",
            auth="none",
            quirks={"discover": "ollama-host"},
            description="Ollama (OLLAMA_HOST honoured)",
            **_LOCAL,
        ),
        _preset(
            "foundry-local",
            "openai",
            None,
            auth="none",
            quirks={"discover": "foundry-local"},
            description="Microsoft Foundry Local",
            **_LOCAL,
        ),
        _preset(
            "vllm",
            "openai",
            "http://localhost:8000/v1",
            "VLLM_API_KEY",
            description="vLLM",
            **_LOCAL,
        ),
        _preset(
            "litellm",
            "openai",
            "http://localhost:4000",
            "LITELLM_API_KEY",
            description="LiteLLM proxy",
            **_LOCAL,
        ),
        _preset(
            "ark",
            "openai",
            "https://ark.cn-beijing.volces.com/api/v3",
            "ARK_API_KEY",
            quirks={"reasoning_param": "thinking"},
            description="Volcengine Ark (Doubao): model IDs or ep-… endpoint IDs",
        ),
        _preset(
            "deepseek",
            "openai",
            "https://api.deepseek.com",
            "DEEPSEEK_API_KEY",
            quirks={"reasoning_param": False},  # reasoning is the model: deepseek-reasoner
            description="DeepSeek",
        ),
        _preset(
            "openrouter",
            "openai",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            quirks={"reasoning_param": "reasoning"},
            description="OpenRouter",
        ),
        _preset(
            "groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", description="Groq"
        ),
        _preset(
            "mistral",
            "openai",
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            # strict about unknown fields; sends usage on its finish chunk without being asked
            quirks={"stream_options": False, "reasoning_param": False},
            description="Mistral",
        ),
        _preset(
            "dashscope",
            "openai",
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "DASHSCOPE_API_KEY",
            quirks={"reasoning_param": "enable_thinking"},
            description="Alibaba DashScope / Model Studio (Qwen)",
        ),
        _preset(
            "vertex",
            "vertex",
            None,
            auth="bearer",
            location="us-central1",
            description="Gemini on Google Cloud Vertex AI (OAuth credential)",
        ),
    )
}
