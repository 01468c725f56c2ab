#!/usr/bin/env bash
# The one test command: installs copytui with its test and FIX extras, makes sure a real
# Secret Service (gnome-keyring) is available, and runs pytest inside a private D-Bus session
# with an unlocked keyring. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null; then
  echo "tests/run.sh: installing gnome-keyring and dbus (needs root or sudo)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -q gnome-keyring dbus >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q gnome-keyring dbus >/dev/null; }
fi

python3 -m pip install -q -e '.[dev,fix]' 2>&1 | grep -v -e '^WARNING: Running pip as' -e 'pip is available' -e 'notice' || true

# The test keyring lives in a throwaway folder, never in the user's own ~/.local/share/keyrings.
KEYRING_HOME="$(mktemp -d)"
trap 'rm -rf "$KEYRING_HOME"' EXIT

dbus-run-session -- env XDG_DATA_HOME="$KEYRING_HOME" bash -c '
  eval "$(echo -n copytui-test | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
  export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
  unset XDG_DATA_HOME
  set +e
  python3 -m pytest -q -p no:cacheprovider "$@"
  code=$?
  if [ "$code" = 5 ]; then echo "tests/run.sh: pytest collected no tests: failing" >&2; exit 1; fi
  exit "$code"
' bash "$@"
