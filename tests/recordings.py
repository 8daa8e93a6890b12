"""The recorded provider exchanges in ``../shared/fixtures/recorded`` (see its README.md).

The folder lives outside the repository, so a fresh clone does not have it: tests that use it
must skip with a clear reason then. Two ways to do that::

    from tests.recordings import recording_params

    @pytest.mark.parametrize("rec", recording_params(lambda r: r["stream_format"] == "sse"))
    def test_x(rec): ...          # one test per recording, or one skipped test with the reason

    def test_y():
        for rec in recordings(require=True):   # pytest.skip(...) when the folder is absent
            ...

``BYOK_FIXTURES`` overrides where the folder is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

RECORDED_DIR = Path(
    os.environ.get("BYOK_FIXTURES")
    or Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "recorded"
)
MISSING_REASON = (
    f"recorded fixtures not found at {RECORDED_DIR} "
    "(set BYOK_FIXTURES to the shared/fixtures/recorded folder)"
)

Recording = dict[str, Any]


@lru_cache(maxsize=1)
def _load_all() -> tuple[Recording, ...]:
    if not RECORDED_DIR.is_dir():
        return ()
    recs = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(RECORDED_DIR.glob("*/*.json"))
    ]
    return tuple(sorted(recs, key=lambda r: r["id"]))


def recordings(
    filter: Callable[[Recording], bool] | None = None, *, require: bool = False
) -> list[Recording]:
    """Every recording (``llm-http-recording/v1`` dicts, sorted by ``id``) that ``filter`` keeps.

    Empty when the folder is absent; with ``require=True`` that calls ``pytest.skip`` instead.
    The dicts are shared between callers: do not change them.
    """
    recs = _load_all()
    if not recs and require:
        pytest.skip(MISSING_REASON)
    return [r for r in recs if filter is None or filter(r)]


def recording_params(filter: Callable[[Recording], bool] | None = None) -> list[Any]:
    """``recordings(filter)`` as ``pytest.param``s with the recording id as test id; when the
    folder is absent, one parameter that is skipped with the reason."""
    recs = recordings(filter)
    if not recs:
        reason = MISSING_REASON if not _load_all() else "no recording matches the filter"
        return [pytest.param(None, id="no-recordings", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(r, id=r["id"]) for r in recs]


def body_bytes(rec: Recording) -> bytes:
    """The response body as the server sends it (the recorded text, UTF-8 encoded)."""
    body = rec["response"]["body"]
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
