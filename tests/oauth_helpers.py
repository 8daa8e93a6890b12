"""Obviously fake OAuth credentials and a loopback token endpoint for the OAuth/Vertex tests."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.loopback import LoopbackServer, Reply, Seen

TOKEN_PATH = "/token"
MODEL = "gemini-test"
STREAM_PATH = (
    f"/v1/projects/demo-project/locations/us-central1/publishers/google/models/{MODEL}"
    ":streamGenerateContent"
)


def fake(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def adc(
    token_uri: str | None,
    *,
    access: str | None = None,
    expires_in: float | None = None,
    project: str | None = "demo-project",
    refresh: str | None = None,
) -> dict[str, Any]:
    """A gcloud ``authorized_user`` credential (plus an access token when given)."""
    data: dict[str, Any] = {
        "account": "",
        "client_id": "123-test.apps.googleusercontent.com",
        "client_secret": fake("GOCSPX-test-"),
        "refresh_token": refresh or fake("1//test-refresh-"),
        "type": "authorized_user",
        "universe_domain": "googleapis.com",
    }
    if project:
        data["quota_project_id"] = project
    if token_uri:
        data["token_uri"] = token_uri
    if access:
        data["access_token"] = access
        data["expiry"] = iso(time.time() + (expires_in if expires_in is not None else 3600))
    return data


def secrets_of(data: dict[str, Any]) -> list[str]:
    return [data[k] for k in ("client_secret", "refresh_token", "access_token") if data.get(k)]


@dataclass
class TokenEndpoint:
    """Answers refresh-token grants with new fake tokens (optionally rotating the refresh
    token, refusing, or answering slowly); remembers every token it handed out."""

    server: LoopbackServer
    rotate: bool = False
    refuse: bool = False
    delay: float = 0.0
    issued: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.route("POST", TOKEN_PATH, self._answer)

    @property
    def uri(self) -> str:
        return self.server.url + TOKEN_PATH

    @property
    def calls(self) -> list[Seen]:
        return self.server.seen(TOKEN_PATH)

    def _answer(self, seen: Seen) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        if self.refuse:
            return Reply.json(
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
                status=400,
            )
        token = fake("ya29.test-new-")
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "token_type": "Bearer",
        }
        with self._lock:
            self.issued.append(token)
            if self.rotate:
                new = fake("1//test-refresh-rotated-")
                self.rotated.append(new)
                body["refresh_token"] = new
        return Reply.json(body)

    def all_secrets(self) -> list[str]:
        return self.issued + self.rotated


def gemini_stream(*pieces: str) -> Reply:
    """A Vertex/Gemini SSE stream: text pieces, then a STOP chunk with usage."""
    chunks: list[Any] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}]}
        for p in pieces
    ]
    chunks.append(
        {
            "candidates": [
                {"content": {"role": "model", "parts": []}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": len(pieces)},
        }
    )
    return Reply.sse(chunks, done=False)


def form_of(seen: Seen) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2)


# The three tool logins, in their documented shapes (providers.md §8), with fake tokens.
def qwen_login(resource_url: str = "portal.qwen.ai") -> dict[str, Any]:
    return {
        "access_token": fake("test-qwen-access-"),
        "refresh_token": fake("test-qwen-refresh-"),
        "token_type": "Bearer",
        "resource_url": resource_url,
        "expiry_date": int((time.time() + 3600) * 1000),
    }


def gemini_cli_login() -> dict[str, Any]:
    return {
        "access_token": fake("ya29.test-gcli-"),
        "refresh_token": fake("1//test-gcli-refresh-"),
        "scope": "https://www.googleapis.com/auth/cloud-platform "
        "https://www.googleapis.com/auth/userinfo.email openid",
        "token_type": "Bearer",
        "id_token": fake("test-id-"),
        "expiry_date": int((time.time() - 600) * 1000),
    }


def claude_login() -> dict[str, Any]:
    return {
        "claudeAiOauth": {
            "accessToken": fake("sk-ant-oat01-test-"),
            "refreshToken": fake("sk-ant-ort01-test-"),
            "expiresAt": int((time.time() + 7200) * 1000),
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }


def tool_secrets(data: dict[str, Any]) -> list[str]:
    inner = data.get("claudeAiOauth") or data
    keys = ("access_token", "refresh_token", "id_token", "accessToken", "refreshToken")
    return [inner[k] for k in keys if inner.get(k)]
