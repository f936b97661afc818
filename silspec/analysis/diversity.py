"""Country diversity (Cao et al. 2025, §6.2 and Figure 3): how different the countries' answer
distributions to the same question are, for the model and for the survey.

The paper defines diversity as "the divergence across countries of response distributions given
the same question" and plots 1−JSD for it, with its 1−JSD being 1 − the Jensen–Shannon *distance*
(natural log, `scipy.spatial.distance.jensenshannon`). The paper does not say which pairs it
averages; silspec takes every unordered pair of distinct countries of the question and reports
the mean of 1 − JS distance: 1 = every country answers alike (no diversity), lower = more
diverse. The survey's value uses the benchmarks of the same countries as the model's, so the two
numbers always describe the same set of countries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import combinations

from silspec.analysis.metrics import js_distance
from silspec.analysis.results import DiversityRow


def mean_pairwise_similarity(distributions: Sequence[Sequence[float]]) -> float:
    """Mean of 1 − JS distance (natural log) over all unordered pairs; needs two or more."""
    if len(distributions) < 2:
        raise ValueError(f"diversity needs at least two countries' distributions, got {len(distributions)}")
    pairs = list(combinations(distributions, 2))
    return sum(1.0 - js_distance(p, q) for p, q in pairs) / len(pairs)


def country_diversity(rows: Sequence, *, min_countries: int = 2) -> tuple[DiversityRow, ...]:
    """One row per condition × item × variant with at least ``min_countries`` countries scored.

    ``rows`` are ``ItemMetrics``: country-level rows with simulated shares (``probs``) and the
    benchmark's (``benchmark_probs``); rows without a country or without shares are left out.
    """
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for row in rows:
        if row.country is None or row.probs is None:
            continue
        groups[(row.condition, row.item, row.variant)].append(row)
    out = []
    for (condition, item, variant), members in groups.items():
        if len(members) < min_countries:
            continue
        out.append(DiversityRow(
            condition, item, variant, len(members),
            model=mean_pairwise_similarity([m.probs for m in members]),
            survey=mean_pairwise_similarity([m.benchmark_probs for m in members]),
        ))
    return tuple(out)


def diversity_means(rows: Sequence[DiversityRow]) -> Mapping[tuple[str, str], tuple[float, float, int]]:
    """Per condition × variant: (mean model value, mean survey value, items) over its items."""
    acc: dict[tuple[str, str], list[DiversityRow]] = defaultdict(list)
    for row in rows:
        acc[(row.condition, row.variant)].append(row)
    return {
        key: (sum(r.model for r in group) / len(group), sum(r.survey for r in group) / len(group), len(group))
        for key, group in acc.items()
    }
