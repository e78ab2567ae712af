#!/usr/bin/env bash
# Creates (or reuses) .venv at the repo root and installs the project with its pinned stack.
# Re-installs only when setup.py changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: no python3.11 found (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "bootstrap: $PY is $("$PY" --version 2>&1); the stack needs Python 3.11 (set PYTHON=...)" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "bootstrap: java not found; Spark 4 needs Java 17" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=".venv/.wce_spark_installed"
want="$(sha256sum setup.py | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the pinned stack into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
fi
