"""The front half's import direction: lang < spec leaves < templating < check < spec < plan.

Reads every module under silspec/{lang,spec,templating,check,plan} (imports inside functions
too) and prints each import of a silspec module at a higher level; exits 1 if there is one.
``--local`` also lists function-local imports of silspec modules. A stand-in until the
project-wide layer test (tests/test_layers.py) lands; run from the repository root.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# Lowest first. Leaf modules of silspec.spec (the model and what the checker needs from the
# spec level) sit below the checker; spec.load / spec.overrides sit above it.
LEVELS = [
    ("lang", ("silspec.lang",)),
    ("spec leaves", ("silspec.spec.model", "silspec.spec.hashing", "silspec.spec.backends", "silspec.spec.finetune")),
    ("templating", ("silspec.templating",)),
    ("check", ("silspec.check",)),
    ("spec", ("silspec.spec",)),
    ("plan", ("silspec.plan",)),
]
FRONT = ("silspec.lang", "silspec.spec", "silspec.templating", "silspec.check", "silspec.plan")


def level(module: str) -> int:
    if module in ("silspec", "silspec.__version__"):
        # `from silspec import __version__` (plan/compile.py): fine while silspec/__init__.py holds
        # only the version; once it re-exports an API, the version belongs in a leaf module.
        return -1
    best = None
    for index, (_, prefixes) in enumerate(LEVELS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return len(LEVELS) if best is None else best[0]  # anything else (run, analysis, ...) is above


def imports(path: Path, module: str):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("silspec"):
                yield node.lineno, name, id(node) in top_level


def main() -> int:
    root = Path("silspec")
    bad, local = [], []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.with_suffix("").parts)
        module = module.removesuffix(".__init__")
        if not module.startswith(FRONT):
            continue
        mine = level(module)
        seen = set()
        for line, target, at_top in imports(path, module):
            target_level = level(target)
            # `from silspec.spec import model` names silspec.spec.model: judge the most precise name
            key = (line, target.rpartition(".")[0] if target.count(".") > 1 else target)
            if target_level > mine and (line, target) not in seen:
                precise = [t for ln, t, _ in imports(path, module) if ln == line and t.startswith(target + ".")]
                if precise and all(level(t) <= mine for t in precise):
                    continue
                bad.append(f"{path}:{line}: {module} ({LEVELS[mine][0]}) imports {target} ({LEVELS[target_level][0] if target_level < len(LEVELS) else 'later stage'})")
                seen.add((line, target))
            if not at_top and (line, "local") not in seen:
                local.append(f"{path}:{line}: {target}")
                seen.add((line, "local"))
    for line in bad:
        print(line)
    if "--local" in sys.argv:
        print(f"\n{len(local)} function-local imports of silspec modules:")
        for line in local:
            print("  " + line)
    print(f"{len(bad)} upward import(s) in the front half")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
