#!/usr/bin/env bash
# The one test command: installs copytui with its test and FIX extras into the Python on PATH
# (a virtual environment if one is active), makes sure a real Secret Service (gnome-keyring) is
# available, and runs pytest inside a private D-Bus session with an unlocked throwaway keyring.
# Extra arguments go to pytest. It never touches the user's own keyrings, config or data:
# everything the bus, the keyring daemon and the tests write goes to a scratch folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null \
   || ! command -v dbus-daemon >/dev/null; then
  echo "tests/run.sh: installing gnome-keyring and dbus (needs root or sudo)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -q gnome-keyring dbus >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q gnome-keyring dbus >/dev/null; }
fi

# pip, with its chatter about root and mirrors left out, and its exit status kept
quiet_pip() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | grep -v -e '^WARNING: Running pip as' -e 'pip is available' -e 'notice' \
    -e 'is ignored: it is neither' -e '^$' >&2 || true
  return "$rc"
}

quiet_pip "$PY" -m pip install -q -e '.[dev,fix]'
"$PY" -m pip check

# Outside code nobody here wrote runs against our simulators, each from a venv of its own (its
# pins are not copytui's), kept in pip's cache folder between runs and rebuilt when its
# requirements change. outside_venv VAR NAME PYTHON: the venv's python exported as $VAR.
outside_venv() {
  local var="$1" name="$2" python="$3"
  local venv="$HOME/.cache/copytui-tests/$name" want
  want="$(cat "tests/outside/$4/requirements.txt")"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv" && "$python" -m venv "$venv"
    quiet_pip "$venv/bin/pip" install -q -r "tests/outside/$4/requirements.txt"
    printf '%s' "$want" > "$venv/.requirements"
  fi
  export "$var=$venv/bin/python"
}

# project-x-py, ProjectX's maintained SDK (Python >= 3.12)
if [ -z "${COPYTUI_PX_SDK_PYTHON:-}" ]; then
  PY312="$(pyenv prefix 3.12 2>/dev/null)/bin/python3.12"
  [ -x "$PY312" ] || PY312="$(command -v python3.12 || true)"
  if [ -n "$PY312" ] && [ -x "$PY312" ]; then
    outside_venv COPYTUI_PX_SDK_PYTHON px312 "$PY312" projectx
  else
    echo "tests/run.sh: no Python 3.12 found: the project-x-py check will skip (CI fails it)" >&2
  fi
fi
# async-rithmic, a maintained R|Protocol client (it pins websockets<15, which the dev extra's
# pysignalr cannot take)
[ -n "${COPYTUI_RITHMIC_SDK_PYTHON:-}" ] || outside_venv COPYTUI_RITHMIC_SDK_PYTHON rithmic "$PY" rithmic
# tastytrade's DXLinkStreamer, a maintained dxLink client (httpx2, anyio and market calendars come
# with it, none of them copytui's)
[ -n "${COPYTUI_DXFEED_SDK_PYTHON:-}" ] || outside_venv COPYTUI_DXFEED_SDK_PYTHON dxfeed "$PY" dxfeed

# Exported before the bus starts, so the bus daemon and anything it starts on demand (a second
# gnome-keyring among them) inherit them: nothing lands in ~/.local/share/keyrings or ~/.cache.
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/data" "$SCRATCH/config" "$SCRATCH/cache" "$SCRATCH/run"
chmod 700 "$SCRATCH/run"
export XDG_DATA_HOME="$SCRATCH/data" XDG_CONFIG_HOME="$SCRATCH/config" XDG_CACHE_HOME="$SCRATCH/cache" \
  XDG_RUNTIME_DIR="$SCRATCH/run" PY

dbus-run-session --config-file=tests/dbus-session.conf -- bash -c '
  eval "$(printf %s copytui-test | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
  export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
  "$PY" tests/keyring_ready.py || exit 1
  set +e
  "$PY" -m pytest -q -p no:cacheprovider "$@"
  code=$?
  if [ "$code" = 5 ]; then echo "tests/run.sh: pytest collected no tests: failing" >&2; exit 1; fi
  exit "$code"
' bash "$@"
