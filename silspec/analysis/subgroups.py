"""Metrics by persona attribute (``subgroups age_group { ... }``): each cell's answers split by
the value of one persona attribute and scored against that group's benchmark.

Every group is a row: the benchmark's groups (table order) and then any group the answers have
that the benchmark lacks. A group without a benchmark row, or without a counted answer, keeps
its n and gets the reason instead of metrics, so a table never silently covers fewer groups
than it names. Intervals are the persona bootstrap of ``item_metrics`` within the group (the
spec's ``bootstrap`` settings, else 1,000 resamples at 95 % with the study seed).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import attrs

from silspec.analysis.distributions import VARIANTS, BenchmarkShares, ScoredAnswer, build_distributions
from silspec.analysis.item_metrics import item_metrics
from silspec.analysis.results import SubgroupRow, Warning
from silspec.plan import PlanError, compile_header
from silspec.spec.model import Bootstrap, GroupBenchmark, Spec, Subgroups

UNKNOWN_GROUP = "(persona not in the plan)"
NO_VALUE = "(no value)"  # a persona without the attribute (a country-level condition's countries)


def group_shares(item_id: str, benchmark: GroupBenchmark, codes: tuple[int, ...]) -> BenchmarkShares:
    """A group's values as shares over the substantive codes; n = the count total (count tables)."""
    total = sum(benchmark.values)
    proportions = tuple(value / total for value in benchmark.values) if total > 0 else tuple(0.0 for _ in codes)
    return BenchmarkShares(item=item_id, name=f"group {benchmark.group}", codes=codes, proportions=proportions,
                           total=total, unit="percent" if benchmark.unit == "percent" else "proportion",
                           n=benchmark.n, missing_share=benchmark.missing or None)


def with_interval_settings(spec: Spec) -> Spec:
    """The spec itself, or with the default bootstrap when it declares none: subgroup rows
    always carry an interval (small groups are where a reader most needs one)."""
    if spec.analysis.bootstrap is not None:
        return spec
    return attrs.evolve(spec, analysis=attrs.evolve(spec.analysis, bootstrap=Bootstrap()))


def subgroup_rows(
    spec: Spec,
    subgroups: Subgroups,
    cell: tuple[str, str, str | None],
    answers: Sequence[ScoredAnswer],
    attributes: Mapping[str, Mapping[str, str]],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
) -> list[SubgroupRow]:
    """The rows of one condition × item (× country) cell for one ``subgroups`` block."""
    condition, item_id, country = cell
    item = spec.item(item_id)
    codes = item.scale.codes
    by_group: dict[str, list[ScoredAnswer]] = defaultdict(list)
    for answer in answers:
        persona = attributes.get(answer.persona)
        group = UNKNOWN_GROUP if persona is None else persona.get(subgroups.attribute, NO_VALUE)
        by_group[group].append(answer)
    benchmarks = {b.group: b for b in subgroups.benchmarks.get(item_id, ())}
    groups = list(benchmarks) + sorted(g for g in by_group if g not in benchmarks)
    scoring_spec = with_interval_settings(spec)
    rows = []
    for group in groups:
        group_answers = by_group.get(group, [])
        personas = len({a.persona for a in group_answers})
        benchmark = benchmarks.get(group)
        shares = group_shares(item_id, benchmark, codes) if benchmark is not None else None
        variants = build_distributions(group_answers, {item_id: codes}).get(cell) if group_answers else None
        for variant in VARIANTS:
            dist = variants[variant] if variants else None
            n = dist.n if dist is not None else 0
            probs = dist.probs if dist is not None else None
            base = dict(attribute=subgroups.attribute, group=group, condition=condition, item=item_id, code=item.code,
                        variant=variant, n=n, personas=personas, codes=codes, probs=probs,
                        benchmark_n=benchmark.n if benchmark else None,
                        benchmark_probs=shares.proportions if shares else None, country=country)
            reason = _reason(group, group_answers, dist, benchmark, subgroups)
            if reason is not None:
                rows.append(SubgroupRow(**base, reason=reason))
                continue
            metrics = item_metrics(scoring_spec, item, dist, shares, metric_specs)
            rows.append(SubgroupRow(**base, values=metrics.values, intervals=metrics.intervals))
    return rows


def _reason(group, answers, dist, benchmark, subgroups: Subgroups) -> str | None:
    if group == UNKNOWN_GROUP:
        return "answers of personas the plan does not have (their attribute is unknown)"
    if group == NO_VALUE:
        return f"personas without a `{subgroups.attribute}` attribute"
    if not answers:
        return "no answers: no persona of this group was asked (the population never produced it)"
    if dist is None or dist.probs is None:
        return f"none of {len(answers)} answer(s) counted (invalid, refused or failed)"
    if benchmark is None:
        return f"no benchmark row for {subgroups.attribute} = {group!r}"
    if sum(benchmark.values) <= 0:
        return f"the benchmark of {subgroups.attribute} = {group!r} sums to zero"
    return None


def all_subgroup_rows(spec: Spec, kept: Mapping[tuple[str, str, str | None], Sequence[ScoredAnswer]],
                      metric_specs: Sequence[tuple[str, dict[str, Any]]], warnings: list[Warning]) -> list[SubgroupRow]:
    """Every ``subgroups`` block's rows over the kept cells. Personas' attributes come from the
    plan the spec compiles to (same spec and seed, same personas); when it cannot be compiled,
    a loud warning (``subgroups_unavailable``) instead of tables."""
    if not spec.analysis.subgroups:
        return []
    try:
        personas = compile_header(spec).personas
    except PlanError as exc:
        warnings.append(Warning(kind="subgroups_unavailable", severity="high",
                                message=f"subgroup metrics not computed: the personas cannot be rebuilt from the spec ({exc})"))
        return []
    attributes: dict[str, Mapping[str, str]] = {}
    rows: list[SubgroupRow] = []
    for block in spec.analysis.subgroups:
        for cell, answers in kept.items():
            if cell[1] not in block.items:
                continue
            for answer in answers:
                if answer.persona not in attributes:
                    persona = personas.get(answer.persona)
                    if persona is not None:
                        attributes[answer.persona] = persona.attributes
            rows.extend(subgroup_rows(spec, block, cell, answers, attributes, metric_specs))
    return rows


def subgroup_items(spec: Spec) -> frozenset[str]:
    """The items some ``subgroups`` block splits: their cells' answers are kept for it."""
    return frozenset(i for s in spec.analysis.subgroups for i in s.items)
