"""``replicates = N``: the replicate runs of one plan scored one by one, then aggregated as runs.

Replicate r's answers are those whose persona id is ``rep{r}/...`` (``silspec.plan.replicates``).
Each run is scored as its own survey (the spec's metrics and persona bootstrap), and the N
per-run results go to ``aggregate_runs``, the code behind ``silspec report RUN_DIR RUN_DIR ...``:
per item and metric the mean, SD, across-seed percentile bootstrap and the runs' persona interval.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import attrs

from silspec.analysis.across_runs import aggregate_runs
from silspec.analysis.distributions import VARIANTS, BenchmarkShares, ScoredAnswer, SimDistribution, build_distributions
from silspec.analysis.item_metrics import item_metrics
from silspec.analysis.results import Results, RunsAggregate, StudyHeader
from silspec.plan.replicates import replicate_of, replicate_seed
from silspec.spec.model import Spec

Cell = tuple[str, str, "str | None"]


class ReplicateRuns:
    """Collects each replicated cell's distributions per replicate run while the analysis
    streams its cells (``add``), then scores and aggregates them (``aggregate``)."""

    def __init__(self, conditions: frozenset[str]):
        self.conditions = conditions
        self.distributions: dict[int, dict[Cell, dict[str, SimDistribution]]] = defaultdict(dict)
        self.answers: dict[int, int] = defaultdict(int)

    @classmethod
    def of(cls, spec: Spec) -> "ReplicateRuns | None":
        """A collector for the spec's conditions with ``replicates`` >= 2; None when there are none."""
        conditions = frozenset(c.name for c in spec.conditions.values() if spec.replicates_of(c) >= 2)
        return cls(conditions) if conditions else None

    def add(self, cell: Cell, answers: Sequence[ScoredAnswer], codes_by_item: Mapping[str, Sequence[int]]) -> None:
        if cell[0] not in self.conditions:
            return
        runs: dict[int, list[ScoredAnswer]] = defaultdict(list)
        for answer in answers:
            run = replicate_of(answer.persona)
            if run is not None:
                runs[run].append(answer)
        for run, run_answers in runs.items():
            self.distributions[run].update(build_distributions(run_answers, codes_by_item))
            self.answers[run] += len(run_answers)

    def aggregate(self, spec: Spec, shares_of: Mapping[Cell, BenchmarkShares],
                  metric_specs: Sequence[tuple[str, dict[str, Any]]], header: StudyHeader) -> RunsAggregate | None:
        """Each run scored alone against the cells' benchmarks, aggregated over the runs; None
        under 2 runs (a ``--limit`` or pilot run that reached one replicate only)."""
        if len(self.distributions) < 2:
            return None
        runs = sorted(self.distributions)
        results = []
        for run in runs:
            rows = []
            for cell, variants in self.distributions[run].items():
                shares = shares_of.get(cell)
                if shares is None:
                    continue  # no benchmark: the pooled analysis already warned
                item = spec.item(cell[1])
                rows += [item_metrics(spec, item, variants[variant], shares, metric_specs) for variant in VARIANTS]
            study = attrs.evolve(header, seed=replicate_seed(spec.study.seed, run), n_answers=self.answers[run])
            results.append(Results(study=study, items=tuple(rows)))
        return aggregate_runs(results, names=[f"replicate {run}" for run in runs])
