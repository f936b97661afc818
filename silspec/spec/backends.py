"""The backend catalogue: which backend names exist and which answer modes each can serve.

Lint needs to know "is `backend = hf` a backend, and can it answer `option_probs`?" without
importing a backend (torch for `hf`) or anything from ``silspec.run``. This module is that
knowledge; ``silspec.run.backends.registry`` builds the backends themselves, declares each
in-process registration here (``declare``), and ``tests/spec/test_backend_catalogue.py`` holds
its built-ins equal to these.
"""

from __future__ import annotations

from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "silspec.backends"  # third-party backends register under this group

# What each built-in can answer, known without importing it.
BUILTIN_ANSWER_MODES: dict[str, frozenset[str]] = {
    "openai": frozenset({"sampled", "option_probs", "verbalised"}),
    "clova": frozenset({"sampled", "verbalised"}),
    "hf": frozenset({"sampled", "option_probs", "verbalised"}),
    "replay": frozenset({"sampled", "option_probs", "verbalised"}),
    "vllm": frozenset({"sampled", "option_probs", "verbalised"}),  # optional extra: silspec[vllm]
}

_declared: dict[str, frozenset[str]] = {}  # registered in-process (tests, notebooks)


def declare(name: str, answer_modes: frozenset[str] | set[str] | tuple[str, ...] = ()) -> None:
    """Make ``name`` a known backend serving ``answer_modes`` (the registry calls this)."""
    _declared[name] = frozenset(answer_modes)


def plugin_names() -> set[str]:
    """Backends installed through entry points, by name (nothing is imported)."""
    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN_ANSWER_MODES}


def known_backends() -> list[str]:
    return sorted({*BUILTIN_ANSWER_MODES, *_declared, *plugin_names()})


def answer_modes(name: str) -> frozenset[str] | None:
    """Answer modes a backend serves, or None when unknown without importing a plugin."""
    if name in BUILTIN_ANSWER_MODES:
        return BUILTIN_ANSWER_MODES[name]
    return _declared.get(name)
