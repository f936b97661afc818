"""Backend registry: built-ins by name, third parties through the ``silspec.backends`` entry points.

Backends are imported lazily so that an API-only user never imports torch, and a spec can be
linted ("can this backend serve option_probs?") without constructing anything.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from silspec.spec import backends as catalogue

BUILTIN: dict[str, str] = {
    "openai": "silspec.run.backends.openai_chat:OpenAIBackend",
    "clova": "silspec.run.backends.clova:ClovaBackend",
    "hf": "silspec.run.backends.hf:HFBackend",
    "replay": "silspec.run.backends.replay:ReplayBackend",
    "vllm": "silspec.run.backends.vllm_engine:VLLMBackend",  # optional extra: silspec[vllm]
}

# What each built-in can answer: the catalogue's table (lint reads it without importing run/).
BUILTIN_ANSWER_MODES = catalogue.BUILTIN_ANSWER_MODES

_extra: dict[str, Any] = {}


class UnknownBackend(LookupError):
    pass


def register(name: str, factory: Any) -> None:
    """Register a backend class in-process (tests, notebooks)."""
    _extra[name] = factory
    catalogue.declare(name, getattr(factory, "answer_modes", ()))  # lint reads the catalogue


def _plugin_targets() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group="silspec.backends") if ep.name not in BUILTIN}


def known_backends() -> list[str]:
    return sorted({*BUILTIN, *_extra, *_plugin_targets()})


def answer_modes(name: str) -> frozenset[str] | None:
    """Answer modes a backend serves, or None when unknown without importing a plugin."""
    if name in BUILTIN_ANSWER_MODES:
        return BUILTIN_ANSWER_MODES[name]
    if name in _extra:
        return frozenset(getattr(_extra[name], "answer_modes", ()))
    return None


def get_backend(name: str) -> Any:
    """The backend class (factory) for ``name``."""
    if name in _extra:
        return _extra[name]
    if name in BUILTIN:
        module_name, _, attr = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module_name), attr)
    plugins = _plugin_targets()
    if name in plugins:
        return plugins[name].load()
    raise UnknownBackend(f"unknown backend {name!r}; known: {', '.join(known_backends())}")
