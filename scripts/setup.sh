#!/usr/bin/env bash
# Creates (or verifies and reuses) the virtual environment torch-kata runs in.
#   KATA_VENV   where it lives (default ~/.venvs/torch-kata); one per machine, shared by clones.
# Torch is large (about 5.5 GB for the CUDA build), so an existing environment is reused
# when scripts/check_env.py accepts it and it satisfies requirements.txt; otherwise it is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${KATA_VENV:-$HOME/.venvs/torch-kata}"
PYTHON="${PYTHON:-python3}"

case "$(uname -m)" in
  x86_64) TORCH=(torch==2.14.1 torchvision==0.29.1) ;;
  aarch64|arm64) TORCH=(torch==2.9.1 torchvision==0.24.1) ;;
  *) TORCH=(torch torchvision) ;;
esac

healthy() {  # scripts/check_env.py says why not, on stderr
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" scripts/check_env.py
}

if healthy; then
  echo "setup: reusing $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
else
  echo "setup: creating $VENV (installs torch: a few minutes)"
  if [ -x "$VENV/bin/python" ]; then echo "setup: the existing one cannot be used (above: why)"; fi
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "${TORCH[@]}"
fi
# Install only what requirements.txt asks for and the environment lacks.
missing=$("$VENV/bin/python" - <<'PY'
from importlib.metadata import PackageNotFoundError, version
from pip._vendor.packaging.requirements import Requirement
for line in open("requirements.txt"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    req = Requirement(line)
    try:
        ok = version(req.name) in req.specifier or req.specifier.contains(version(req.name), prereleases=True)
    except PackageNotFoundError:
        ok = False
    if not ok:
        print(line)
PY
)
if [ -n "$missing" ]; then
  echo "setup: installing $(echo "$missing" | tr '\n' ' ')"
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
fi
healthy || { echo "setup: $VENV is still broken after installing" >&2; exit 1; }
if [ -d solutions ]; then
  echo "setup: ok. Run the tests with: $VENV/bin/python -m pytest --impl solutions -n auto"
else  # a student release: the learner tests run against exercises/
  echo "setup: ok. Run the tests of one exercise with: $VENV/bin/python -m pytest -m cross_entropy"
fi
