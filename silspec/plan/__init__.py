"""The plan compiler: a checked Spec becomes a deterministic, serialisable execution plan.

Re-exports are lazy (PEP 562): ``silspec.plan.model`` and ``hashing`` are imported by the
runner and the checker, and must not drag numpy and Jinja's sandbox in with them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str | tuple[str, str]] = {
    "compile_plan": "silspec.plan.compile",
    "compile_header": "silspec.plan.compile",
    "iter_requests": "silspec.plan.compile",
    "plan_model": "silspec.plan.compile",
    "PlanError": "silspec.plan.errors",
    "Message": "silspec.plan.model",
    "Persona": "silspec.plan.model",
    "Plan": "silspec.plan.model",
    "PlanCondition": "silspec.plan.model",
    "PlanHeader": "silspec.plan.model",
    "PlanItem": "silspec.plan.model",
    "PlanModel": "silspec.plan.model",
    "Request": "silspec.plan.model",
    "PersonaIds": "silspec.plan.persona_table",
    "PersonaTable": "silspec.plan.persona_table",
    "condition_personas": "silspec.plan.persona_table",
    "iter_personas": "silspec.plan.persona_table",
    "converter": "silspec.plan.serialize",
    "iter_plan_json": "silspec.plan.serialize",
    "plan_to_json": "silspec.plan.serialize",
    "read_plan_json": "silspec.plan.serialize",
    "write_header_json": "silspec.plan.serialize",
    "write_plan_json": "silspec.plan.serialize",
    "spec_hash": "silspec.plan.spec_hash",
    # The compiler's persona sampler and renderer, public for lint's render pass
    # (silspec.plan.render_check); compile.py still names them with a leading underscore.
    "PersonaSampler": ("silspec.plan.compile", "_PersonaSampler"),
    "Renderer": ("silspec.plan.compile", "_Renderer"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'silspec.plan' has no attribute {name!r}")
    module, attribute = target if isinstance(target, tuple) else (target, name)
    return getattr(importlib.import_module(module), attribute)
