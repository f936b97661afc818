"""SIL9xx: the analysis block — what it names exists, and metrics suit the scales they measure."""

from __future__ import annotations

from silspec.check import schema
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import Spec


MIN_RESAMPLES = 200  # below this, percentile interval ends move visibly from seed to seed


def _compare_same_items(ctx: Context, baseline, challenger, st: ast.Compare) -> None:
    """SIL908: an average over different items (or countries) is not a comparison of conditions."""
    left_out = set(st.without)
    a = [i for i in baseline.items if i.rpartition(".")[2] not in left_out]
    b = [i for i in challenger.items if i.rpartition(".")[2] not in left_out]
    only = [f"{i.rpartition('.')[2]} only in `{baseline.name}`" for i in a if i not in b]
    only += [f"{i.rpartition('.')[2]} only in `{challenger.name}`" for i in b if i not in a]
    countries = set(baseline.countries) ^ set(challenger.countries)
    if not only and not countries:
        return
    what = "; ".join(only[:5]) + (f" (+{len(only) - 5} more)" if len(only) > 5 else "")
    if countries:
        what += ("; " if what else "") + f"countries differ: {', '.join(sorted(countries)[:5])}"
    ctx.report("SIL908", f"`compare {st.challenger} vs {st.baseline}` averages over different cells ({what})",
                st.span, "compare conditions that ask the same items and countries, or leave the extra items "
                         "out with `without ITEM`")


def _compare_by_country(ctx: Context, baseline, challenger, st: ast.Compare) -> None:
    """SIL909: conditions over several countries compared per item would pair one country's
    answers with another's (the last country of each item wins); they compare `by country`."""
    countries = sorted(set(baseline.countries) | set(challenger.countries))
    if len(countries) <= 1 or st.by == "country":
        return
    shown = ", ".join(countries[:5]) + (f" (+{len(countries) - 5} more)" if len(countries) > 5 else "")
    ctx.report("SIL909", f"`compare {st.challenger} vs {st.baseline}` covers {len(countries)} countries ({shown}) "
                        f"but does not compare them `by country`", st.span,
              f"write `compare {st.challenger} vs {st.baseline} on {', '.join(st.metrics) or 'js'} by country`: "
              "each country is then compared with itself")


