"""Replaying a recorded exchange (``tests/recordings.py``) through the loopback server.

:func:`setup` turns a recording into what a user would have: a profile pointing at the loopback
server (the preset of that provider where one exists), a key, and a request like the recorded
one. :func:`expected` reads what the answer must be straight from the recorded body with the
simplest possible code (line splits and dict lookups, no byok decoder), so the router's result
can be checked against it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from byok_magic.config import PRESETS, Profile
from byok_magic.events import ChatRequest, Message
from tests.loopback import Reply
from tests.recordings import Recording, body_bytes

_OPS = ("/chat/completions", "/responses", "/models", "/v1/messages", "/api/")


def is_models(rec: Recording) -> bool:
    return rec["api"].startswith("models") or rec["api"] == "ollama /api/tags"


def family(rec: Recording) -> str:
    """Which byok adapter speaks this recording's wire format."""
    api = rec["api"]
    if api == "messages":
        return "anthropic"
    if rec["provider"] == "gemini":
        return "gemini"
    if api.startswith("ollama"):
        return "ollama"
    if api == "responses":
        return "responses"
    return "chat"


def chunks(rec: Recording, size: int | None = None) -> list[bytes]:
    """The body as the provider's own write pattern (after each event / line), or in
    ``size``-byte pieces to cut through events, lines and UTF-8 characters."""
    body = body_bytes(rec)
    if size:
        return [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    fmt = rec["stream_format"]
    sep = {"sse": rb"(?<=\n\n)", "ndjson": rb"(?<=\n)", "json-array": rb"(?<=,\r\n)"}.get(fmt)
    if sep is None:
        return [body]
    return [c for c in re.split(sep, body) if c]


def reply(rec: Recording, size: int | None = None) -> Reply:
    resp = rec["response"]
    return Reply(resp["status"], dict(resp["headers"]), chunks(rec, size))


def _prefix(path: str) -> str:
    for op in _OPS:
        at = path.find(op)
        if at >= 0:
            return path[:at]
    return path


def recorded_model(rec: Recording) -> str:
    body = rec["request"]["body"]
    if isinstance(body, dict) and body.get("model"):
        return str(body["model"])
    path = urlsplit(rec["request"]["url"]).path
    m = re.search(r"/models/([^/:]+):", path) or re.search(r"/deployments/([^/]+)/", path)
    return m.group(1) if m else "recorded-model"


@dataclass
class Setup:
    profile: Profile
    request: ChatRequest
    path: str  # the path byok must ask for
    keyed: bool


def setup(rec: Recording, url: str) -> Setup:
    """The profile, request and expected request path for replaying ``rec`` at ``url``."""
    split = urlsplit(rec["request"]["url"])
    path, prov, fam = split.path, rec["provider"], family(rec)
    prefix = _prefix(path)
    stream = bool(rec["streaming"]) and rec["stream_format"] != "json-array"
    model = recorded_model(rec)
    keyed = True
    if fam == "anthropic":
        prof = Profile(name="anthropic", type="anthropic", base_url=url)
    elif fam == "gemini":
        prof = Profile(name="gemini", type="gemini", base_url=url)
        method = "streamGenerateContent" if stream else "generateContent"
        path = f"/v1beta/models/{model}:{method}" if not is_models(rec) else path
    elif fam == "ollama":
        prof = Profile(name="ollama", type="ollama", base_url=url)
        keyed = False
        path = "/api/chat" if not is_models(rec) else path  # /api/generate is read as chat
    elif fam == "responses":
        prof = Profile(name="openai", type="openai", base_url=url + prefix, wire_api="responses")
    elif prov == "azure-openai" and "/deployments/" in path:
        version = parse_qs(split.query).get("api-version", [None])[0]
        prof = Profile(name="rec", type="azure", base_url=url, api_version=version)
    elif prov in PRESETS and PRESETS[prov].type == "openai":
        prof = Profile(name=prov, type="openai", base_url=url + prefix)
        if not re.search(r"/v\d+", prefix):
            path = "/v1" + path  # the URL rule adds /v1 to an unversioned base
    else:  # cerebras, Ollama's /v1, Azure AI Foundry Models: the full address, as typed
        prof = Profile(name="rec", type="openai", base_url=url + path + "#")
    req = ChatRequest(model=model, messages=(Message("user", "hello"),), stream=stream)
    return Setup(prof, req, path, keyed)


# ---------------------------------------------------------------------------------------------
# the oracle: what the answer is, read from the recorded body


@dataclass
class Expected:
    text: str = ""
    reasoning: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish: str | None = None  # the provider's own finish reason


def _datas(body: str) -> list[Any]:
    out = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and not data.startswith("[DONE]"):
                out.append(json.loads(data))
    return out


def expected(rec: Recording) -> Expected:
    body = rec["response"]["body"]
    body = body if isinstance(body, str) else json.dumps(body)
    fam = rec["stream_format"] or "json"
    kind = family(rec)
    items = _datas(body) if fam == "sse" else None
    if fam == "ndjson":
        items = [json.loads(line) for line in body.splitlines() if line.strip()]
    if fam in ("json", "json-array"):
        whole = json.loads(body)
        items = whole if isinstance(whole, list) else [whole]
    assert items is not None
    return ORACLES[kind](items)


def _chat(items: list[Any]) -> Expected:
    e = Expected()
    for c in items:
        for ch in c.get("choices") or ():
            d = ch.get("delta") or ch.get("message") or {}
            e.reasoning += d.get("reasoning_content") or d.get("reasoning") or ""
            content = d.get("content")
            if isinstance(content, str):
                e.text += content
            for part in content if isinstance(content, list) else ():
                if part.get("type") == "thinking":
                    e.reasoning += "".join(t["text"] for t in part["thinking"])
                else:
                    e.text += part.get("text", "")
            e.finish = ch.get("finish_reason") or e.finish
        u = c.get("usage") or (c.get("x_groq") or {}).get("usage")
        if u:
            e.input_tokens, e.output_tokens = u["prompt_tokens"], u["completion_tokens"]
    return e


def _responses(items: list[Any]) -> Expected:
    e = Expected()
    final = items[-1].get("response", items[-1])
    for item in final.get("output") or ():
        if item["type"] == "message":
            e.text += "".join(p.get("text", "") for p in item["content"])
        if item["type"] == "reasoning":
            e.reasoning += "\n\n".join(s["text"] for s in item.get("summary") or ())
    u = final.get("usage") or {}
    e.input_tokens, e.output_tokens = u.get("input_tokens"), u.get("output_tokens")
    e.finish = (final.get("incomplete_details") or {}).get("reason") or final.get("status")
    if any(item["type"].endswith("call") for item in final.get("output") or ()):
        e.finish = "tool_calls"
    return e


def _anthropic(items: list[Any]) -> Expected:
    e = Expected()
    for ev in items:
        if ev.get("type") == "message":  # not streamed
            ev = {"type": "x", **ev}
            for b in ev["content"]:
                e.text += b.get("text", "") if b["type"] == "text" else ""
                e.reasoning += b.get("thinking", "") if b["type"] == "thinking" else ""
            e.input_tokens = ev["usage"]["input_tokens"]
            e.output_tokens = ev["usage"]["output_tokens"]
            e.finish = ev["stop_reason"]
        d = ev.get("delta") or {}
        e.text += d.get("text", "") if d.get("type") == "text_delta" else ""
        e.reasoning += d.get("thinking", "") if d.get("type") == "thinking_delta" else ""
        if ev.get("type") == "message_start":
            e.input_tokens = ev["message"]["usage"]["input_tokens"]
        if ev.get("type") == "message_delta":  # cumulative totals: they overwrite
            e.output_tokens = ev["usage"]["output_tokens"]
            e.input_tokens = ev["usage"].get("input_tokens") or e.input_tokens
            e.finish = d.get("stop_reason")
    return e


def _gemini(items: list[Any]) -> Expected:
    e = Expected()
    for c in items:
        for cand in (c.get("candidates") or [])[:1]:
            for p in (cand.get("content") or {}).get("parts") or ():
                if p.get("thought"):
                    e.reasoning += p.get("text", "")
                else:
                    e.text += p.get("text", "")
            e.finish = cand.get("finishReason") or e.finish
        u = c.get("usageMetadata")
        if u:
            e.input_tokens = u.get("promptTokenCount")
            e.output_tokens = u.get("candidatesTokenCount", 0) + u.get("thoughtsTokenCount", 0)
    return e


def _ollama(items: list[Any]) -> Expected:
    e = Expected()
    for o in items:
        e.text += (o.get("message") or {}).get("content") or o.get("response") or ""
        e.reasoning += (o.get("message") or {}).get("thinking") or ""
        if o.get("done"):
            e.input_tokens, e.output_tokens = o.get("prompt_eval_count", 0), o.get("eval_count", 0)
            e.finish = o.get("done_reason")
    return e


ORACLES = {
    "chat": _chat,
    "responses": _responses,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "ollama": _ollama,
}
