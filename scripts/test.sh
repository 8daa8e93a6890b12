#!/usr/bin/env bash
# scripts/test.sh — THE test command (CI runs it through .ci/run).
#
#   bash scripts/test.sh                   everything: lint, format, types, the whole pytest suite
#   bash scripts/test.sh -m "not browser"  extra arguments go to pytest only
#
# Made for a fresh Debian 12 machine as root (that is CI: a fresh clone, CI=true, no stdin), and
# cheap to re-run: apt and pip are skipped when everything is already in place.
#   1. apt: gnome-keyring dbus libsecret-tools chromium fonts (only missing) ca-certificates
#   2. .venv (created if absent) with pip install -e ".[test]"
#   3. ruff check . | ruff format --check . | mypy byok_magic | pytest (inside a real Secret Service,
#      scripts/keyring-session.sh). All four run even if one fails; the exit status says if any did.
#
# Knobs: BYOK_SKIP_APT=1 (never call apt-get), BYOK_PIP_FORCE=1 (re-run pip even if up to date),
#        BOOTSTRAP_PYTHON (the python that creates .venv; default python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

VENV=$ROOT/.venv
PY=$VENV/bin/python
BOOTSTRAP_PYTHON=${BOOTSTRAP_PYTHON:-python3}
APT_PACKAGES=(gnome-keyring dbus libsecret-tools chromium fonts-dejavu-core fonts-noto-color-emoji ca-certificates)

export PIP_DISABLE_PIP_VERSION_CHECK=1
# Playwright drives Debian's chromium: `playwright install` cannot download a browser here.
export BYOK_CHROMIUM=${BYOK_CHROMIUM:-/usr/bin/chromium}
# Screenshots and logs from the tests (git-ignored).
export BYOK_TEST_ARTIFACTS=$ROOT/test-artifacts
mkdir -p "$BYOK_TEST_ARTIFACTS"

now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
SUMMARY=()   # "name|status|seconds" per phase
FAILED=0
T_ALL=$(now)

record() {  # record NAME STATUS T0
  SUMMARY+=("$1|$2|$(secs "$3")")
  printf -- '-- %s: %s (%s s)\n' "$1" "$2" "$(secs "$3")"
  case "$2" in ok|skipped*) ;; *) FAILED=1 ;; esac
}

summary() {
  say "summary"
  local row name status t
  for row in "${SUMMARY[@]}"; do
    IFS='|' read -r name status t <<<"$row"
    printf '  %-22s %-34s %7s s\n' "$name" "$status" "$t"
  done
  printf '  %-22s %-34s %7s s\n' total "$([ "$FAILED" = 0 ] && echo ok || echo FAILED)" "$(secs "$T_ALL")"
}

setup_failed() {  # a setup phase failed: nothing after it can run
  record "$1" FAILED "$2"
  summary
  exit 1
}

# ---------------------------------------------------------------------------------------------
# 1. system packages
# ---------------------------------------------------------------------------------------------
missing_packages() {
  # `dpkg-query -W` alone exits 0 for a package that was known once and removed ("unknown ok
  # not-installed"), so compare the full status.
  local p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || echo "$p"
  done
}

apt_install() {  # apt_install PKG... : update + install, non-interactive, waiting for the dpkg lock
  export DEBIAN_FRONTEND=noninteractive
  local i
  for i in 1 2 3; do  # a mirror hiccup should not fail a 90-minute CI run
    apt-get -o DPkg::Lock::Timeout=600 update -qq && break
    [ "$i" = 3 ] && return 1
    sleep 5
  done
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
}

say "1. system packages: ${APT_PACKAGES[*]}"
T=$(now)
if [ "${BYOK_SKIP_APT:-0}" = 1 ]; then
  record apt "skipped (BYOK_SKIP_APT=1)" "$T"
else
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "no apt/dpkg here: install ${APT_PACKAGES[*]} yourself and re-run with BYOK_SKIP_APT=1" >&2
    setup_failed apt "$T"
  fi
  mapfile -t MISSING < <(missing_packages "${APT_PACKAGES[@]}")
  if [ "${#MISSING[@]}" -eq 0 ]; then
    echo "all present"
  elif [ "$(id -u)" != 0 ]; then
    echo "missing ${MISSING[*]} and not root: apt-get install them as root (or BYOK_SKIP_APT=1)" >&2
    setup_failed apt "$T"
  else
    echo "installing: ${MISSING[*]}"
    # apt's dpkg output is long; keep it in a log and show its tail only when it fails.
    apt_install "${MISSING[@]}" >"$BYOK_TEST_ARTIFACTS/apt.log" 2>&1 \
      || { tail -n 40 "$BYOK_TEST_ARTIFACTS/apt.log"; setup_failed apt "$T"; }
  fi
  # (Debian's chromium wrapper may print a harmless "[: ... unexpected operator" on stderr.)
  "$BYOK_CHROMIUM" --version 2>/dev/null || { echo "$BYOK_CHROMIUM does not run" >&2; setup_failed apt "$T"; }
  record apt ok "$T"
