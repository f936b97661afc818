"""The benchmark each cell is scored against (override, condition, analysis default, item default),
as explicit shares, and its summary for the report.
"""

from __future__ import annotations

import attrs

from silspec.analysis.cells import cell_label
from silspec.analysis.distributions import BenchmarkShares, benchmark_shares
from silspec.analysis.results import BenchmarkInfo, Warning
from silspec.spec.model import Condition, Item, Spec


def benchmark_for(
    spec: Spec,
    condition: Condition,
    item: Item,
    country: str | None,
    override: str | None,
    warnings: list[Warning],
) -> BenchmarkShares | None:
    """Override, then the condition's, then the analysis default, then the item's default."""
    wanted = override or condition.benchmark or spec.analysis.benchmark
    chosen = item.benchmark(wanted, country)
    if chosen is None and wanted is not None:
        chosen = item.benchmark(None, country)
        if chosen is not None:
            warnings.append(
                Warning(
                    kind="benchmark_missing",
                    severity="medium",
                    message=f"{item.code} has no benchmark {wanted!r}; used {chosen.name!r} instead",
                    condition=condition.name,
                    item=item.id,
                )
            )
    if chosen is None:
        known = sorted({b.name for b in item.benchmarks})
        warnings.append(
            Warning(
                kind="benchmark_missing",
                severity="high",
                message=f"{cell_label(item.code, country)}: no benchmark"
                f"{' ' + repr(wanted) if wanted else ''} (item has {known or 'none'}); not scored",
                condition=condition.name,
                item=item.id,
            )
        )
        return None
    if chosen.n is None:
        survey_n = spec.surveys[item.survey].n if item.survey in spec.surveys else None
        if survey_n is not None:
            chosen = attrs.evolve(chosen, n=survey_n)
    labels = tuple(
        (item.benchmark_labels or {}).get(c.code, c.label) for c in item.scale.substantive
    )
    return benchmark_shares(item.id, chosen, item.scale.codes, labels=labels)


def benchmark_info(shares: BenchmarkShares) -> BenchmarkInfo:
    return BenchmarkInfo(
        item=shares.item,
        name=shares.name,
        codes=shares.codes,
        values=tuple(round(p * shares.total, 10) for p in shares.proportions),
        unit=shares.unit,
        total=shares.total,
        proportions=shares.proportions,
        renormalised=shares.renormalised,
        n=shares.n,
        missing_share=shares.missing_share,
        country=shares.country,
        labels=shares.labels,
    )
