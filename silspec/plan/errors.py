"""The one error type of the plan compiler.

Planning fails on things the checker cannot see until it renders or samples (a template that
reaches for Python internals, a row filter that matches nobody). The CLI prints ``str(exc)``
and exits 1; it never shows a traceback, so the message must say *where* and *what*.
"""

from __future__ import annotations


class PlanError(Exception):
    """A spec that checked clean but cannot be compiled into a plan."""