fi

# ---------------------------------------------------------------------------------------------
# 2. virtualenv + the project with its test extras
# ---------------------------------------------------------------------------------------------
say "2. .venv + pip install -e \".[test]\""
T=$(now)
if [ -d "$VENV" ] && ! "$PY" -c 'import sys' 2>/dev/null; then
  echo "$VENV exists but its python does not run (moved or upgraded interpreter): recreating it"
  rm -rf "$VENV"
fi
if [ ! -d "$VENV" ]; then
  # Debian's own python3 needs python3-venv for ensurepip; install it only when venv fails.
  if ! "$BOOTSTRAP_PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    if [ "${BYOK_SKIP_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt_install python3-venv >"$BYOK_TEST_ARTIFACTS/apt.log" 2>&1 || setup_failed venv "$T"
    fi
    "$BOOTSTRAP_PYTHON" -m venv "$VENV" || setup_failed venv "$T"
  fi
fi
"$PY" --version
# pip is skipped when pyproject.toml and the interpreter are what the last successful install saw
# and byok_magic imports from THIS checkout (the editable install follows source edits anyway).
STAMP=$VENV/.byok-test-install
want="$("$PY" -c 'import sys; print(sys.version)' | head -1) $(sha256sum pyproject.toml | cut -d' ' -f1)"
have=$(cat "$STAMP" 2>/dev/null || true)
# -I: without it `python -c` imports byok_magic from the cwd even when it is not installed.
where=$("$PY" -I -c 'import byok_magic, os; print(os.path.dirname(os.path.dirname(byok_magic.__file__)))' 2>/dev/null || true)
if [ "${BYOK_PIP_FORCE:-0}" != 1 ] && [ "$want" = "$have" ] && [ "$where" = "$ROOT" ]; then
  echo "up to date (pyproject.toml unchanged since the last install; BYOK_PIP_FORCE=1 to re-run pip)"
else
  rm -f "$STAMP"
  # (grep: a pip.conf may name extra local indexes that do not exist; pip warns once per package)
  "$PY" -m pip install -q --progress-bar off -e ".[test]" \
    2> >(grep -v "^WARNING: Location '.*' is ignored" >&2) || setup_failed pip "$T"
  echo "$want" >"$STAMP"
fi
record "venv + pip" ok "$T"

# ---------------------------------------------------------------------------------------------
# 3. the checks: each one runs whatever the others did
# ---------------------------------------------------------------------------------------------
check() {  # check NAME CMD... : run, time and record it; never stops the script
  local name=$1 t0 rc=0
  shift
  say "$name"
  t0=$(now)
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then record "$name" ok "$t0"; else record "$name" "FAILED (exit $rc)" "$t0"; fi
}

check "ruff check" "$VENV/bin/ruff" check .
check "ruff format --check" "$VENV/bin/ruff" format --check .
check "mypy byok_magic" "$PY" -m mypy byok_magic

say "pytest $*"
T=$(now)
PYTEST_LOG=$BYOK_TEST_ARTIFACTS/pytest.log
rc=0
# Inside a private D-Bus session with an unlocked throwaway keyring, so tests marked `keyring`
# meet a real Secret Service (BYOK_TEST_SECRET_SERVICE=1). -ra lists every skip with its reason.
PYTHON=$PY bash "$ROOT/scripts/keyring-session.sh" run -- "$PY" -m pytest -ra "$@" 2>&1 \
  | tee "$PYTEST_LOG" || rc=$?
case $rc in
  0) record pytest ok "$T" ;;
  5) record pytest "FAILED (exit 5: no tests collected)" "$T" ;;
  *) record pytest "FAILED (exit $rc)" "$T" ;;
esac

summary
# Repeat pytest's own closing line last, so it is the final word of the log.
closing=$(grep -E '(passed|failed|errors?|skipped|deselected|no tests ran)( |,).*in [0-9.]+s' "$PYTEST_LOG" | tail -n 1 || true)
[ -n "$closing" ] && printf '\n%s\n' "$closing"
exit "$FAILED"
