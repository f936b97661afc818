"""study, scale, survey/item/benchmark."""

from __future__ import annotations

from typing import Any

from silspec.check import tables, values as v
from silspec.check.build.common import assignments, blocks, build_each
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Benchmark, Category, Item, Scale, Study, Survey


def build_study(ctx: Context) -> Study:
    block = next(blocks(ctx.document.entries, "study"), None)
    if block is None:
        return Study(name="unnamed")
    a = assignments(block)
    title = v.as_str(ctx, a["title"].value, "title") if "title" in a else None
    seed = v.as_int(ctx, a["seed"].value, "seed", minimum=0) if "seed" in a else None
    if "seed" not in a:
        ctx.warning("SIL105", "the study has no `seed`", block.name_span or block.kind_span,
                    "set `seed = N`: persona sampling and replicate seeds derive from it (0 is used otherwise)")
    language = v.as_str(ctx, a["language"].value, "language") if "language" in a else None
    meta: dict[str, Any] = {}
    for sub in block.blocks("meta"):
        for key, assignment in assignments(sub).items():
            meta[str(key)] = v.plain(assignment.value)
    countries = _country_names(ctx, a["countries"].value) if "countries" in a else {}
    return Study(name=block.name or "unnamed", title=title or "", seed=seed or 0, language=language, meta=meta,
                 countries=countries or {})


CODE_COLUMNS = ("code", "iso3")  # the first present holds the country code (data/wvs7 uses iso3)


def _country_names(ctx: Context, node: Any) -> dict[str, str] | None:
    """Display names of country codes: a map ``{ "JPN": "Japan" }`` or ``table(...)`` with
    columns ``code`` (or ``iso3``) and ``name``; other keyword arguments filter rows."""
    if isinstance(node, ast.MapExpr):
        out = {}
        for pair in node.pairs:
            name = v.as_str(ctx, pair.value, "countries")
            if name is not None:
                out[str(pair.key_value)] = name
        return out
    if isinstance(node, ast.Call) and node.name == "table":
        table = tables.load(ctx, node)
        if table is None:
            return None
        code_col = next((c for c in CODE_COLUMNS if c in table.column), None)
        if code_col is None or "name" not in table.column:
            missing = "name" if code_col else "code"
            ctx.error("SIL704", f"country table `{table.path}` has no `{missing}` column", node.span,
                      f"country tables have columns `code` (or `iso3`) and `name`; it has: {', '.join(table.header)}")
            return None
        flt = tables.filters(ctx, node, table, {})
        if flt is None:
            return None
        rows = table.select_rows(flt) if flt else table.rows
        code_pos, name_pos = table.column[code_col], table.column["name"]
        return {row[code_pos].strip(): row[name_pos].strip() for row in rows
                if len(row) > max(code_pos, name_pos) and row[code_pos].strip()}
    v.type_error(ctx, node, 'a map `{ "JPN": "Japan" }` or `table("countries.csv")` (columns code, name)', "countries")
    return None


def build_scales(ctx: Context) -> dict[str, Scale]:
    return build_each(ctx, "scale", _scale)


def _scale(ctx: Context, block: ast.Block) -> Scale | None:
    a = assignments(block)
    labelled: list[tuple[int, str]] = []
    for key, assignment in a.items():
        if isinstance(key, int):
            label = v.as_str(ctx, assignment.value, key)
            if label is not None:
                labelled.append((key, label))
    low = v.as_str(ctx, a["low"].value, "low") if "low" in a else None
    high = v.as_str(ctx, a["high"].value, "high") if "high" in a else None
    missing = v.as_int_list(ctx, a["missing"].value, "missing") if "missing" in a else ()
    ordered = v.as_bool(ctx, a["ordered"].value, "ordered") if "ordered" in a else True
    missing = missing or ()
    codes: list[tuple[int, str]] = []
    if "range" in a:
        node = a["range"].value
        if isinstance(node, ast.Range):
            if node.end <= node.start:
                ctx.error("SIL203", f"empty range {node.start}..{node.end}", node.span, "write low..high, e.g. 1..10")
            labels = dict(labelled)
            codes = [(c, labels.get(c, "")) for c in range(node.start, node.end + 1)]
            codes += [(c, l) for c, l in labelled if c not in dict(codes)]
        else:
            v.type_error(ctx, node, "a range like 1..10", "range")
    else:
        codes = list(labelled)
        if low is not None or high is not None:
            ctx.warning("SIL203", "`low`/`high` only label the ends of a `range`", ctx.span("scale", block.name, "low" if low else "high"))
    known = {c for c, _ in codes}
    for m in missing:
        if m not in known:
            codes.append((m, ""))
    categories = tuple(Category(c, label, c in missing) for c, label in codes)
    if not any(not c.missing for c in categories):
        ctx.error("SIL411", f"scale `{block.name}` has no substantive codes", block.name_span,
                  'add categories (`1 = "..."`) or `range = 1..N`')
        return None
    return Scale(block.name, categories, ordered=bool(ordered), low_label=low, high_label=high)


