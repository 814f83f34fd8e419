#!/usr/bin/env bash
# Sets up the bot on a fresh Debian/Ubuntu machine: system packages (Chromium; Node.js and Python's venv if
# missing), wa-js from npm, and the Python package in .venv. Run it as the user who will run the bot; it uses
# sudo only for apt when not root. With --test it also installs the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
packages="chromium"
command -v npm >/dev/null 2>&1 || packages="$packages nodejs npm"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages="$packages python3 python3-venv"
# The tests check the shipped units with `systemd-analyze verify` (Debian's systemd package has it).
if [ -n "$extras" ] && ! command -v systemd-analyze >/dev/null 2>&1; then packages="$packages systemd"; fi
if ! command -v chromium >/dev/null 2>&1 || [ "$packages" != "chromium" ]; then
  echo "setup: installing $packages"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: Python 3.11 or newer is needed, found $(python3 --version)" >&2
  exit 1
}

echo "setup: installing wa-js (npm ci)"
npm ci --no-audit --no-fund --loglevel=error

echo "setup: installing the Python package into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras}"

mkdir -p sessions && chmod 700 sessions
echo "setup: done"
