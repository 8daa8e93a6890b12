"""The real Secret Service from scripts/keyring-session.sh is what `keyring` resolves to.

Runs only where that script provides one (BYOK_TEST_SECRET_SERVICE=1). Outside CI it skips with
the reason; in CI it must run, so a CI job that lost the Secret Service fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.keyring

# Run in a fresh interpreter: other tests may swap the process-wide backend (keyring.set_keyring
# with an in-memory store), and a user's kernel resolves the backend from scratch like this.
PROBE = r"""
import json, sys, keyring
kr = keyring.get_keyring()
service, user, secret = sys.argv[1], "openai", sys.argv[2]
keyring.set_password(service, user, secret)
try:
    got = keyring.get_password(service, user)
finally:
    keyring.delete_password(service, user)
print(json.dumps({
    "backend": f"{type(kr).__module__}.{type(kr).__name__}",
    "round_trip": got == secret,
    "after_delete": keyring.get_password(service, user),
}))
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _require_secret_service() -> None:
    if os.environ.get("BYOK_TEST_SECRET_SERVICE") == "1":
        return
    how = "run the suite via `bash scripts/test.sh` or `bash scripts/keyring-session.sh run -- ...`"
    if _in_ci():
        pytest.fail(f"CI is set but no real Secret Service (BYOK_TEST_SECRET_SERVICE unset): {how}")
    pytest.skip(f"no real Secret Service (BYOK_TEST_SECRET_SERVICE unset): {how}")


def test_keyring_resolves_to_secret_service_and_round_trips() -> None:
    _require_secret_service()
    service = f"byok_magic-test-{uuid.uuid4().hex}"
    secret = f"sk-test-{uuid.uuid4().hex}-ünï"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, service, secret],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The probe's stderr never holds the secret (it is only ever passed to keyring calls).
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["backend"] == "keyring.backends.SecretService.Keyring"
    assert result["round_trip"] is True
    assert result["after_delete"] is None
