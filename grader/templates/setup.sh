#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
# The grader needs Python >= 3.11 (tomllib). Ubuntu 22.04's python3 is 3.10: there python3.11
# comes from apt's python3.11 packages; Ubuntu 24.04's python3 (3.12) is used as it is.
# AUTOGRADER_ROOT and KATA_VENV exist for testing.
set -euo pipefail
cd "${AUTOGRADER_ROOT:-/autograder}/source"
VENV="${KATA_VENV:-/opt/kata-venv}"

new_enough() {  # is $1 a Python >= 3.11?
  command -v "$1" >/dev/null && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
PY=python3
if ! new_enough python3; then
  echo "setup.sh: python3 is $(python3 --version 2>&1); installing python3.11"
  apt-get install -y -qq python3.11 python3.11-venv >/dev/null || true
  PY=python3.11
fi
if ! new_enough "$PY"; then
  echo "setup.sh: torch-kata's grader needs Python >= 3.11 and none could be installed;" \
       "choose an Ubuntu 22.04 or 24.04 base image in the assignment's autograder settings" >&2
  exit 1
fi
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet torch torchvision --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
