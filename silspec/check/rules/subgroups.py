"""SIL46x: subgroup and joint analyses — the attribute exists, the groups of the benchmark and of
the population meet, and the items are asked (together, for a joint table); and what
`replicates` will vary (SIL469)."""

from __future__ import annotations

import csv

from silspec.check.context import Context
from silspec.spec.model import Population, Spec


def check(spec: Spec, ctx: Context) -> None:
    for sub in spec.analysis.subgroups:
        _check_subgroups(spec, ctx, sub)
    for pair in spec.analysis.joints:
        _check_joint(spec, ctx, pair)
    _check_replicates(spec, ctx)


def _check_replicates(spec: Spec, ctx: Context) -> None:
    """SIL469: replicates whose personas cannot change (countries, a population with its own
    seed, every row of a file): the replicates differ only by answer seeds and option orders."""
    for cond in spec.conditions.values():
        if spec.replicates_of(cond) < 2:
            continue
        population = spec.populations.get(cond.population or "")
        if population is None:
            why = "a country-level condition asks the same countries"
        elif population.seed is not None:
            why = f"population `{population.name}` has its own `seed`: every replicate draws the same personas"
        elif population.sampling == "rows" and population.size is None:
            why = f"population `{population.name}` takes every row: every replicate asks the same people"
        else:
            continue
        span = (ctx.spans.get(("condition", cond.name, "replicates")) or ctx.spans.get(("study", spec.study.name, "replicates"))
                or cond.span)
        ctx.report("SIL469", f"condition `{cond.name}` has {spec.replicates_of(cond)} replicates, but {why}; they differ "
                             "only by the answers' seeds and option orders", span,
                   "that measures answer noise alone; drop the population's `seed` to redraw personas per replicate")


def _populations_asking(spec: Spec, items: tuple[str, ...]) -> list[Population]:
    names = [c.population for c in spec.conditions.values() if c.population and set(items) & set(c.items)]
    return [spec.populations[n] for n in dict.fromkeys(names) if n in spec.populations]


def _check_subgroups(spec: Spec, ctx: Context, sub) -> None:
    asked = {i for c in spec.conditions.values() for i in c.items}
    never = [i.rpartition(".")[2] for i in sub.items if i not in asked]
    if never:
        ctx.report("SIL467", f"`subgroups {sub.attribute}` names items no condition asks: {', '.join(never)}", sub.span,
                   "list items that a condition asks (their groups would have no answers)")
    populations = _populations_asking(spec, sub.items)
    if not populations:
        return  # country-level conditions only, or nothing asked (SIL467 above)
    produced: set[str] = set()
    lacking = []
    for population in populations:
        values = _attribute_values(spec, population, sub.attribute)
        if values is None:
            lacking.append(population.name)
        else:
            produced |= values
    if lacking:
        known = sorted(_attribute_names(spec, populations[0]) or ())
        ctx.report("SIL460", f"`subgroups {sub.attribute}`: population {', '.join(f'`{p}`' for p in lacking)} has no "
                             f"attribute `{sub.attribute}`", sub.span,
                   f"its attributes: {', '.join(known)}" if known else "group by a persona attribute")
        return
    declared = {g.group for groups in sub.benchmarks.values() for g in groups}
    if not declared:
        return
    foreign = sorted(declared - produced)
    if foreign:
        ctx.report("SIL461", f"`subgroups {sub.attribute}`: the benchmark's groups {', '.join(map(repr, foreign))} are never "
                             f"produced by the population ({', '.join(map(repr, sorted(produced)))}); they will have no answers",
                   sub.span, "make the persona attribute's values match the benchmark's group column")
    unbenched = sorted(produced - declared)
    if unbenched:
        ctx.report("SIL462", f"`subgroups {sub.attribute}`: the population's groups {', '.join(map(repr, unbenched))} have "
                             "no benchmark row; they are shown with answers and no metrics", sub.span,
                   "add their rows to the benchmark table, or accept them as unscored")


def _check_joint(spec: Spec, ctx: Context, pair) -> None:
    together = [c.name for c in spec.conditions.values() if pair.a in c.items and pair.b in c.items]
    if not together:
        ctx.report("SIL467", f"`joint {pair.name}`: no condition asks both {pair.a} and {pair.b}", pair.span,
                   "a joint table needs both items answered by the same personas")
    if together and not any(spec.conditions[n].population for n in together):
        ctx.report("SIL467", f"`joint {pair.name}`: the conditions asking both items have no personas "
                             "(country-level): there are no pairs of answers to cross", pair.span,
                   "joint tables need a population")
    if pair.benchmark is None:
        ctx.report("SIL468", f"`joint {pair.name}` has no benchmark cross-tabulation: the report shows the "
                             "simulated association only, with no distance", pair.span,
                   "add `benchmark = table(...)` when a cross-tabulation of the survey is known")


def _attribute_names(spec: Spec, population: Population) -> set[str] | None:
    if population.schema is not None and population.schema in spec.personas:
        return {a.name for a in spec.personas[population.schema].attributes}
    header = _rows_header(population)
    if header is None:
        return None
    return set(population.columns) if population.columns else set(header)


def _attribute_values(spec: Spec, population: Population, attribute: str) -> set[str] | None:
    """The values ``population`` can give ``attribute`` (weight above zero), None when it has none."""
    if population.schema is not None and population.schema in spec.personas:
        attr = next((a for a in spec.personas[population.schema].attributes if a.name == attribute), None)
        if attr is None:
            return None
        if not attr.table:
            return set(attr.values)
        return {value for weights in attr.table.values() for value, w in zip(attr.values, weights) if w > 0}
    if population.rows is None:
        return None
    try:
        with open(population.rows.absolute, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if attribute not in (reader.fieldnames or ()) or (population.columns and attribute not in population.columns):
                return None
            return {row[attribute] for row in reader}
    except (OSError, UnicodeDecodeError):
        return None  # unreadable rows are reported by the population's own rules


def _rows_header(population: Population) -> list[str] | None:
    if population.rows is None:
        return None
    try:
        with open(population.rows.absolute, newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        return None
