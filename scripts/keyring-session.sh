#!/usr/bin/env bash
# keyring-session.sh — run a command next to a REAL, headless Secret Service (gnome-keyring on a
# private D-Bus session bus), so keyring tests talk to the same kind of store a Linux desktop has.
# Adapted from shared/recipes/keyring-ci.sh; the pitfalls P1–P9 are in shared/docs/security.md §1.2.
#
# Usage
#   bash scripts/keyring-session.sh                  install if needed + self-test only
#   bash scripts/keyring-session.sh run -- CMD ...   install if needed, self-test, then run CMD
#                                                    with BYOK_TEST_SECRET_SERVICE=1 and
#                                                    KEYRING_CI_DATA exported. Exit status = CMD's.
#                                                    Bus + daemon + throwaway store die with it.
# Knobs
#   PYTHON                      the project's Python (must import keyring); default .venv/bin/python
#                               of this checkout if present, else python3. No separate venv.
#   KEYRING_SESSION_SKIP_APT=1  never call apt-get (fail if a tool is missing)
#
# What a test process needs to reach the keyring is only DBUS_SESSION_BUS_ADDRESS (inherited
# here). A child whose environment drops it (env -i, tox without passenv) silently gets
# keyring.backends.fail.Keyring -> NoKeyringError (P1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2fs", b-a}'; }
log() { printf '[keyring-session] %s\n' "$*" >&2; }

install_deps() {
  local t0 missing=() cmd
  t0=$(now)
  for cmd in gnome-keyring-daemon dbus-run-session dbus-send secret-tool; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "${KEYRING_SESSION_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    log "missing: ${missing[*]}; install gnome-keyring dbus libsecret-tools (as root on Debian: apt-get install)"
    return 1
  fi
  log "missing ${missing[*]}: installing gnome-keyring dbus libsecret-tools with apt"
  export DEBIAN_FRONTEND=noninteractive
  # Lock timeout: wait for a concurrent apt/dpkg instead of failing on the lock.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  # --no-install-recommends: ~17 packages, no GUI. gnome-keyring pulls in gcr's prompter, which
  # cannot open a display headless: any prompt is "dismissed" (that is why we unlock up front, P2).
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    gnome-keyring dbus libsecret-tools ca-certificates >/dev/null
  log "apt: gnome-keyring $(dpkg-query -W -f='${Version}' gnome-keyring) installed in $(since "$t0")"
}

check_python() {
  # The self-test (and the tests) need `keyring` in the project's Python. Never add keyrings.alt
  # there: it turns a missing Secret Service into a silent plaintext file store.
  if ! "$PYTHON" -c 'import keyring' 2>/dev/null; then
    log "$PYTHON cannot import keyring: install the project first (pip install -e .), or set PYTHON"
    return 1
  fi
}

# Start gnome-keyring-daemon (secrets component only) on the CURRENT session bus and create +
# unlock a throwaway "login" keyring under $KEYRING_CI_DATA. Runs inside dbus-run-session.
# Debian 12 builds gnome-keyring WITHOUT file capabilities, so this works unprivileged. Ubuntu's
# binary has cap_ipc_lock=ep and fails in unprivileged containers with "Operation not permitted"
# (P8): there, run with --cap-add=IPC_LOCK or `setcap -r /usr/bin/gnome-keyring-daemon`.
unlock_keyring() {
  local t0 pass i
  t0=$(now)
  : "${DBUS_SESSION_BUS_ADDRESS:?must run inside a D-Bus session}"
  # Random, non-empty password (P4: empty creates no keyring) on a store nobody used before
  # (P3: a wrong password on an existing login.keyring "unlocks" with exit 0, then every call
  # raises KeyringLocked). printf, not echo: no trailing newline in the password (P6).
  pass=$(head -c 18 /dev/urandom | base64)
  if ! printf '%s' "$pass" | XDG_DATA_HOME="$KEYRING_CI_DATA" \
       gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
    log "gnome-keyring-daemon --unlock failed (on Ubuntu-built binaries see P8: cap_ipc_lock)"
    return 1
  fi
  unset pass
  # RACE (P5): --unlock returns ~50 ms BEFORE the daemon owns org.freedesktop.secrets. A client
  # calling in that window D-Bus-activates a SECOND, locked daemon. Wait for the name (max 10 s).
  for i in $(seq 1 200); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
         org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
         | grep -q 'boolean true'; then
      break
    fi
    [ "$i" = 200 ] && { log "org.freedesktop.secrets never appeared on the bus"; return 1; }
    sleep 0.05
  done
  # Remember the daemon's PID (asked from the bus, P7: never look processes up by name).
  GK_PID=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
           org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets \
           | awk '/uint32/{print $2}')
  log "gnome-keyring-daemon (pid $GK_PID) up, login keyring unlocked in $(since "$t0")"
}

