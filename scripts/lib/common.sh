# Shared by the scripts in scripts/: paths, logging, small helpers.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${HOWDY_VENV:-$ROOT/.venv}"
FIRMWARE_BUILD="${HOWDY_FIRMWARE_BUILD:-$ROOT/firmware/build/host}"
FIRMWARE_ASAN_BUILD="${HOWDY_FIRMWARE_ASAN_BUILD:-$ROOT/firmware/build/asan}"
# Two cores is the norm on the machines that run this; more just helps.
JOBS="${HOWDY_JOBS:-$(nproc 2>/dev/null || echo 2)}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# pip, quietly: this machine's pip.conf lists local wheel folders that do not
# exist for most packages, and pip warns about each one.
pip_quiet() {
  local status
  set +e
  "$VENV/bin/python" -m pip "$@" 2>&1 | grep -v -e 'is ignored: it is neither a file nor a directory' -e '^$'
  status=${PIPESTATUS[0]}
  set -e
  return "$status"
}

# Configure and build a CMake tree of the firmware's host side.  Configuring
# an existing tree is quick and makes the options given here win over any
# cached from an earlier call.
build_firmware() {
  local build_dir="$1"; shift
  cmake -S "$ROOT/firmware" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$build_dir" -j "$JOBS"
}
