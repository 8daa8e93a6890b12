"""Base-URL rules for OpenAI-compatible profiles (providers.md §7b, Cherry Studio's current
convention), and small URL helpers."""

from __future__ import annotations

import re

KNOWN_OPERATIONS = (
    "chat/completions",
    "responses",
    "messages",
    "models",
    "images/generations",
    "images/edits",
)
_VERSION_SEGMENT = re.compile(r"/v\d+(?:alpha|beta)?(?:/|$)")


def split_base(base_url: str) -> tuple[str, str | None]:
    """Normalise an OpenAI-compatible address into ``(base, exact_operation_url)``.

    One trailing ``/`` is ignored. A trailing ``#`` means "as typed": no version is added, and
    if the address ends in an operation path it is used exactly for that operation.
    Otherwise a path that already has a version segment gets none; everything else gets ``/v1``.
    """
    url = base_url.strip()
    if url.endswith("/"):
        url = url[:-1]
    if url.endswith("#"):
        url = url[:-1].rstrip("/")
        for op in KNOWN_OPERATIONS:
            if url.endswith("/" + op):
                return url[: -len(op) - 1], url
        return url, None
    path = path_of(url)
    if _VERSION_SEGMENT.search(path):
        return url, None
    return url + "/v1", None


def openai_url(base_url: str, operation: str) -> str:
    """The final request URL for ``operation`` (``chat/completions``, ``models``...)."""
    base, exact = split_base(base_url)
    if exact is not None and exact.endswith("/" + operation):
        return exact
    return f"{base}/{operation}"


def path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else ""


def host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].lower()
