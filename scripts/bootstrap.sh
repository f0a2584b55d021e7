#!/usr/bin/env bash
# Install what the stack needs into .venv; with --test also the system packages the test suite
# drives (redis-server, Chromium, shellcheck). Safe to run again: it does nothing when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi

# Re-install only when a requirements or pyproject file changed.
fingerprint=$(cat requirements/*.txt ./*/pyproject.toml | sha256sum | cut -c1-16)
stamp=".venv/.installed-$fingerprint"
if [ ! -f "$stamp" ]; then
  echo "Installing Python dependencies into .venv (the first time takes a few minutes)..."
  mkdir -p .run
  log=.run/pip-install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -c requirements/constraints.txt -r requirements/dev.txt; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "pip install failed; the log above is also in $log" >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ "${1:-}" = "--test" ]; then
  missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)  # tests/deploy lint the shell scripts
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "The tests need: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
fi
