"""`benchmark = [...]` / `benchmark NAME { ... }` / benchmark tables: shares aligned to a scale."""

from __future__ import annotations

from typing import Any

from silspec.check import tables, values as v
from silspec.check.blocks.common import assignments
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Benchmark, Scale


def named_benchmark(ctx: Context, block: ast.Block, scale: Scale, code: str, survey_n: int | None) -> tuple[list[Benchmark], bool]:
    a = assignments(block)
    if "values" not in a:
        ctx.error("SIL105", f"benchmark `{block.name}` has no `values`", block.name_span,
                  "give `values = [...]`, a map `{code: value}` or `table(...)`")
        return [], False
    unit = v.as_enum(ctx, a["unit"].value, UNITS, "unit") if "unit" in a else None
    n = v.as_int(ctx, a["n"].value, "n", minimum=1) if "n" in a else survey_n
    missing = v.as_number(ctx, a["missing"].value, "missing", unit_ok=True) if "missing" in a else None
    renorm = v.as_bool(ctx, a["renormalise"].value, "renormalise") if "renormalise" in a else False
    default = v.as_bool(ctx, a["default"].value, "default") if "default" in a else False
    source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
    country = v.as_str(ctx, a["country"].value, "country") if "country" in a else None
    node = a["values"].value
    _check_mixed_units(ctx, node, block.name, code, unit)
    if unit == "count" and "missing" in a:
        _check_count_node(ctx, a["missing"].value, block.name, code, "missing")
    out = []
    if isinstance(node, ast.Call) and node.name == "table" and tables.has_placeholder(node, "country") and country is None:
        for b in survey_table_benchmarks(ctx, node, scale, code, n, name=block.name):
            out.append(_with(b, unit, missing, renorm, source, block))
        return [_counted(ctx, b, a, code) for b in out], bool(default)
    bm = benchmark_values(ctx, node, scale, code, country)
    if bm is not None:
        vals, unit_guess, _ = bm
        out.append(_counted(ctx, Benchmark(block.name, vals, unit or unit_guess, country=country, n=n,
                                           missing_share=missing, renormalise=bool(renorm), source=source,
                                           span=block.name_span), a, code))
    return out, bool(default)


UNITS = ("percent", "proportion", "count")


def _check_mixed_units(ctx: Context, node: Any, name: str, code: str, unit: str | None) -> None:
    """SIL481: a `%` value in a count benchmark; SIL483: a list mixing `%` and plain numbers."""
    if not isinstance(node, (ast.ListExpr, ast.MapExpr)):
        return
    elements = node.elements if isinstance(node, ast.ListExpr) else [pair.value for pair in node.pairs]
    numbers = [e for e in elements if isinstance(e, ast.Number)]
    with_percent = [e for e in numbers if e.unit == "%"]
    if unit == "count":
        for e in numbers:
            _check_count_node(ctx, e, name, code, "values")
        return
    if with_percent and len(with_percent) < len(numbers):
        plain = next(e for e in numbers if e.unit != "%")
        ctx.report("SIL483", f"benchmark `{name}` of `{code}` mixes percentages and plain numbers "
                   f"(`{with_percent[0].text}` and `{plain.text}`)", plain.span,
                   "write every value in one unit: all with `%`, or all plain with `unit = percent` or `proportion`")


def _check_count_node(ctx: Context, node: Any, name: str, code: str, key: str) -> None:
    """A count is a whole number of respondents, never a percentage or a share."""
    if not isinstance(node, ast.Number):
        return
    if node.unit == "%":
        ctx.report("SIL481", f"`{node.text}` in `{key}` of benchmark `{name}` of `{code}` is a percentage, "
                   "but the benchmark's unit is count", node.span,
                   "write the number of respondents, or `unit = percent` for percentages")
    elif not isinstance(node.value, int) and not float(node.value).is_integer():
        ctx.report("SIL480", f"`{node.text}` in `{key}` of benchmark `{name}` of `{code}` is not a whole number, "
                   "but the benchmark's unit is count", node.span,
                   "counts are numbers of respondents; for shares write `unit = percent` or `unit = proportion`")


