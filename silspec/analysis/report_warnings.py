"""The warnings a reader must not miss, computed from the finished tables: defaults, invalid
answers, low valid mass, few answers, renormalised benchmarks, point masses, provider drift.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from silspec.analysis.cells import cell_label
from silspec.analysis.compliance import Compliance
from silspec.analysis.distributions import BenchmarkShares
from silspec.analysis.results import ItemMetrics, Warning
from silspec.analysis.scoring import Seen
from silspec.analysis.usage import Usage
from silspec.spec.model import Spec

DEFAULT_RATE_WARNING = 0.10
LOW_VALID_MASS = 0.5  # option_probs: below this, most of the probability went to other tokens
DEGENERATE_SHARE = 0.95
# Sampled/verbalised answers: above this share of invalid answers and refusals the model mostly
# did not answer the question. `report { invalid_warning = 0.3 }` overrides it where the
# checker accepts the key.
INVALID_WARNING = 0.20
FEW_VALID_ANSWERS = 30  # below this many valid answers a metric's bootstrap CI is wide
SEVERITY_ORDER = {"high": 0, "medium": 1, "info": 2}


def _default_warnings(spec: Spec, compliance: Sequence[Compliance]) -> list[Warning]:
    """Loud: a default rate above 10 % means the metric partly measures the parser's policy."""
    warnings = []
    for row in compliance:
        if row.n == 0 or row.default_share <= DEFAULT_RATE_WARNING:
            continue
        item = spec.item(row.item)
        cause = (
            "failed requests (errors, no text)"
            if row.defaulted_from_error == row.defaulted
            else f"{row.defaulted_from_error} failed requests and {row.defaulted - row.defaulted_from_error} unparseable answers"
        )
        code = f"code {row.default_code} (midpoint)" if row.default_code is not None else "a default"
        warnings.append(
            Warning(
                kind="defaults",
                severity="high",
                message=f"{row.condition} {item.code}: {row.default_share:.0%} of answers "
                f"({row.defaulted}/{row.n}) are {code} filled in for {cause}; "
                "'with defaults' metrics include them, 'valid only' do not",
                condition=row.condition,
                item=row.item,
            )
        )
    return warnings


def _invalid_threshold(spec: Spec) -> float:
    """``report { invalid_warning = x }`` when given (a share in (0, 1)), else ``INVALID_WARNING``."""
    value = (spec.analysis.report or {}).get("invalid_warning")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    return INVALID_WARNING


def _invalid_warnings(spec: Spec, compliance: Sequence[Compliance], rows: Sequence[ItemMetrics]) -> list[Warning]:
    """Loud: a model that often did not answer (unparseable text or a refusal) in a cell.

    Whatever the parser's policy made of those answers (a midpoint, a drop), the metric no
    longer describes what the model said; the warning gives the count and the metric's n.
    """
    threshold = _invalid_threshold(spec)
    metric_n = {(r.condition, r.item, r.country): r.n for r in rows if r.variant == "with_defaults"}
    warnings = []
    for row in compliance:
        if row.n == 0 or spec.conditions.get(row.condition) is None:
            continue
        if spec.conditions[row.condition].answers == "option_probs":
            continue
        failed = row.invalid + row.refused
        share = failed / row.n
        if share <= threshold:
            continue
        item = spec.item(row.item)
        parser = spec.parsers.get(spec.conditions[row.condition].parser)
        policy = parser.on_invalid if parser else "none"
        n = metric_n.get((row.condition, row.item, row.country))
        warnings.append(
            Warning(
                kind="invalid_answers",
                severity="high",
                message=f"{row.condition} {cell_label(item.code, row.country)}: {share:.0%} of answers "
                f"({failed}/{row.n}: {row.invalid} invalid, {row.refused} refused) are not an answer "
                f"(> {threshold:.0%}; on_invalid={policy}); the metrics rest on n = "
                f"{'–' if n is None else n}",
                condition=row.condition,
                item=row.item,
            )
        )
    return warnings


def _few_answers_warnings(rows: Sequence[ItemMetrics]) -> list[Warning]:
    """One warning per condition naming the items whose metrics rest on < 30 valid answers."""
    few: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.variant != "valid_only" or not row.probs or row.n >= FEW_VALID_ANSWERS:
            continue
        few[row.condition].append(f"{cell_label(row.code, row.country)} (n = {row.n})")
    return [
        Warning(
            kind="few_answers",
            severity="high",
            message=f"{condition}: metrics of {', '.join(items)} rest on fewer than "
            f"{FEW_VALID_ANSWERS} valid answers; their confidence intervals are wide and "
            "small differences between conditions mean little",
            condition=condition,
        )
        for condition, items in few.items()
    ]


def _valid_mass_warnings(spec: Spec, compliance: Sequence[Compliance]) -> list[Warning]:
    """option_probs: a distribution renormalised from less than half the mass is mostly guesswork."""
    warnings = []
    for row in compliance:
        if row.mean_valid_mass is None or row.mean_valid_mass >= LOW_VALID_MASS:
            continue
        item = spec.item(row.item)
        warnings.append(
            Warning(
                kind="low_valid_mass",
                severity="high",
                message=f"{row.condition} {cell_label(item.code, row.country)}: "
                f"mean probability on the valid answer tokens is {row.mean_valid_mass:.2f} (< {LOW_VALID_MASS}); "
                "the option distribution is renormalised from a minority of the model's mass",
                condition=row.condition,
                item=row.item,
            )
        )
    return warnings