# Prove the store works before trusting it (P2: a locked daemon still looks "viable"). Uses the
# project's Python, so it also proves the project's keyring resolves to the Secret Service.
selftest() {
  local t0
  t0=$(now)
  "$PYTHON" - <<'PY'
import glob, os, subprocess, sys, time
import keyring, keyring.core, keyring.errors
from keyring.backends import SecretService
kr = keyring.get_keyring()
name = f"{type(kr).__module__}.{type(kr).__name__}"
assert isinstance(kr, SecretService.Keyring), f"backend is {name}, not SecretService"
assert keyring.core.recommended(kr), f"{name} is not a recommended backend"
svc, user = f"byok_magic-selftest-{os.urandom(6).hex()}", "openai"
secret = "sk-test-" + os.urandom(12).hex() + "-ünï"
t = time.perf_counter(); keyring.set_password(svc, user, secret); t_set = time.perf_counter() - t
t = time.perf_counter(); got = keyring.get_password(svc, user); t_get = time.perf_counter() - t
assert got == secret, "round trip mismatch"
# Another process (libsecret's CLI) sees it: the Secret Service has no per-app isolation.
out = subprocess.run(["secret-tool", "lookup", "service", svc, "username", user],
                     capture_output=True, text=True, check=True).stdout
assert out == secret, "secret-tool did not return the same secret"
# Encrypted at rest: the secret's bytes are in no file of the throwaway store.
for f in glob.glob(os.path.join(os.environ["KEYRING_CI_DATA"], "keyrings", "*")):
    with open(f, "rb") as fh:
        assert secret.encode() not in fh.read(), f"plaintext secret in {f}"
keyring.delete_password(svc, user)
assert keyring.get_password(svc, user) is None
try:
    keyring.delete_password(svc, user)
    raise SystemExit("a second delete should raise PasswordDeleteError")
except keyring.errors.PasswordDeleteError:
    pass
# P1: a child WITHOUT the bus address must get the fail backend, not some silent fallback
# (keyrings.alt in the project's environment would show up here as a plaintext store).
env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
r = subprocess.run([sys.executable, "-c",
                    "import keyring; k = keyring.get_keyring(); print(type(k).__module__)"],
                   env=env, capture_output=True, text=True, check=True).stdout.strip()
assert r == "keyring.backends.fail", f"without a bus keyring resolved to {r}, expected the fail backend"
print(f"[keyring-session] {name} ok: set {t_set*1e3:.0f} ms, get {t_get*1e3:.0f} ms, "
      "cross-process read, encrypted at rest, delete, no-bus child -> fail backend", file=sys.stderr)
PY
  log "self-test passed in $(since "$t0")"
}

# Runs inside dbus-run-session (this script re-invoked as `__inside`): a private bus whose
# address is exported as DBUS_SESSION_BUS_ADDRESS; it is torn down when we return.
inside() {
  GK_PID=
  # Kill the daemon by its PID when done; it would also exit when the bus goes away.
  trap '[ -n "$GK_PID" ] && kill "$GK_PID" 2>/dev/null || true' EXIT
  unlock_keyring
  selftest
  [ "$#" -eq 0 ] && return 0
  export BYOK_TEST_SECRET_SERVICE=1
  log "running: $*"
  local rc=0
  "$@" || rc=$?
  return "$rc"
}

cmd=${1:-selftest}
[ "$#" -gt 0 ] && shift
case "$cmd" in
  __inside)
    [ "${1:-}" = "--" ] && shift
    inside "$@" ;;
  selftest|run)
    [ "${1:-}" = "--" ] && shift
    if [ "$cmd" = run ] && [ "$#" -eq 0 ]; then echo "usage: $0 run -- CMD ..." >&2; exit 2; fi
    install_deps
    check_python
    T0=$(now)
    # Throwaway store, removed afterwards whatever CMD does (P3).
    KEYRING_CI_DATA=$(mktemp -d "${TMPDIR:-/tmp}/byok-keyring.XXXXXX")
    export KEYRING_CI_DATA
    rc=0
    # dbus-daemon in containers prints "Failed to set fd limit to 65536" (harmless, P7): filter it.
    dbus-run-session -- "$BASH" "${BASH_SOURCE[0]}" __inside -- "$@" \
      2> >(grep -v --line-buffered 'Failed to set fd limit' >&2) || rc=$?
    rm -rf "$KEYRING_CI_DATA"
    log "session ended (exit $rc) after $(since "$T0")"
    exit "$rc" ;;
  *)
    echo "usage: $0 [selftest | run -- CMD ...]" >&2
    exit 2 ;;
esac
