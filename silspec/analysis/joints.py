"""Joint distributions of item pairs (``joint NAME { items = [A, B] }``): the two-way table of
two items answered by the same persona (same replicate and country), simulated vs a benchmark
cross-tabulation when the spec declares one.

Measures: JS divergence of the flattened joint tables (the spec's ``js`` options, natural log by
default), Cramér's V of each table, and the polychoric correlation of each when both scales are
ordered (``association``). Without a cross-tabulation the benchmark is marginal only: the row
shows the simulated association and says there is no distance. Answers that are probability
vectors (``option_probs``, ``verbalised``) have no joint codes: such a condition gets a row
with the reason and no table.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from silspec.analysis.association import cramers_v, cramers_v_rows, polychoric
from silspec.analysis.bootstrap import js_statistic
from silspec.analysis.distributions import PROBABILITY_MODES, VARIANTS, ScoredAnswer
from silspec.analysis.metrics import compute_metric, js_form, option_base
from silspec.analysis.results import Interval, JointRow
from silspec.spec.model import Bootstrap, JointPair, Spec

MARGINAL_ONLY = "benchmarks are marginal only: simulated association shown, no distance"


def _counted(answer: ScoredAnswer, variant: str, codes: tuple[int, ...]) -> int | None:
    """The code an answer counts as in ``variant``, or None (the rule of ``distributions``)."""
    if answer.dropped or answer.code is None or answer.code not in codes:
        return None
    if variant == "valid_only" and (answer.defaulted or answer.outcome != "answered"):
        return None
    return answer.code


def joint_rows(
    spec: Spec,
    pair: JointPair,
    condition: str,
    answers_a: Sequence[ScoredAnswer],
    answers_b: Sequence[ScoredAnswer],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
) -> list[JointRow]:
    """One row per variant for ``pair`` in ``condition`` (a country-level condition: per country)."""
    item_a, item_b = spec.item(pair.a), spec.item(pair.b)
    codes_a, codes_b = item_a.scale.codes, item_b.scale.codes
    ordinal = item_a.scale.ordered and item_b.scale.ordered
    js_options = next((options for name, options in metric_specs if name == "js"), {})
    bench = None
    if pair.benchmark is not None:
        values = np.asarray(pair.benchmark.values, dtype=float)
        bench = values / values.sum()
    countries = sorted({a.country for a in (*answers_a, *answers_b)}, key=lambda c: (c is not None, c or ""))
    rows = []
    for country in countries:
        side_a = [a for a in answers_a if a.country == country]
        side_b = [a for a in answers_b if a.country == country]
        modes = {a.answers for a in (*side_a, *side_b)}
        for variant in VARIANTS:
            base = dict(name=pair.name, condition=condition, a=pair.a, b=pair.b, variant=variant, codes_a=codes_a,
                        codes_b=codes_b, benchmark=None if bench is None else tuple(map(tuple, bench.tolist())),
                        benchmark_n=pair.benchmark.n if pair.benchmark else None, country=country)
            if modes & PROBABILITY_MODES:
                rows.append(JointRow(**base, counts=(), n=0, unpaired=len(side_a) + len(side_b),
                                     note="answers are probability vectors (option_probs/verbalised): no joint codes"))
                continue
            table, n, unpaired, per_persona = _cross(side_a, side_b, codes_a, codes_b, variant)
            notes = []
            js = None
            if bench is not None and n > 0:
                js = compute_metric("js", (table / n).ravel(), None, bench.ravel(), codes=tuple(range(bench.size)),
                                    options=js_options)["js"]
            elif bench is None:
                notes.append(MARGINAL_ONLY)
            if n == 0:
                notes.append("no answer pairs counted")
            v_sim = cramers_v(table) if n else math.nan
            rho_sim = polychoric(table) if n and ordinal else math.nan
            if n and not math.isfinite(v_sim):
                notes.append("one item has a single answered code: association undefined")
            if not ordinal:
                notes.append("a scale is unordered: no polychoric correlation")
            intervals = _intervals(spec, per_persona, table.shape, bench if js is not None else None, js_options) if n else {}
            rows.append(JointRow(
                **base, counts=tuple(map(tuple, table.tolist())), n=n, unpaired=unpaired, js=js, intervals=intervals,
                cramers_v=_finite(v_sim), cramers_v_benchmark=_finite(cramers_v(bench)) if bench is not None else None,
                polychoric=_finite(rho_sim),
                polychoric_benchmark=_finite(polychoric(bench)) if bench is not None and ordinal else None,
                note="; ".join(notes) or None,
            ))
    return rows


def _cross(side_a, side_b, codes_a, codes_b, variant) -> tuple[np.ndarray, int, int, np.ndarray]:
    """Counts of answer pairs (same persona and replicate), the answers left without a partner,
    and each persona's pairs as a flattened table (rows: personas; the bootstrap's unit)."""
    first = {(a.persona, a.replicate): _counted(a, variant, codes_a) for a in side_a}
    second = {(b.persona, b.replicate): _counted(b, variant, codes_b) for b in side_b}
    index_a = {c: i for i, c in enumerate(codes_a)}
    index_b = {c: i for i, c in enumerate(codes_b)}
    table = np.zeros((len(codes_a), len(codes_b)))
    persona_cells: dict[str, np.ndarray] = {}
    n = 0
    for key, code_a in first.items():
        code_b = second.get(key)
        if code_a is not None and code_b is not None:
            table[index_a[code_a], index_b[code_b]] += 1
            cells = persona_cells.setdefault(key[0], np.zeros(table.size))
            cells[index_a[code_a] * len(codes_b) + index_b[code_b]] += 1
            n += 1
    counted_a = sum(1 for c in first.values() if c is not None)
    counted_b = sum(1 for c in second.values() if c is not None)
    per_persona = np.array(list(persona_cells.values())) if persona_cells else np.zeros((0, table.size))
    return table, n, (counted_a - n) + (counted_b - n), per_persona


def _intervals(spec: Spec, per_persona: np.ndarray, shape: tuple[int, int], bench, js_options) -> dict[str, Interval]:
    """Percentile bootstrap over personas (each persona's pairs stay together) of the joint JS
    (with a benchmark) and the simulated Cramér's V: the spec's bootstrap settings, else 1,000
    resamples at 95 % with the study seed. The polychoric correlation is not bootstrapped (an ML
    fit per resample). Fewer than 2 personas: none."""
    personas = per_persona.shape[0]
    if personas < 2:
        return {}
    settings = spec.analysis.bootstrap or Bootstrap()
    seed = settings.seed if settings.seed is not None else spec.study.seed
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(personas, np.full(personas, 1.0 / personas), size=settings.resamples)
    tables = weights @ per_persona  # (resamples, cells): each resample's joint counts
    pooled = per_persona.sum(axis=0)
    draws: dict[str, tuple[np.ndarray, float]] = {}
    if bench is not None:
        statistic = js_statistic(bench.ravel(), option_base(js_options), js_form(js_options))
        draws["js"] = (statistic(tables / tables.sum(axis=1, keepdims=True)),
                       float(statistic((pooled / pooled.sum())[np.newaxis, :])[0]))
    draws["cramers_v"] = (cramers_v_rows(tables.reshape(-1, *shape)), cramers_v(pooled.reshape(shape)))
    tail = (1.0 - settings.level) / 2.0
    out = {}
    for key, (values, estimate) in draws.items():
        finite = values[np.isfinite(values)]
        if finite.size and math.isfinite(estimate):
            low, high = np.quantile(finite, [tail, 1.0 - tail])
            out[key] = Interval(estimate, float(low), float(high), settings.level, settings.resamples)
    return out


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def all_joint_rows(spec: Spec, kept: Mapping[tuple[str, str, str | None], Sequence[ScoredAnswer]],
                   metric_specs: Sequence[tuple[str, dict[str, Any]]]) -> list[JointRow]:
    """Every ``joint`` pair's rows, per condition that asks both items (and has answers)."""
    rows: list[JointRow] = []
    for pair in spec.analysis.joints:
        for condition in spec.conditions.values():
            if pair.a not in condition.items or pair.b not in condition.items:
                continue
            side_a = [a for (c, i, _), answers in kept.items() if c == condition.name and i == pair.a for a in answers]
            side_b = [a for (c, i, _), answers in kept.items() if c == condition.name and i == pair.b for a in answers]
            if side_a or side_b:
                rows.extend(joint_rows(spec, pair, condition.name, side_a, side_b, metric_specs))
    return rows


def joint_items(spec: Spec) -> frozenset[str]:
    """The items some ``joint`` pair crosses: their cells' answers are kept for it."""
    return frozenset(i for pair in spec.analysis.joints for i in (pair.a, pair.b))
