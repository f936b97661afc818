"""``table("data/x.csv", col = "value", ...)``: CSV rows filtered by equality on columns.

A table is read once per check and indexed by the filter columns, so a survey-wide benchmark
table of 65 countries x 259 items costs one pass over the file, not one per item.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from silspec.check import files
from silspec.check.context import Context
from silspec.check.limits import MAX_TABLE_BYTES, MAX_TABLE_ROWS
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}|\{(\w+)\}")


class DuplicateCodeError(ValueError):
    """A benchmark table gives one code twice under the same filter values."""


def duplicate_codes(pairs: list[tuple[int, int]]) -> list[tuple[int, list[int]]]:
    """``(code, line)`` pairs -> ``[(code, [lines...])]`` for codes given more than once."""
    lines: dict[int, list[int]] = {}
    for code, line in pairs:
        lines.setdefault(code, []).append(line)
    return [(code, found) for code, found in lines.items() if len(found) > 1]


class Table:
    def __init__(self, path: str, header: tuple[str, ...], rows: list[tuple[str, ...]],
                 lines: list[int] | None = None):
        self.path = path
        self.header = header
        self.rows = rows
        # file line of each row (for "duplicate code 1 on lines 2 and 5"); rows are distinct objects
        self._lines = {id(row): line for row, line in zip(rows, lines or range(2, len(rows) + 2))}
        self.column = {name: i for i, name in enumerate(header)}
        self._indexes: dict[tuple[str, ...], dict[tuple[str, ...], list[tuple[str, ...]]]] = {}

    def line_of(self, row: tuple[str, ...]) -> int:
        """The file line a row of ``rows`` / ``select_rows`` was read from."""
        return self._lines.get(id(row), 0)

    def select(self, filters: dict[str, str]) -> list[dict[str, str]]:
        return [dict(zip(self.header, row)) for row in self.select_rows(filters)]

    def select_rows(self, filters: dict[str, str]) -> list[tuple[str, ...]]:
        keys = tuple(sorted(filters))
        index = self._indexes.get(keys)
        if index is None:
            positions = [self.column[k] for k in keys]
            index = {}
            for row in self.rows:
                index.setdefault(tuple(row[p] if p < len(row) else "" for p in positions), []).append(row)
            self._indexes[keys] = index
        return index.get(tuple(filters[k] for k in keys), [])

    def code_values(self, keys: tuple[str, ...]) -> dict[tuple[str, ...], dict[int, float]]:
        """filter values -> {code: value}, parsed once for the whole table (benchmark tables).

        Raises ``ValueError`` naming the first bad row, or a code given twice under the same
        filter values (the last row would silently win)."""
        cache_key = ("code_values", keys)
        if cache_key not in self._indexes:
            positions = [self.column[k] for k in keys]
            code_pos, value_pos = self.column["code"], self.column["value"]
            out: dict[tuple[str, ...], dict[int, float]] = {}
            first_line: dict[tuple[tuple[str, ...], int], int] = {}
            for row in self.rows:
                try:
                    key, code = tuple(row[p] for p in positions), int(row[code_pos])
                    value = float(row[value_pos])
                except (ValueError, IndexError):
                    raise ValueError(f"bad row {','.join(row)!r}") from None
                values = out.setdefault(key, {})
                if code in values:
                    where = ", ".join(f"{k} = {val!r}" for k, val in zip(keys, key))
                    raise DuplicateCodeError(
                        f"code {code} appears twice{' for ' + where if where else ''}: "
                        f"lines {first_line[key, code]} and {self.line_of(row)}"
                    )
                values[code] = value
                first_line[key, code] = self.line_of(row)
            self._indexes[cache_key] = out  # type: ignore[assignment]
        return self._indexes[cache_key]  # type: ignore[return-value]

    def distinct(self, column: str) -> list[str]:
        key = ("distinct", column)
        if key not in self._indexes:
            pos = self.column[column]
            self._indexes[key] = list(dict.fromkeys(row[pos] for row in self.rows if pos < len(row)))  # type: ignore[assignment]
        return list(self._indexes[key])  # type: ignore[arg-type]


def load(ctx: Context, node: ast.Call) -> Table | None:
    """Read the CSV a ``table(...)`` call names (cached), reporting SIL70x on failure."""
    raw = files.call_path(node)
    if raw is None:
        ctx.report("SIL201", 'expected `table("path.csv", column = "value", ...)`', node.span)
        return None
    ref = files.resolve(ctx, raw, node.args[0].span, what="table")
    if ref is None:
        return None
    key = ("table", ref.absolute)
    if key in ctx.cache:
        return ctx.cache[key]
    span = node.args[0].span
    text = files.read_text(ctx, ref, span, limit=MAX_TABLE_BYTES, what="table")
    table = None if text is None else _parse(ctx, ref.path, text, span)
    ctx.cache[key] = table
    if table is not None:
        ctx.cache.setdefault("files_read", set()).add(ref.path)
    return table


def _parse(ctx: Context, path: str, text: str, span: Any) -> Table | None:
    """Rows of a CSV, or None after SIL704 naming the table's line: a malformed table is a
    finding, never an internal error (an unterminated quote, a row with more or fewer fields
    than the header, too many rows)."""
    reader = csv.reader(io.StringIO(text), strict=True)
    start = 1  # the line the row being read starts on
    try:
        header = tuple(h.strip() for h in next(reader, ()))
        start = reader.line_num + 1
        rows, lines = [], []
        for row in reader:
            if row:
                if len(row) != len(header):
                    ctx.report("SIL704", f"table `{path}` line {start}: {len(row)} field(s) where the header has "
                                        f"{len(header)}", span, "every row needs one value per column (quote commas)")
                    return None
                rows.append(tuple(row))
                lines.append(start)
                if len(rows) > MAX_TABLE_ROWS:
                    ctx.report("SIL704", f"table `{path}` has over {MAX_TABLE_ROWS:,} rows", span,
                              "split the table, or filter it before it enters the spec tree")
                    return None
            start = reader.line_num + 1
    except csv.Error as exc:
        ctx.report("SIL704", f"table `{path}` is not valid CSV (line {start}): {exc}", span,
                  'a quoted field needs its closing `"`; a `"` inside one is written `""`')
        return None
    if not header:
        ctx.report("SIL704", f"table `{path}` is empty", span)
        return None
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        ctx.report("SIL704", f"table `{path}` names column(s) {', '.join(twice)} twice in its header", span)
        return None
    return Table(path, header, rows, lines)


def filters(ctx: Context, node: ast.Call, table: Table, placeholders: dict[str, str]) -> dict[str, str] | None:
    """The call's keyword filters, placeholders (``{{ item }}``, ``{{ country }}``) filled in."""
    out = {}
    for kw in node.kwargs:
        if kw.name not in table.column:
            ctx.report("SIL704", f"table `{table.path}` has no column `{kw.name}`", kw.span,
                      did_you_mean(kw.name, table.header) or f"columns: {', '.join(table.header)}")
            return None
        if isinstance(kw.value, ast.String):
            value = kw.value.value
        elif isinstance(kw.value, (ast.Number, ast.Ref)):
            value = str(kw.value.value if isinstance(kw.value, ast.Number) else kw.value.dotted)
        else:
            ctx.report("SIL201", "table filters are strings", kw.value.span)
            return None

        def fill(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            return placeholders.get(name, m.group(0))

        out[kw.name] = _PLACEHOLDER.sub(fill, value)
    return out


def has_placeholder(node: ast.Call, name: str) -> bool:
    return any(
        isinstance(kw.value, ast.String) and any((m.group(1) or m.group(2)) == name for m in _PLACEHOLDER.finditer(kw.value.value))
        for kw in node.kwargs
    )


def placeholder_column(node: ast.Call, name: str) -> str | None:
    for kw in node.kwargs:
        if isinstance(kw.value, ast.String) and any((m.group(1) or m.group(2)) == name for m in _PLACEHOLDER.finditer(kw.value.value)):
            return kw.name
    return None
