"""Imports point down the pipeline only: a module may import its own layer or a lower one.

The order (lowest first) is the one a newcomer reads the pipeline in: the language, the typed
spec, the template sandbox, the checker, spec loading, the plan, the answer model, running,
analysis, the outputs (report, preregistration, fine-tuning), the public API, and the CLI on top.
The test reads every ``silspec`` module's source (top-level imports and those inside functions
alike) with :mod:`ast`, so an upward import fails here before it can knot two stages together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import silspec

PACKAGE_ROOT = Path(silspec.__file__).parent

# (module prefix, layer); the longest matching prefix wins, so ``silspec.spec.model`` (a leaf the
# checker builds) sits far below ``silspec.spec`` (loading and overrides, which run the checker).
LAYERS: dict[str, int] = {
    "silspec.lang": 0,
    "silspec.spec.model": 1,
    # leaves of the spec level that the checker and the plan both read
    "silspec.spec.hashing": 1,
    "silspec.spec.backends": 1,
    "silspec.spec.finetune": 2,  # reads the spec model
    "silspec.templating": 2,
    "silspec.check": 3,
    "silspec.spec": 4,
    "silspec.plan": 5,
    "silspec.answers": 6,
    "silspec.run": 7,
    "silspec.models": 7,
    "silspec.analysis": 8,
    "silspec.report": 9,
    "silspec.prereg": 9,
    "silspec.finetune": 9,
    "silspec.api": 10,
    "silspec.view": 10,  # the local answer browser: reads runs through run/ and report/, like the API
    "silspec.cli": 11,
    # the package itself: its __version__ is a leaf, its lazy re-exports resolve to the API
    "silspec": 0,
}

# Leaf helper modules that import nothing above their declared layer and may be used from below
# their package's layer (each is checked against the layer declared here, not its package's).
LEAVES: dict[str, int] = {}

# Upward imports that exist today in the front half (lang/check/spec/plan internals, the backend
# catalogue, finetune's config), which another change moves; each entry is (importer, imported).
# The lead empties this set after merging that change. The back half (plan/ pilot selection, run's
# runner, analysis, report, prereg, api, cli) must stay out of it.
PENDING: set[tuple[str, str]] = set()


def layer_of(module: str) -> int:
    if module in LEAVES:
        return LEAVES[module]
    best = ""
    for prefix in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    if not best:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return LAYERS[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def silspec_imports(path: Path) -> list[tuple[str, int]]:
    """Every ``silspec.*`` module this file imports, with its line, wherever the import sits."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    own = module_name(path)
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "silspec"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own.split(".") if is_package else own.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "silspec":
                continue
            # `from silspec.plan import model` imports the submodule silspec.plan.model
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if _is_module(sub):
                    found.append((sub, node.lineno))
                elif target == "silspec" and alias.name != "__version__":
                    found.append(("silspec.api", node.lineno))  # the package's lazy re-exports
                else:
                    found.append((target, node.lineno))
    return found


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    base = PACKAGE_ROOT.parent / rel
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _package(module: str) -> str:
    """The top-level package, with spec.model counted apart from the rest of spec."""
    if module == "silspec.spec.model" or module.startswith("silspec.spec.model."):
        return "silspec.spec.model"
    return ".".join(module.split(".")[:2])


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        importer = module_name(path)
        for imported, line in silspec_imports(path):
            if imported == "silspec" or imported.startswith(importer + "."):
                continue
            if (importer, imported) in PENDING:
                continue
            where = path.relative_to(PACKAGE_ROOT.parent)
            if layer_of(imported) > layer_of(importer):
                problems.append(
                    f"{where}:{line}: {importer} (layer {layer_of(importer)}) imports "
                    f"{imported} (layer {layer_of(imported)}), a later stage"
                )
            elif layer_of(imported) == layer_of(importer) and _package(imported) != _package(
                importer
            ):
                problems.append(
                    f"{where}:{line}: {importer} imports {imported}, a sibling package on the "
                    f"same layer ({layer_of(importer)}): move what both need one layer down"
                )
    return problems


def test_imports_point_down_the_pipeline() -> None:
    problems = upward_imports()
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_pending_entries_still_exist() -> None:
    """A PENDING entry that no longer occurs is stale: remove it so the set only shrinks."""
    present = set()
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        present |= {(module_name(path), imported) for imported, _ in silspec_imports(path)}
    assert PENDING <= present, f"stale PENDING entries: {sorted(PENDING - present)}"
