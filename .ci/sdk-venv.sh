#!/usr/bin/env bash
# Creates the virtualenv with the official Dropbox Python SDK (dropbox==12.2.4,
# dependencies pinned in examples/dropbox-emulator/tests/sdk/requirements.txt)
# that examples/dropbox-emulator/tests/official_sdk.rs runs its checks with.
#
#   .ci/sdk-venv.sh [VENV_DIR]     default: <workspace>/target/dropbox-sdk-venv
#
# Idempotent: when VENV_DIR already holds exactly these pins it returns at
# once, without touching the network. Needs python3 with the venv module
# (Debian 12: apt-get install python3 python3-venv) and PyPI.
# PYTHON=/path/to/python3 picks the interpreter the venv is made from.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${1:-target/dropbox-sdk-venv}
python=${PYTHON:-python3}
requirements=examples/dropbox-emulator/tests/sdk/requirements.txt
stamp="$venv/.droprender-requirements"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import dropbox, sys; sys.exit(dropbox.__version__ != "12.2.4")' 2>/dev/null; then
    echo "sdk-venv: $venv is up to date (dropbox 12.2.4)"
    exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
    echo "sdk-venv: $python not found; on Debian: apt-get install -y python3 python3-venv" >&2
    exit 1
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "sdk-venv: $python lacks the venv/ensurepip modules; on Debian: apt-get install -y python3-venv" >&2
    exit 1
fi

# --clear: a half-made or stale venv (other pins, moved interpreter) is rebuilt.
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement "$requirements"
"$venv/bin/python" -c 'import dropbox; assert dropbox.__version__ == "12.2.4", dropbox.__version__'
cp "$requirements" "$stamp"
echo "sdk-venv: $venv ready (dropbox 12.2.4, $("$venv/bin/python" --version))"
