"""AST -> ``Spec``: one module per family of blocks, called in dependency order by ``build``."""

from __future__ import annotations

from silspec.check.build.spec import build

__all__ = ["build"]
