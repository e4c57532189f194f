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
# The versions the instructor's grader ran with when the bundle was built (`gradescope` pins them):
# a rebuild next term grades with the same torch, not whatever is newest then.
"$VENV/bin/python" -m pip install --quiet @TORCH_PINS@ --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
# Grade the references once: an image that cannot grade (a torch that does not import, a kernel
# that refuses the sandbox) fails its build here, where the instructor sees it, instead of giving
# every student 0 later.
echo "setup.sh: grading the reference solutions once, to check this image"
# Only bash and the venv's Python from here on: the report stays beside the venv.
if ! "$VENV/bin/python" -m grader grade solutions --json "$VENV/self-test.json" > "$VENV/self-test.txt" 2>&1 ||
   ! "$VENV/bin/python" -c 'import json, sys; from grader import catalog
sys.exit(abs(json.load(open(sys.argv[1]))["score"] - catalog.TOTAL) > 1e-6)' "$VENV/self-test.json"; then
  while IFS= read -r line; do echo "  $line"; done < "$VENV/self-test.txt" >&2
  echo "setup.sh: this image cannot grade: the reference solutions did not get full marks (the grader's report is above)" >&2
  exit 1
fi
echo "setup.sh: the references get full marks: the image is ready"
