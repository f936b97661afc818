"""SIL413, SIL303: the design's cells against the data behind them.

A condition asks every item in every country it lists; the analysis scores a cell only if the
item has a benchmark for that country (under the benchmark name the analysis would pick). A
gap such as "EGY was never asked Q69" is otherwise found only after the run, as unscored rows.
With declared country names (``study { countries = ... }``), a country code outside them is
most likely a typo ("EGYP").
"""

from __future__ import annotations

from silspec.check.context import Context
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import Condition, Item, Spec

SHOWN = 5  # missing cells listed by name; the rest are counted


def check(spec: Spec, ctx: Context) -> None:
    cache: dict = {}
    for cond in spec.conditions.values():
        _unknown_countries(spec, cond, ctx)
        _missing_cells(spec, cond, ctx, cache)


def chosen_benchmark_name(spec: Spec, cond: Condition) -> str | None:
    """The benchmark name the analysis asks for first (the condition's, else the analysis')."""
    return cond.benchmark or spec.analysis.benchmark


def has_benchmark(item: Item, wanted: str | None, country: str | None,
                  names_by_country: dict[str | None, set[str]] | None = None) -> bool:
    """Mirrors the analysis (``Item.benchmark``): the wanted name, else the item's default (or
    any benchmark when it has none), for exactly that country. ``names_by_country`` is an
    optional precomputed index of the item's benchmarks, for 65 countries x 259 items."""
    if names_by_country is None:
        names_by_country = benchmark_index(item)
    names = names_by_country.get(country)
    if not names:
        return False
    if wanted is not None and wanted in names:
        return True
    default = item.default_benchmark
    return default is None or default in names


def benchmark_index(item: Item) -> dict[str | None, set[str]]:
    index: dict[str | None, set[str]] = {}
    for b in item.benchmarks:
        index.setdefault(b.country, set()).add(b.name)
    return index


def missing_cells(spec: Spec, cond: Condition, cache: dict | None = None) -> list[tuple[str | None, str]]:
    """(country, item code) cells of ``cond`` that the analysis could not score.

    Items without any benchmark are left out: SIL412 already reports them once per item."""
    cache = {} if cache is None else cache
    wanted = chosen_benchmark_name(spec, cond)
    items = [spec.item(i) for i in cond.items]
    indexes = []
    for item in items:
        if item.id not in cache:
            cache[item.id] = benchmark_index(item)
        indexes.append(cache[item.id])
    out = []
    for country in cond.countries or (None,):
        for item, index in zip(items, indexes):
            if item.benchmarks and not has_benchmark(item, wanted, country, index):
                out.append((country, item.code))
    return out


def _missing_cells(spec: Spec, cond: Condition, ctx: Context, cache: dict) -> None:
    cells = missing_cells(spec, cond, cache)
    if not cells:
        return
    wanted = chosen_benchmark_name(spec, cond)
    shown = ", ".join(f"{country} {code}" if country else code for country, code in cells[:SHOWN])
    more = f" and {len(cells) - SHOWN} more" if len(cells) > SHOWN else ""
    total = len(cond.items) * max(len(cond.countries), 1)
    what = f"benchmark `{wanted}`" if wanted else "benchmark"
    span = (ctx.span("condition", cond.name, "countries") if cond.countries else None) \
        or ctx.span("condition", cond.name, "items") or cond.span
    hint = ("those answers are collected but not scored; drop the cells or add the benchmark rows "
            "(say why in a comment if the source never asked them)")
    if cond.countries and all(b.country is None for c, code in cells for b in _item_by_code(spec, cond, code).benchmarks):
        hint = ("benchmarks are matched by country and these carry none: give them `country = \"...\"`, "
                "or a table filtered by `{{ country }}`")
    ctx.report("SIL413", f"condition `{cond.name}`: {len(cells)} of {total} country × item cells have no {what}: "
                          f"{shown}{more}", span, hint)


def _item_by_code(spec: Spec, cond: Condition, code: str) -> Item:
    return next(spec.item(i) for i in cond.items if i.rpartition(".")[2] == code)


def _unknown_countries(spec: Spec, cond: Condition, ctx: Context) -> None:
    names = spec.study.countries
    if not names:
        return
    unknown = [c for c in cond.countries if c not in names]
    if not unknown:
        return
    hint = did_you_mean(unknown[0], names) or "add it to the study's `countries` (or fix the code)"
    ctx.report("SIL303", f"condition `{cond.name}` lists countries not in the study's `countries`: "
                          f"{', '.join(unknown[:SHOWN])}{' and more' if len(unknown) > SHOWN else ''} "
                          "(templates would show the code as `country_name`)",
                ctx.span("condition", cond.name, "countries") or cond.span, hint)
