#!/usr/bin/env bash
# Install what the stack needs into .venv; with --test also the system packages the test suite
# drives (redis-server, Chromium, shellcheck). Safe to run again: it does nothing when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python 3.11 or newer, chosen with PYTHON (default python3): say so before pip says anything.
PYTHON_SET="${PYTHON:+yes}"  # named by the user: a .venv of another version is rebuilt
PYTHON="${PYTHON:-python3}"
NEEDED='import sys; sys.exit(sys.version_info < (3, 11))'
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "Python 3.11 or newer is needed, and '$PYTHON' was not found. Choose the interpreter with PYTHON=..., for example: PYTHON=python3.12 make run" >&2
  exit 1
fi
if ! "$PYTHON" -c "$NEEDED" 2>/dev/null; then
  echo "Python 3.11 or newer is needed; '$PYTHON' is $("$PYTHON" -V 2>&1 || echo 'not a working Python'). Choose the interpreter with PYTHON=..., for example: PYTHON=python3.12 make run" >&2
  exit 1
fi

# A .venv made by an interpreter that is too old, that no longer runs, or that differs from the
# one PYTHON names, is rebuilt rather than reused forever.
wanted=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -e .venv ]; then
  have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
  if [ "$have" = none ] || ! .venv/bin/python -c "$NEEDED" 2>/dev/null || { [ -n "$PYTHON_SET" ] && [ "$have" != "$wanted" ]; }; then
    echo "Rebuilding .venv: it runs Python $have, and $PYTHON is $wanted."
    rm -rf .venv
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi

# Re-install only when a requirements or pyproject file changed; a failed install leaves no stamp,
# so the next run installs again.
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
      # Only what is missing: nothing already installed is upgraded, no recommended extras.
      echo "The tests need ${missing[*]}; installing them with apt-get (--no-upgrade --no-install-recommends)."
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade --no-install-recommends \
        "${missing[@]}" >/dev/null
    else
      echo "The tests need: ${missing[*]}. Install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
      exit 1
    fi
  fi
fi