def check(spec: Spec, ctx: Context) -> None:
    analysis = spec.analysis
    declared = {m.name for m in analysis.metrics}
    block = next((e for e in ctx.document.entries if isinstance(e, ast.Block) and e.kind == "analysis"), None)
    statements = [e for e in block.entries if isinstance(e, (ast.Compare, ast.Calibrate))] if block else []
    conditions = spec.conditions
    condition_names = {b.name for b in ctx.document.entries if isinstance(b, ast.Block) and b.kind == "condition"}
    item_codes = {i.code for i in spec.all_items()}
    for st in statements:
        spans = st.name_spans
        if isinstance(st, ast.Compare):
            for name in (st.challenger, st.baseline):
                if name not in condition_names:
                    ctx.undefined("condition", name, spans.get(name, st.span), condition_names)
            if st.challenger == st.baseline:
                ctx.report("SIL902", f"`compare {st.challenger} vs {st.baseline}` compares a condition with itself", st.span)
            for m in st.metrics:
                if m not in schema.METRICS:
                    ctx.report("SIL904", f"unknown metric `{m}`", spans.get(m, st.span),
                              did_you_mean(m, schema.METRICS) or f"metrics: {', '.join(schema.METRICS)}")
                elif m not in declared:
                    ctx.report("SIL903", f"`compare` uses metric `{m}`, which the analysis does not declare", spans.get(m, st.span),
                              f"add `metric {m} {{}}` to the analysis block")
            for code in st.without:
                if code not in item_codes:
                    ctx.undefined("item", code, spans.get(code, st.span), item_codes)
            if st.by is not None and st.by not in ("country", "item"):
                ctx.report("SIL202", f"`by {st.by}`: comparisons group by `country` or `item`", spans.get(st.by, st.span))
        else:
            if st.condition not in condition_names:
                ctx.undefined("condition", st.condition, spans.get(st.condition, st.span), condition_names)
            if st.calibration not in spec.calibrations:
                ctx.undefined("calibration", st.calibration, spans.get(st.calibration, st.span), spec.calibrations)
    for st in statements:
        if isinstance(st, ast.Compare) and st.challenger in conditions and st.baseline in conditions:
            _compare_same_items(ctx, conditions[st.baseline], conditions[st.challenger], st)
            _compare_by_country(ctx, conditions[st.baseline], conditions[st.challenger], st)
    if analysis.bootstrap is not None and analysis.bootstrap.resamples < MIN_RESAMPLES:
        ctx.report("SIL907", f"bootstrap with {analysis.bootstrap.resamples} resamples: the interval ends are "
                              f"too noisy to report", ctx.span("analysis", "bootstrap", "resamples"),
                    f"use at least {MIN_RESAMPLES} (1,000 or more for 95 % intervals)")
    if analysis.bootstrap is not None:
        for m in analysis.bootstrap.metrics:
            if m not in declared:
                ctx.report("SIL903", f"bootstrap names metric `{m}`, which the analysis does not declare",
                          ctx.span("analysis", "bootstrap", "metrics"))
    ordinal = declared & schema.ORDINAL_METRICS
    if ordinal:
        used = {i for c in conditions.values() for i in c.items}
        for item_id in sorted(used):
            item = spec.item(item_id)
            if not item.scale.ordered:
                ctx.report("SIL901", f"metric(s) {', '.join(sorted(ordinal))} need an ordered scale, but `{item.code}` uses unordered `{item.scale.name}`",
                          ctx.span("analysis", "metric", sorted(ordinal)[0]),
                          "drop them or restrict them to ordered items; JS and chi2 suit unordered scales")
                break
    for curve in analysis.curves:
        _curve(ctx, spec, curve, declared, condition_names)
    for ablation in spec.ablations.values():
        if ablation.metric not in declared:
            ctx.report("SIL903", f"ablation `{ablation.name}` uses metric `{ablation.metric}`, which the analysis "
                                 "does not declare", ctx.span("ablation", ablation.name, "metric")
                       or ctx.span("ablation", ablation.name), f"add `metric {ablation.metric} {{}}` to the analysis block")
    if conditions and block is None:
        ctx.report("SIL906", "no `analysis` block: runs will be recorded but nothing is scored", None,
                 "add `analysis { metric js { log = e } }`")


def _curve(ctx: Context, spec: Spec, curve, declared: set[str], condition_names: set[str]) -> None:
    """A curve subsamples a condition's personas: it needs a condition with a population, a
    declared metric, and sizes the population can give."""
    span = ctx.span("analysis", "curve", curve.condition)
    if curve.condition not in condition_names:
        ctx.undefined("condition", curve.condition, span, condition_names)
        return
    if curve.metric not in schema.METRICS:
        ctx.report("SIL904", f"unknown metric `{curve.metric}`", ctx.span("analysis", "curve", curve.condition, "metric"),
                   did_you_mean(curve.metric, schema.METRICS) or f"metrics: {', '.join(schema.METRICS)}")
        return
    if curve.metric not in declared:
        ctx.report("SIL903", f"curve {curve.condition} uses metric `{curve.metric}`, which the analysis does not declare",
                   ctx.span("analysis", "curve", curve.condition, "metric") or span,
                   f"add `metric {curve.metric} {{}}` to the analysis block")
    condition = spec.conditions.get(curve.condition)
    if condition is None:
        return
    population = spec.populations.get(condition.population or "")
    if population is None:
        ctx.report("SIL440", f"curve {curve.condition}: the condition has no population, only one answer per country, "
                             "so there are no personas to subsample", span,
                   "draw the curve over a condition with `population = ...`")
        return
    if population.size is not None:
        above = [size for size in curve.sizes if size > population.size]
        if above:
            ctx.report("SIL443", f"curve {curve.condition}: sizes {', '.join(map(str, above))} exceed the population's "
                                 f"{population.size} personas per country and will be left out (the report says so)",
                       ctx.span("analysis", "curve", curve.condition, "sizes") or span,
                       f"keep the sizes at most {population.size}")
