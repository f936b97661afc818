"""Stored answers → ``Results``: parsing, compliance, distributions, metrics, comparisons.

``analyse(spec, answers)`` is the public entry point; the numerical pieces (``metrics``,
``bootstrap``, ``calibration``, ``compare``) import numpy/scipy and are loaded only when used.
"""

from silspec.analysis.parse import ParsedAnswer, parse_answer
from silspec.analysis.pipeline import analyse
from silspec.analysis.results import Results

__all__ = ["ParsedAnswer", "Results", "analyse", "parse_answer"]
