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

"$PY" -m pip install -q -e '.[dev,fix]' 2>&1 | grep -v -e '^WARNING: Running pip as' -e 'pip is available' -e 'notice' || true
"$PY" -m pip check

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
