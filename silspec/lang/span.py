"""Where something was written, and how bad a finding is: the two leaf types every stage shares.

They live in ``lang`` (the bottom of the pipeline) so that the parser, the checker and the spec
model can all name them without importing upward; ``silspec.spec.model`` re-exports ``Span``.
"""

from __future__ import annotations

from typing import Literal

from attrs import frozen

Severity = Literal["error", "warning", "info"]


@frozen(order=True)
class Span:
    """Where something was written: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0