def _benchmark_warnings(benchmarks: Iterable[BenchmarkShares]) -> list[Warning]:
    warnings = []
    for b in benchmarks:
        if not b.renormalised:
            continue
        where = f"{cell_label(b.item.rpartition('.')[2], b.country)} benchmark {b.name!r}"
        if b.total_percent > 100.0:
            warnings.append(
                Warning(
                    kind="benchmark_renormalised",
                    severity="high",
                    message=f"{where} sums to {b.total_percent:.1f} % (> 100): renormalised to 100 % "
                    "over the substantive codes; check the source numbers",
                    item=b.item,
                )
            )
        else:
            missing = (
                f"declared non-substantive share {b.missing_share:g}{' %' if b.unit == 'percent' else ''}"
                if b.missing_share is not None
                else f"{b.dropped_percent:.1f} % not on substantive codes"
            )
            warnings.append(
                Warning(
                    kind="benchmark_renormalised",
                    severity="info",
                    message=f"{where} sums to {b.total_percent:.1f} % ({missing}): dropped, "
                    "the substantive codes renormalised to 100 %",
                    item=b.item,
                )
            )
    return warnings


def _degenerate_warnings(rows: Sequence[ItemMetrics]) -> list[Warning]:
    warnings = []
    for row in rows:
        if row.variant != "with_defaults" or not row.probs:
            continue
        top = max(row.probs)
        if top >= DEGENERATE_SHARE:
            code = row.codes[row.probs.index(top)]
            warnings.append(
                Warning(
                    kind="degenerate",
                    severity="high",
                    message=f"{row.condition} {cell_label(row.code, row.country)}: "
                    f"{top:.0%} of the simulated mass on code {code} (n = {row.n}): the simulation "
                    "has almost no spread, so its metrics measure a point mass",
                    condition=row.condition,
                    item=row.item,
                )
            )
    return warnings


def _provider_warnings(seen: Seen) -> list[Warning]:
    """Loud: the provider answered with more than one model (or fingerprint) within a condition."""
    models, prints = seen.provider_models, seen.fingerprints
    warnings = []
    for condition, seen in models.items():
        if len(seen) > 1:
            warnings.append(
                Warning(
                    kind="provider_model_changed",
                    severity="high",
                    message=f"{condition}: the provider reported {len(seen)} different models "
                    f"within the run: {', '.join(sorted(seen))}",
                    condition=condition,
                )
            )
    for condition, seen in prints.items():
        if len(seen) > 1:
            warnings.append(
                Warning(
                    kind="system_fingerprint_changed",
                    severity="info",
                    message=f"{condition}: {len(seen)} different system fingerprints within the run",
                    condition=condition,
                )
            )
    return warnings


# One warning per cell is right for six items; for a country-level design (65 countries × 30
# items) the same finding 600 times buries everything else. Past this many of one kind in one
# condition, they become one warning that counts them and names the worst few.
MAX_REPEATED_WARNINGS = 6


def collapse_repeats(warnings: list[Warning]) -> list[Warning]:
    groups: dict[tuple[str, str | None], list[Warning]] = {}
    for w in warnings:
        groups.setdefault((w.kind, w.condition), []).append(w)
    out: list[Warning] = []
    emitted: set[tuple[str, str | None]] = set()
    for w in warnings:
        key = (w.kind, w.condition)
        group = groups[key]
        if len(group) <= MAX_REPEATED_WARNINGS:
            out.append(w)
            continue
        if key in emitted:
            continue
        emitted.add(key)
        examples = "; ".join(g.message for g in group[:3])
        out.append(Warning(
            kind=w.kind, severity=w.severity, condition=w.condition,
            message=(f"{w.condition or 'all conditions'}: {len(group)} cells raise `{w.kind}` "
                     f"(the compliance and per-item tables show each), e.g. {examples}"),
        ))
    return out


def reader_warnings(
    spec: Spec,
    compliance: Sequence[Compliance],
    item_rows: Sequence[ItemMetrics],
    benchmarks: Iterable[BenchmarkShares],
    seen: Seen,
) -> list[Warning]:
    """The findings computed from the finished tables, in the report's order."""
    return (
        _default_warnings(spec, compliance)
        + _invalid_warnings(spec, compliance, item_rows)
        + _valid_mass_warnings(spec, compliance)
        + _few_answers_warnings(item_rows)
        + _benchmark_warnings(benchmarks)
        + _degenerate_warnings(item_rows)
        + _provider_warnings(seen)
    )


def loud_first(warnings: list[Warning]) -> list[Warning]:
    """Repeats collapsed, then loud ones first (a stable sort keeps each severity's own order)."""
    warnings = collapse_repeats(warnings)
    warnings.sort(key=lambda w: SEVERITY_ORDER.get(w.severity, len(SEVERITY_ORDER)))
    return warnings


def usage_warnings(usage: Iterable[Usage]) -> list[Warning]:
    """A cost that is unknown or a lower bound is said where the cost is shown, never a silent 0."""
    warnings = []
    for row in usage:
        if row.price_source == "unknown":
            warnings.append(Warning(
                kind="price_unknown", severity="medium", condition=row.condition,
                message=f"{row.condition}: cost unknown: {row.price_detail}; set `price_input_per_mtok` and "
                "`price_output_per_mtok` in the model block (docs/report.md, tokens and cost)",
            ))
        elif row.cost_is_lower_bound:
            warnings.append(Warning(
                kind="tokens_missing", severity="medium", condition=row.condition,
                message=f"{row.condition}: {row.without_tokens} of {row.answers} answers have no token counts "
                "from the provider: their cost is not in the total, which is a lower bound",
            ))
    return warnings
