#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install a requirements file into it.
# Sourced by the drivers and run_tests.sh: `source tools/ensure_venv.sh requirements.txt`.
# Idempotent: the file's hash is stored in the venv, so an unchanged file installs nothing.
# PHASE4A_VENV overrides the location (default: .venv in the project root).
set -euo pipefail
_project_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_requirements=${1:-requirements.txt}
_venv=${PHASE4A_VENV:-$_project_root/.venv}

if [ ! -x "$_venv/bin/python" ]; then
    _python=$(command -v python3.11 || command -v python3 || true)
    if [ -z "$_python" ]; then
        echo "error: no python3 found; install Python 3.11 and run again" >&2
        exit 1
    fi
    echo "Creating virtual environment in $_venv with $($_python --version)"
    "$_python" -m venv "$_venv"
fi

_stamp="$_venv/.installed-$(basename "$_requirements").sha256"
_wanted=$(cat "$_project_root/requirements.txt" "$_project_root/$_requirements" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_wanted" ]; then
    echo "Installing $_requirements into $_venv (first run takes a few minutes)"
    "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$_project_root/$_requirements"
    echo "$_wanted" > "$_stamp"
fi
export PATH="$_venv/bin:$PATH"
export PHASE4A_PYTHON="$_venv/bin/python"
