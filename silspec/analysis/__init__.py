"""Stored answers → ``Results``: compliance, distributions, metrics, comparisons.

``analyse(spec, answers)`` (``pipeline``, the driver) is the public entry point; what an answer
counts as is decided by ``silspec.answers`` (shared with the runner). One module per step:
``scoring`` (verdicts), ``benchmarks``, ``item_metrics`` (metrics and bootstrap intervals),
``replicates``, ``compare``, ``calibration``, ``report_warnings``, ``across_runs`` (several
seeds), ``subgroups`` (metrics by persona attribute), ``joints`` (two-way tables of item pairs);
the numbers themselves live in ``metrics``, ``bootstrap`` and ``association`` (Cramér's V,
polychoric) (scipy only when a metric needs it).
"""

from silspec.analysis.across_runs import aggregate_runs
from silspec.analysis.pipeline import UnknownBenchmarkError, analyse
from silspec.analysis.results import Results

__all__ = ["Results", "UnknownBenchmarkError", "aggregate_runs", "analyse"]