def _counted(ctx: Context, b: Benchmark, a: dict, code: str) -> Benchmark:
    """A count benchmark records its n: the respondents on substantive codes (the sum of the counts).

    A declared ``n`` must equal the counts plus the declared ``missing`` count (SIL482): the
    table's respondents, all of them accounted for.
    """
    if b.unit != "count":
        return b
    from attrs import evolve

    substantive = sum(b.values)
    table_values = [x for x in b.values if not float(x).is_integer()]
    if table_values and not isinstance(a["values"].value, (ast.ListExpr, ast.MapExpr)):
        ctx.report("SIL480", f"benchmark `{b.name}` of `{code}` has unit = count but its table gives "
                   f"{table_values[0]:g}, not a whole number", b.span,
                   "counts are numbers of respondents; for shares write `unit = percent` or `unit = proportion`")
    if "n" in a and isinstance(a["n"].value, ast.Number) and isinstance(a["n"].value.value, int):
        declared = a["n"].value.value
        total = substantive + (b.missing_share or 0)
        if abs(declared - total) > 1e-9:
            ctx.report("SIL482", f"benchmark `{b.name}` of `{code}` declares n = {declared:,} but its counts sum to "
                       f"{substantive:,g}" + (f" + {b.missing_share:,g} missing = {total:,g}" if b.missing_share else ""),
                       a["n"].value.span,
                       "n counts every respondent of the table: the counts plus the `missing` count; fix either")
    return evolve(b, n=int(round(substantive)))


def _with(b: Benchmark, unit, missing, renorm, source, block) -> Benchmark:
    from attrs import evolve

    return evolve(b, unit=unit or b.unit, missing_share=missing, renormalise=bool(renorm), source=source, span=block.name_span)


def _guess_unit(vals: tuple[float, ...]) -> str:
    return "percent" if sum(vals) > 1.5 else "proportion"


def benchmark_values(ctx: Context, node: Any, scale: Scale, code: str, country: str | None):
    """(values aligned with scale.codes, unit guess, span) from a list, map or table."""
    codes = scale.codes
    if isinstance(node, ast.ListExpr):
        vals = []
        for el in node.elements:
            x = v.as_number(ctx, el, "values", unit_ok=True)
            if x is None:
                return None
            vals.append(float(x))
        if len(vals) != len(codes):
            ctx.report("SIL401", f"benchmark of `{code}` has {len(vals)} values but scale `{scale.name}` has {len(codes)} substantive codes",
                      node.span, f"one value per code {list(codes)}, in scale order (non-substantive shares go in `missing`)")
            return None
        unit = "percent" if any(isinstance(e, ast.Number) and e.unit == "%" for e in node.elements) else _guess_unit(tuple(vals))
        return tuple(vals), unit, node.span
    if isinstance(node, ast.MapExpr):
        by_code = {}
        for pair in node.pairs:
            k = pair.key_value
            if not isinstance(k, int):
                ctx.report("SIL201", f"benchmark map keys are integer codes, got `{k}`", pair.key.span)
                return None
            x = v.as_number(ctx, pair.value, "values", unit_ok=True)
            if x is None:
                return None
            by_code[k] = float(x)
        return _align(ctx, by_code, scale, code, node.span)
    if isinstance(node, ast.Call) and node.name == "table":
        table = tables.load(ctx, node)
        if table is None:
            return None
        for col in ("code", "value"):
            if col not in table.column:
                ctx.report("SIL704", f"benchmark table `{table.path}` has no `{col}` column", node.span,
                          "benchmark tables have columns `code`, `value` and filter columns")
                return None
        placeholders = {"item": code}
        if country:
            placeholders["country"] = country
        flt = tables.filters(ctx, node, table, placeholders)
        if flt is None:
            return None
        rows = table.select_rows(flt)
        if not rows:
            ctx.error("SIL407", f"no rows in `{table.path}` match {_fmt_filters(flt)}", node.span,
                      "check the filter values against the table")
            return None
        return _rows_to_values(ctx, rows, table.path, scale, code, node.span, table)
    v.type_error(ctx, node, "a list, a map `{code: value}` or `table(...)`", "benchmark")
    return None


def _fmt_filters(flt: dict[str, str]) -> str:
    return ", ".join(f"{k} = {val!r}" for k, val in flt.items()) or "(no filters)"


