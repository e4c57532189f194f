#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
cd /autograder/source
apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
python3 -m venv /opt/kata-venv
/opt/kata-venv/bin/python -m pip install --quiet --upgrade pip
/opt/kata-venv/bin/python -m pip install --quiet torch torchvision --index-url https://download.pytorch.org/whl/cpu
/opt/kata-venv/bin/python -m pip install --quiet -r requirements.txt
