#!/usr/bin/env bash
# Build QuickFIX's example acceptors `executor` and `ordermatch` (C++) into DIR, and copy its Python
# `executor.py` there, for trying the FIX adapter against real counterparties (README, FIX).
# Debian/Ubuntu: the PyPI sdist has no examples; the Debian source package of quickfix does, and
# libquickfix-dev has the library to link against.
# About a minute on two cores. Usage: adapters/fix/build_quickfix_examples.sh DIR
set -euo pipefail
dest=$(realpath -m "${1:?usage: $0 DIR}")
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

if ! dpkg -s libquickfix-dev >/dev/null 2>&1 || ! command -v g++ >/dev/null; then
  $SUDO apt-get install -y -q libquickfix-dev g++ dpkg-dev >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get source --download-only -q quickfix >/dev/null 2>&1; then
  echo "apt-get source quickfix failed: enable deb-src lines for your release (Debian: add 'deb-src'" >&2
  echo "to Types: in /etc/apt/sources.list.d/debian.sources), run apt-get update, and retry." >&2
  exit 1
fi
tar xzf quickfix_*.orig.tar.gz
src=$(find . -maxdepth 1 -type d -name 'quickfix-*' | head -1)/examples
mkdir -p "$dest" inc
: > inc/config.h  # the examples include the autotools config.h; nothing in it is needed here
flags=(-O1 -std=c++11 -Iinc -I/usr/include/quickfix)
g++ "${flags[@]}" -I"$src/executor/C++" "$src"/executor/C++/*.cpp -o "$dest/executor" -lquickfix -lpthread
g++ "${flags[@]}" -I"$src/ordermatch" "$src/ordermatch/Application.cpp" "$src/ordermatch/Market.cpp" \
  "$src/ordermatch/ordermatch.cpp" -o "$dest/ordermatch" -lquickfix -lpthread
# the Python executor, as shipped: it answers AN / AF / H with 380=5 where the C++ one sends 380=3.
# The tests run it with their own interpreter (which has the quickfix module).
cp "$src/executor/python/executor.py" "$dest/executor.py"
echo "built $dest/executor and $dest/ordermatch, copied $dest/executor.py; now: export COPYTUI_QUICKFIX_EXAMPLES=$dest"
