"""`subgroups ATTRIBUTE { ... }` and `joint NAME { ... }` inside `analysis`: per-group benchmarks
and benchmark cross-tabulations, read from tables and aligned with the items' scales.

A subgroup table has a group column (named like the attribute, or `group`), `code` and `value`;
a joint table has one column per item (named by the item's code) and `value`. Other keyword
arguments of `table(...)` filter rows (`item = "{{ item }}"` is filled with each item's code).
Rows of a scale's non-substantive codes (don't know) are summed as `missing` and left out of the
shares, as a marginal benchmark's `missing` is.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from silspec.check import tables, values as v
from silspec.check.blocks.common import assignments
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import GroupBenchmark, Item, JointBenchmark, JointPair, Subgroups, Survey

UNITS = ("count", "percent", "proportion")
GROUP_COLUMNS = ("group",)  # besides the attribute's own name

T = TypeVar("T")


def build_subgroups(ctx: Context, block: ast.Block, surveys: dict[str, Survey]) -> tuple[Subgroups, ...]:
    return _build_named(ctx, block, surveys, "subgroups", _subgroups)


def build_joints(ctx: Context, block: ast.Block, surveys: dict[str, Survey]) -> tuple[JointPair, ...]:
    return _build_named(ctx, block, surveys, "joint", _joint)


def _build_named(ctx: Context, block: ast.Block, surveys: dict[str, Survey], kind: str,
                 build: Callable[[Context, ast.Block, dict[str, Survey]], T | None]) -> tuple[T, ...]:
    """The `kind` sub-blocks of `block`, built: only the first block of each name (unnamed blocks
    and later repeats are skipped here); one that `build` returns None for is left out."""
    out = []
    seen: set[str] = set()
    for sub in block.blocks(kind):
        if sub.name is None or sub.name in seen:
            continue
        seen.add(sub.name)
        built = build(ctx, sub, surveys)
        if built is not None:
            out.append(built)
    return tuple(out)


def _items(ctx: Context, block: ast.Block, surveys: dict[str, Survey]) -> list[Item] | None:
    a = assignments(block)
    if "items" not in a:
        ctx.error("SIL105", f"`{block.kind} {block.name}` has no `items`", block.name_span,
                  "e.g. `items = [kgss2023.KRPROUD]`")
        return None
    node = a["items"].value
    refs = node.elements if isinstance(node, ast.ListExpr) else (node,)
    items = []
    for ref in refs:
        if not isinstance(ref, ast.Ref) or len(ref.parts) != 2 or ref.parts[1] == "*":
            v.type_error(ctx, ref, "`survey.ITEM` references", "items")
            return None
        survey = surveys.get(ref.parts[0])
        item = next((i for i in survey.items if i.code == ref.parts[1]), None) if survey else None
        if item is None:
            ctx.report("SIL463", f"`{block.kind} {block.name}` names unknown item `{ref.dotted}`", ref.span,
                       "name items as `survey.ITEM`, as the conditions do")
            return None
        items.append(item)
    return items


def _unit(ctx: Context, a: dict) -> str:
    if "unit" not in a:
        return "count"
    return v.as_enum(ctx, a["unit"].value, UNITS, "unit") or "count"


def _subgroups(ctx: Context, block: ast.Block, surveys: dict[str, Survey]) -> Subgroups | None:
    items = _items(ctx, block, surveys)
    if items is None:
        return None
    a = assignments(block)
    unit = _unit(ctx, a)
    source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
    benchmarks: dict[str, tuple[GroupBenchmark, ...]] = {}
    if "benchmark" in a:
        node = a["benchmark"].value
        if not (isinstance(node, ast.Call) and node.name == "table"):
            v.type_error(ctx, node, "`table(\"groups.csv\", ...)` (columns: group, code, value)", "benchmark")
            return None
        for item in items:
            groups = _group_rows(ctx, node, item, block.name, unit)
            if groups is None:
                return None
            if groups:
                benchmarks[item.id] = groups
    return Subgroups(attribute=block.name, items=tuple(i.id for i in items), benchmarks=benchmarks,
                     source=source, span=block.name_span)


def _group_rows(ctx: Context, node: ast.Call, item: Item, attribute: str, unit: str) -> tuple[GroupBenchmark, ...] | None:
    """One GroupBenchmark per group of ``item`` in the table (table order); () when the table has
    no rows for the item (the item is then reported without a benchmark)."""
    table = tables.load(ctx, node)
    if table is None:
        return None
    group_col = attribute if attribute in table.column else next((c for c in GROUP_COLUMNS if c in table.column), None)
    missing_cols = [c for c in ("code", "value") if c not in table.column]
    if group_col is None:
        missing_cols.insert(0, f"`{attribute}` (or `group`)")
    if missing_cols:
        ctx.report("SIL464", f"subgroup table `{table.path}` has no {', '.join(missing_cols)} column", node.span,
                   f"subgroup tables have a group column, `code` and `value`; it has: {', '.join(table.header)}")
        return None
    flt = tables.filters(ctx, node, table, {"item": item.code})
    if flt is None:
        return None
    rows = table.select_rows(flt) if flt else table.rows
    scale = item.scale
    by_group: dict[str, dict[int, float]] = {}
    missing: dict[str, float] = {}
    gpos, cpos, vpos = table.column[group_col], table.column["code"], table.column["value"]
    for row in rows:
        group = row[gpos].strip()
        try:
            code, value = int(row[cpos]), float(row[vpos])
        except ValueError:
            ctx.report("SIL464", f"subgroup table `{table.path}` line {table.line_of(row)}: code {row[cpos]!r}, "
                                 f"value {row[vpos]!r}", node.span, "codes are integers and values numbers")
            return None
        if value < 0:
            ctx.report("SIL464", f"subgroup table `{table.path}` line {table.line_of(row)}: negative value {value}",
                       node.span, "counts and shares are never negative")
            return None
        if code in scale.missing_codes:
            missing[group] = missing.get(group, 0.0) + value
            by_group.setdefault(group, {})
            continue
        if code not in scale.codes:
            ctx.report("SIL464", f"subgroup table `{table.path}` line {table.line_of(row)}: code {code} is not a code "
                                 f"of `{item.code}` (scale `{scale.name}`: {list(scale.codes)})", node.span,
                       "one row per group and code of the item's scale")
            return None
        codes = by_group.setdefault(group, {})
        if code in codes:
            ctx.report("SIL464", f"subgroup table `{table.path}` gives group {group!r} code {code} twice (line "
                                 f"{table.line_of(row)}); the last row would silently win", node.span,
                       "keep one row per group and code (check the filter columns)")
            return None
        codes[code] = value
    out = []
    for group, codes in by_group.items():
        absent = [c for c in scale.codes if c not in codes]
        if absent:
            ctx.report("SIL464", f"subgroup table `{table.path}`: group {group!r} of `{item.code}` lacks codes {absent}",
                       node.span, "give a value (possibly 0) for every substantive code")
            return None
        values = tuple(codes[c] for c in scale.codes)
        total = sum(values)
        n = int(round(total)) if unit == "count" else None
        if unit != "count":
            full, tolerance = (100.0, 0.5) if unit == "percent" else (1.0, 0.005)
            written = total + missing.get(group, 0.0)
            if abs(written - full) > tolerance:
                ctx.report("SIL470", f"subgroup table `{table.path}`: group {group!r} of `{item.code}` sums to {written:g}"
                                     f"{' %' if unit == 'percent' else ''} (with its non-substantive rows), not {full:g}; "
                                     "its shares are renormalised over the substantive codes", node.span,
                           "check the unit (`unit = count` for counts) and the group's rows")
        out.append(GroupBenchmark(group=group, values=values, unit=unit, missing=missing.get(group, 0.0), n=n))
    return tuple(out)


def _joint(ctx: Context, block: ast.Block, surveys: dict[str, Survey]) -> JointPair | None:
    items = _items(ctx, block, surveys)
    if items is None:
        return None
    if len(items) != 2 or items[0].id == items[1].id:
        ctx.report("SIL465", f"`joint {block.name}` needs two different items, got {len(items)}"
                             f"{' (the same one twice)' if len(items) == 2 else ''}", block.name_span,
                   "e.g. `items = [kgss2023.KRPROUD, kgss2023.UNIFI]`")
        return None
    a = assignments(block)
    unit = _unit(ctx, a)
    source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
    benchmark = None
    if "benchmark" in a:
        node = a["benchmark"].value
        if not (isinstance(node, ast.Call) and node.name == "table"):
            v.type_error(ctx, node, f"`table(\"joint.csv\")` (columns: {items[0].code}, {items[1].code}, value)", "benchmark")
            return None
        benchmark = _joint_rows(ctx, node, items[0], items[1], unit, source)
        if benchmark is None:
            return None
    return JointPair(name=block.name, a=items[0].id, b=items[1].id, benchmark=benchmark, span=block.name_span)


def _joint_rows(ctx: Context, node: ast.Call, first: Item, second: Item, unit: str, source: str | None) -> JointBenchmark | None:
    table = tables.load(ctx, node)
    if table is None:
        return None
    absent = [c for c in (first.code, second.code, "value") if c not in table.column]
    if absent:
        ctx.report("SIL466", f"joint table `{table.path}` has no {', '.join(f'`{c}`' for c in absent)} column",
                   node.span, f"a joint table has one column per item ({first.code}, {second.code}) and `value`; "
                              f"it has: {', '.join(table.header)}")
        return None
    flt = tables.filters(ctx, node, table, {})
    if flt is None:
        return None
    rows = table.select_rows(flt) if flt else table.rows
    cells: dict[tuple[int, int], float] = {}
    missing = 0.0
    pa, pb, pv = table.column[first.code], table.column[second.code], table.column["value"]
    for row in rows:
        try:
            ca, cb, value = int(row[pa]), int(row[pb]), float(row[pv])
        except ValueError:
            ctx.report("SIL466", f"joint table `{table.path}` line {table.line_of(row)}: codes and value must be numbers",
                       node.span, "codes are integers and values numbers")
            return None
        if ca in first.scale.missing_codes or cb in second.scale.missing_codes:
            missing += value
            continue
        if ca not in first.scale.codes or cb not in second.scale.codes or value < 0:
            ctx.report("SIL466", f"joint table `{table.path}` line {table.line_of(row)}: ({ca}, {cb}) = {value} is not "
                                 f"a cell of {first.code} × {second.code}", node.span,
                       f"codes {list(first.scale.codes)} × {list(second.scale.codes)}, values not negative")
            return None
        if (ca, cb) in cells:
            ctx.report("SIL466", f"joint table `{table.path}` gives cell ({ca}, {cb}) twice (line {table.line_of(row)})",
                       node.span, "one row per cell")
            return None
        cells[(ca, cb)] = value
    lacking = [(x, y) for x in first.scale.codes for y in second.scale.codes if (x, y) not in cells]
    if lacking:
        ctx.report("SIL466", f"joint table `{table.path}` lacks cells {lacking[:4]}{' …' if len(lacking) > 4 else ''}",
                   node.span, "give every cell of the two scales a value (possibly 0)")
        return None
    values = tuple(tuple(cells[(x, y)] for y in second.scale.codes) for x in first.scale.codes)
    total = sum(map(sum, values))
    if total <= 0:
        ctx.report("SIL466", f"joint table `{table.path}` sums to zero", node.span)
        return None
    if unit != "count":
        full, tolerance = (100.0, 0.5) if unit == "percent" else (1.0, 0.005)
        if abs(total + missing - full) > tolerance:
            ctx.report("SIL470", f"joint table `{table.path}` sums to {total + missing:g}{' %' if unit == 'percent' else ''} "
                                 f"(with its non-substantive rows), not {full:g}; its shares are renormalised", node.span,
                       "check the unit (`unit = count` for counts) and the table's rows")
    return JointBenchmark(values=values, unit=unit, missing=missing,  # type: ignore[arg-type]
                          n=int(round(total)) if unit == "count" else None, source=source)