# ------------------------------------------------------------------------------------ surveys


def build_surveys(ctx: Context, scales: dict[str, Scale]) -> dict[str, Survey]:
    surveys: dict[str, Survey] = {}
    for block in blocks(ctx.document.entries, "survey"):
        a = assignments(block)
        source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
        n = v.as_int(ctx, a["n"].value, "n", minimum=1) if "n" in a else None
        survey_table = a["benchmark"].value if "benchmark" in a else None
        if survey_table is not None and not (isinstance(survey_table, ast.Call) and survey_table.name == "table"):
            v.type_error(ctx, survey_table, '`table("...", item = "{{ item }}")`', "benchmark")
            survey_table = None
        items = []
        for item_block in blocks(block.entries, "item"):
            item = _item(ctx, block.name, item_block, scales, n, survey_table)
            if item is not None:
                items.append(item)
        surveys[block.name] = Survey(block.name, tuple(items), source=source, n=n)
    return surveys


_ITEM_KEYS = ("text", "scale", "benchmark", "benchmark_labels", "source")


def _item(ctx: Context, survey: str, block: ast.Block, scales: dict[str, Scale], n: int | None,
          survey_table: ast.Call | None) -> Item | None:
    a = assignments(block)
    code = block.name
    span = block.name_span
    if "text" not in a:
        ctx.error("SIL105", f"item `{code}` has no `text`", span, "the question wording shown to the model: `text = \"...\"`")
    text = v.as_str(ctx, a["text"].value, "text") if "text" in a else None
    scale = None
    if "scale" not in a:
        ctx.error("SIL105", f"item `{code}` has no `scale`", span, "name its answer scale: `scale = NAME`")
    else:
        name = v.as_name(ctx, a["scale"].value, "scale")
        if name is not None:
            scale = scales.get(name)
            if scale is None:
                ctx.undefined("scale", name, a["scale"].value.span, scales)
    fields = {str(k): v.plain(x.value) for k, x in a.items() if k not in _ITEM_KEYS}
    source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
    labels = None
    if "benchmark_labels" in a:
        labels = _int_map(ctx, a["benchmark_labels"].value, "benchmark_labels")
    if scale is None or text is None:
        return None
    benchmarks: list[Benchmark] = []
    default = None
    if "benchmark" in a:
        bm = _benchmark_values(ctx, a["benchmark"].value, scale, code, None)
        if bm is not None:
            vals, unit_guess, span_ = bm
            benchmarks.append(Benchmark("default", vals, unit_guess, n=n, span=span_))
    for sub in blocks(block.entries, "benchmark"):
        b, is_default = _named_benchmark(ctx, sub, scale, code, n)
        benchmarks.extend(b)
        if is_default:
            if default is not None:
                ctx.error("SIL409", f"item `{code}` has more than one default benchmark", sub.name_span,
                          "mark exactly one `default = true`")
            default = sub.name
    if survey_table is not None and not any(b.values for b in benchmarks):
        benchmarks.extend(_survey_table_benchmarks(ctx, survey_table, scale, code, n))
    return Item(
        id=f"{survey}.{code}", code=code, survey=survey, text=text, scale=scale,
        benchmarks=tuple(benchmarks), default_benchmark=default, benchmark_labels=labels,
        source=source, fields=fields, span=span,
    )


def _int_map(ctx: Context, node: Any, key: str) -> dict[int, str] | None:
    if not isinstance(node, ast.MapExpr):
        v.type_error(ctx, node, "a map `{ 1: \"...\", ... }`", key)
        return None
    out = {}
    for pair in node.pairs:
        k = pair.key_value
        if not isinstance(k, int):
            ctx.error("SIL201", f"`{key}` keys are integer codes, got `{k}`", pair.key.span)
            continue
        label = v.as_str(ctx, pair.value, key)
        if label is not None:
            out[k] = label
    return out


