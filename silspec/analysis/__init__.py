"""Stored answers → ``Results``: compliance, distributions, metrics, comparisons.

``analyse(spec, answers)`` is the public entry point; what an answer counts as is decided by
``silspec.answers`` (shared with the runner). The numerical pieces (``metrics``, ``bootstrap``,
``calibration``, ``compare``) import numpy/scipy and are loaded only when used.
"""

from silspec.analysis.pipeline import analyse
from silspec.analysis.results import Results

__all__ = ["Results", "analyse"]