def _rows_to_values(ctx: Context, rows: list, path: str, scale: Scale, code: str, span, table=None):
    """Rows (dicts, or tuples of ``table``) -> values aligned with the scale's codes."""
    by_code = {}
    lines = []
    if table is not None:
        code_pos, value_pos = table.column["code"], table.column["value"]
        rows = [(r[code_pos], r[value_pos], table.line_of(r)) for r in rows]
    else:
        rows = [(r.get("code"), r.get("value"), 0) for r in rows]
    for raw_code, raw_value, line in rows:
        try:
            by_code[int(raw_code)] = float(raw_value)
        except (TypeError, ValueError):
            ctx.report("SIL704", f"bad row in `{path}`: code {raw_code!r}, value {raw_value!r}", span,
                      "codes are integers and values numbers")
            return None
        lines.append((int(raw_code), line))
    duplicates = tables.duplicate_codes(lines)
    if duplicates:
        dup, found = duplicates[0]
        ctx.report("SIL414", f"benchmark table `{path}` gives code {dup} of `{code}` {len(found)} times "
                            f"(lines {', '.join(map(str, found[:-1]))} and {found[-1]}); the last row would silently win",
                  span, "keep one row per code (check the filter columns)")
        return None
    return _align(ctx, by_code, scale, code, span)


def _align(ctx: Context, by_code: dict[int, float], scale: Scale, code: str, span):
    codes = scale.codes
    unknown = [c for c in by_code if c not in codes and c not in scale.missing_codes]
    if unknown:
        ctx.report("SIL405", f"benchmark of `{code}` has codes {unknown} that scale `{scale.name}` does not have", span,
                  f"scale codes: {list(codes)}")
        return None
    absent = [c for c in codes if c not in by_code]
    if absent:
        ctx.report("SIL401", f"benchmark of `{code}` lacks codes {absent} of scale `{scale.name}`", span,
                  "give a value (possibly 0) for every substantive code")
        return None
    vals = tuple(by_code[c] for c in codes)
    return vals, _guess_unit(vals), span


def survey_table_benchmarks(ctx: Context, node: ast.Call, scale: Scale, code: str, n: int | None,
                             name: str = "default") -> list[Benchmark]:
    """A survey-wide table: one benchmark per country when a filter uses ``{{ country }}``.

    Filters are filled once per item and only the country column varies, so 65 countries x
    259 items cost one index lookup each."""
    table = tables.load(ctx, node)
    if table is None:
        return []
    for col in ("code", "value"):
        if col not in table.column:
            ctx.report("SIL704", f"benchmark table `{table.path}` has no `{col}` column", node.span,
                      "benchmark tables have columns `code`, `value` and filter columns")
            return []
    country_col = tables.placeholder_column(node, "country")
    marker = "\x00country\x00"
    flt = tables.filters(ctx, node, table, {"item": code, "country": marker})
    if flt is None:
        return []
    countries = table.distinct(country_col) if country_col in table.column else [None]
    keys = tuple(sorted(flt))
    try:
        by_filter = table.code_values(keys)
    except tables.DuplicateCodeError as exc:
        if ("duplicate_codes_reported", table.path) in ctx.cache:
            return []  # one report per table, not one per item
        ctx.cache[("duplicate_codes_reported", table.path)] = True
        ctx.report("SIL414", f"benchmark table `{table.path}`: {exc}; the last row would silently win", node.span,
                  "keep one row per code and filter values")
        return []
    except ValueError as exc:
        ctx.report("SIL704", f"`{table.path}`: {exc}", node.span, "codes are integers and values numbers")
        return []
    codes = scale.codes
    allowed = set(codes) | set(scale.missing_codes)
    template = tuple(flt[k] for k in keys)
    varying = [i for i, val in enumerate(template) if marker in val]
    out = []
    for country in countries:
        key = template
        if country is not None and varying:
            key = tuple(val.replace(marker, country) if i in varying else val for i, val in enumerate(template))
        by_code = by_filter.get(key)
        if not by_code:
            continue
        if len(by_code) == len(codes) and by_code.keys() <= allowed and all(c in by_code for c in codes):
            vals = tuple(by_code[c] for c in codes)  # fast path: the common, well-formed case
            out.append(Benchmark(name, vals, _guess_unit(vals), country=country, n=n, span=node.span))
            continue
        bm = _align(ctx, by_code, scale, code, node.span)
        if bm is not None:
            vals, unit, span = bm
            out.append(Benchmark(name, vals, unit, country=country, n=n, span=span))
    if not out:
        ctx.warning("SIL407", f"the survey benchmark table has no rows for item `{code}`", node.span,
                    "the item will have no benchmark (metrics cannot be computed for it)")
    return out