def _named_benchmark(ctx: Context, block: ast.Block, scale: Scale, code: str, survey_n: int | None) -> tuple[list[Benchmark], bool]:
    a = assignments(block)
    if "values" not in a:
        ctx.error("SIL105", f"benchmark `{block.name}` has no `values`", block.name_span,
                  "give `values = [...]`, a map `{code: value}` or `table(...)`")
        return [], False
    unit = v.as_enum(ctx, a["unit"].value, ("percent", "proportion"), "unit") if "unit" in a else None
    n = v.as_int(ctx, a["n"].value, "n", minimum=1) if "n" in a else survey_n
    missing = v.as_number(ctx, a["missing"].value, "missing", unit_ok=True) if "missing" in a else None
    renorm = v.as_bool(ctx, a["renormalise"].value, "renormalise") if "renormalise" in a else False
    default = v.as_bool(ctx, a["default"].value, "default") if "default" in a else False
    source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
    country = v.as_str(ctx, a["country"].value, "country") if "country" in a else None
    node = a["values"].value
    out = []
    if isinstance(node, ast.Call) and node.name == "table" and tables.has_placeholder(node, "country") and country is None:
        for b in _survey_table_benchmarks(ctx, node, scale, code, n, name=block.name):
            out.append(_with(b, unit, missing, renorm, source, block))
        return out, bool(default)
    bm = _benchmark_values(ctx, node, scale, code, country)
    if bm is not None:
        vals, unit_guess, _ = bm
        out.append(Benchmark(block.name, vals, unit or unit_guess, country=country, n=n, missing_share=missing,
                             renormalise=bool(renorm), source=source, span=block.name_span))
    return out, bool(default)


def _with(b: Benchmark, unit, missing, renorm, source, block) -> Benchmark:
    from attrs import evolve

    return evolve(b, unit=unit or b.unit, missing_share=missing, renormalise=bool(renorm), source=source, span=block.name_span)


def _guess_unit(vals: tuple[float, ...]) -> str:
    return "percent" if sum(vals) > 1.5 else "proportion"


def _benchmark_values(ctx: Context, node: Any, scale: Scale, code: str, country: str | None):
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
            ctx.error("SIL401", f"benchmark of `{code}` has {len(vals)} values but scale `{scale.name}` has {len(codes)} substantive codes",
                      node.span, f"one value per code {list(codes)}, in scale order (non-substantive shares go in `missing`)")
            return None
        unit = "percent" if any(isinstance(e, ast.Number) and e.unit == "%" for e in node.elements) else _guess_unit(tuple(vals))
        return tuple(vals), unit, node.span
    if isinstance(node, ast.MapExpr):
        by_code = {}
        for pair in node.pairs:
            k = pair.key_value
            if not isinstance(k, int):
                ctx.error("SIL201", f"benchmark map keys are integer codes, got `{k}`", pair.key.span)
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
                ctx.error("SIL704", f"benchmark table `{table.path}` has no `{col}` column", node.span,
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
            ctx.error("SIL704", f"bad row in `{path}`: code {raw_code!r}, value {raw_value!r}", span,
                      "codes are integers and values numbers")
            return None
        lines.append((int(raw_code), line))
    duplicates = tables.duplicate_codes(lines)
    if duplicates:
        dup, found = duplicates[0]
        ctx.error("SIL414", f"benchmark table `{path}` gives code {dup} of `{code}` {len(found)} times "
                            f"(lines {', '.join(map(str, found[:-1]))} and {found[-1]}); the last row would silently win",
                  span, "keep one row per code (check the filter columns)")
        return None
    return _align(ctx, by_code, scale, code, span)


def _align(ctx: Context, by_code: dict[int, float], scale: Scale, code: str, span):
    codes = scale.codes
    unknown = [c for c in by_code if c not in codes and c not in scale.missing_codes]
    if unknown:
        ctx.error("SIL405", f"benchmark of `{code}` has codes {unknown} that scale `{scale.name}` does not have", span,
                  f"scale codes: {list(codes)}")
        return None
    absent = [c for c in codes if c not in by_code]
    if absent:
        ctx.error("SIL401", f"benchmark of `{code}` lacks codes {absent} of scale `{scale.name}`", span,
                  "give a value (possibly 0) for every substantive code")
        return None
    vals = tuple(by_code[c] for c in codes)
    return vals, _guess_unit(vals), span


def _survey_table_benchmarks(ctx: Context, node: ast.Call, scale: Scale, code: str, n: int | None,
                             name: str = "default") -> list[Benchmark]:
    """A survey-wide table: one benchmark per country when a filter uses ``{{ country }}``.

    Filters are filled once per item and only the country column varies, so 65 countries x
    259 items cost one index lookup each."""
    table = tables.load(ctx, node)
    if table is None:
        return []
    for col in ("code", "value"):
        if col not in table.column:
            ctx.error("SIL704", f"benchmark table `{table.path}` has no `{col}` column", node.span,
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
        ctx.error("SIL414", f"benchmark table `{table.path}`: {exc}; the last row would silently win", node.span,
                  "keep one row per code and filter values")
        return []
    except ValueError as exc:
        ctx.error("SIL704", f"`{table.path}`: {exc}", node.span, "codes are integers and values numbers")
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
