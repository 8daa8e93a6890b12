"""The one vocabulary every provider speaks in the end.

Requests go in as a :class:`ChatRequest`; answers come out as a stream of small frozen events.
The renderer, the usage log, conversation history and the comparison grid only know these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What the user asked for, in provider-neutral terms.

    ``system`` travels apart from ``messages`` because providers place it differently
    (a first message, Anthropic's top-level ``system``, Gemini's ``systemInstruction``).
    """

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    stream: bool = True


@dataclass(frozen=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of thinking / reasoning-summary text; shown apart, never fed back as answer."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts. Providers may send several; the last one seen wins.

    ``input_tokens`` counts every input token, cache hits and cache writes included (OpenAI's
    and Gemini's convention; adapters for providers that count them apart add them up), and
    ``cached_tokens`` is the cache-hit part of it. ``output_tokens`` includes reasoning tokens.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


FinishReason = Literal["stop", "length", "filtered", "tool", "error", "other"]


@dataclass(frozen=True)
class Finish:
    """The provider said the answer is over.

    ``reason`` is normalised; ``native`` is what the provider called it.
    """

    reason: FinishReason
    native: str | None = None


Event = TextDelta | ReasoningDelta | Usage | Finish


@dataclass(frozen=True)
class ModelInfo:
    """One model a profile offers, with what is known of its capabilities."""

    id: str
    profile: str = ""
    name: str | None = None
    vision: bool | None = None
    reasoning: bool | None = None
    context_window: int | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def target(self) -> str:
        return f"{self.profile}:{self.id}" if self.profile else self.id


_FINISH_MAP: dict[str, FinishReason] = {
    # OpenAI / compatible
    "stop": "stop",
    "length": "length",
    "content_filter": "filtered",
    "tool_calls": "tool",
    "function_call": "tool",
    # Anthropic
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool",
    "refusal": "filtered",
    "model_context_window_exceeded": "length",
    "pause_turn": "other",
    # Gemini
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "filtered",
    "RECITATION": "filtered",
    "BLOCKLIST": "filtered",
    "PROHIBITED_CONTENT": "filtered",
    "SPII": "filtered",
    "IMAGE_SAFETY": "filtered",
    # Responses
    "max_output_tokens": "length",
    "completed": "stop",
}


def normalise_finish(native: str | None) -> Finish:
    """Map a provider's finish reason onto the shared vocabulary."""
    if not native:
        return Finish("stop", native)
    return Finish(_FINISH_MAP.get(native, "other"), native)
