"""The per-answer tidy table: one row per request of the current plan, for pandas, R or a spreadsheet.

``silspec report RUN --answers --format csv|parquet`` and ``open_run(RUN).answers(frame=True)``
read the same rows (``iter_answer_table``), so their columns are the same: the request's
condition, model, item (the qualified id, as in every report format), persona id and one
``persona.<attribute>`` column per attribute of the plan's personas, replicate, the raw reply,
the parsed code, the probabilities, the outcome and its reason, tokens, this run's cost and
whether the answer came from the results cache.

Why streamed: a store of a million answers is a few GB as objects. The rows come from one
SQLite cursor (``Store.iter_answers``), CSV is written row by row and Parquet a row group of
``PARQUET_BATCH`` rows at a time, so memory stays flat whatever the store's size. Parquet
needs pyarrow (the optional extra ``silspec[data]``); CSV needs nothing.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

from attrs import frozen

from silspec.run.prices import price_for
from silspec.analysis.usage import answer_cost
from silspec.analysis.scoring import row_of
from silspec.report.load import ReportError, load_run_spec
from silspec.run.records import AnswerRecord
from silspec.run.rundir import RunDirectory
from silspec.run.store import StoreError
from silspec.spec.model import Spec

ANSWER_FORMATS = ("csv", "parquet")
PARQUET_BATCH = 10_000  # rows per Parquet row group: a million answers never sit in memory

# (name, type) in order; persona attribute columns go right after ``persona``. Types name the
# Parquet column: str, int, float, bool, and json (a dict, written as JSON text in files).
BASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "str"),
    ("condition", "str"),
    ("model", "str"),
    ("model_id", "str"),
    ("item", "str"),
    ("country", "str"),
    ("persona", "str"),
    ("replicate", "int"),
    ("answers", "str"),
    ("raw_text", "str"),
    ("parsed_code", "int"),
    ("defaulted", "bool"),
    ("dropped", "bool"),
    ("probs", "json"),
    ("option_probs", "json"),
    ("valid_mass", "float"),
    ("outcome", "str"),
    ("reason", "str"),
    ("error", "str"),
    ("attempts", "int"),
    ("prompt_tokens", "int"),
    ("completion_tokens", "int"),
    ("cost", "float"),
    ("cached", "bool"),
    ("provider_model", "str"),
    ("started_at", "str"),
    ("finished_at", "str"),
)


@frozen
class AnswerTable:
    """The columns and a one-pass iterator of rows (tuples in column order) of a run's answers."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: Iterator[tuple[Any, ...]]
    note: str  # which answers: the current plan's, and how many of another plan were left out


def answer_columns(attributes: Sequence[str]) -> tuple[tuple[str, str], ...]:
    at = [name for name, _ in BASE_COLUMNS].index("persona") + 1
    return (*BASE_COLUMNS[:at], *((f"persona.{a}", "str") for a in attributes), *BASE_COLUMNS[at:])


@contextmanager
def open_answer_table(run_dir: str | os.PathLike[str]):
    """The run's answer table, read while the store is open (use as a context manager)."""
    spec, rundir = load_run_spec(run_dir)
    personas = _personas(rundir)
    attributes = sorted({key for p in personas.values() for key in ((p or {}).get("attributes") or {})})
    columns = answer_columns(attributes)
    try:
        with rundir.open_store() as store:
            records, note = _current_records(rundir, spec, store)
            rows = _rows(spec, records, personas, attributes)
            yield AnswerTable(tuple(n for n, _ in columns), tuple(t for _, t in columns), rows, note)
    except StoreError as error:
        raise ReportError(str(error)) from error


def _personas(rundir: RunDirectory) -> dict[str, Any]:
    header = (rundir.header_json() or {}).get("header") or {}
    personas = header.get("personas") or {}
    return personas if isinstance(personas, dict) else {}


def _current_records(rundir: RunDirectory, spec: Spec, store: Any) -> tuple[Iterator[AnswerRecord], str]:
    """The current plan's stored answers (as ``silspec report`` scores them), streamed."""
    n_answers = store.count_answers()
    if rundir.holds_one_complete_plan(spec, n_answers):
        return store.iter_answers(), f"{n_answers} answers (one complete plan)"
    current = rundir.current_plan(spec, with_ids=False)
    if current.source == "store":
        outside = sum(n for _, n in store.answers_outside_plans(current.plan_hashes))
        note = f"the current plan's answers ({outside} stored answers of a superseded plan left out)"
        return store.iter_answers(plan_hashes=current.plan_hashes), note
    if current.ids is not None:
        ids = current.ids
        return (r for r in store.iter_answers() if r.request_id in ids), "the current plan's answers (plan recompiled)"
    return store.iter_answers(), f"all {n_answers} stored answers (the current plan cannot be told apart: {current.why})"


def _rows(spec: Spec, records: Iterable[AnswerRecord], personas: dict[str, Any],
          attributes: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    return answer_rows(records, personas, attributes, model_prices(spec))


def model_prices(spec: Spec) -> dict[str, Any]:
    """Model name -> its price and where it comes from (``silspec.run.prices.price_for``)."""
    return {name: price_for(model) for name, model in spec.models.items()}


def answer_rows(records: Iterable[AnswerRecord], personas: Mapping[str, Any], attributes: Sequence[str],
                prices: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The table's rows (``answer_columns(attributes)`` order) of ``records``: what
    ``silspec report --answers`` writes and the viewer's CSV download streams."""
    for r in records:
        found = ((personas.get(r.persona) or {}).get("attributes") or {})
        price = prices.get(r.model)
        lean = row_of(r)
        yield (
            r.request_id, r.condition, r.model, r.model_id, r.item, r.country, r.persona,
            *(_text(found.get(a)) for a in attributes),
            r.replicate, r.answers, r.raw_text, r.parsed_code, bool(r.defaulted), bool(r.dropped),
            _codes(r.probs), _codes(r.option_probs), r.valid_mass, r.outcome, r.reason, r.error, r.attempts,
            r.prompt_tokens, r.completion_tokens, answer_cost(price, lean) if price is not None else None,
            bool(lean.cached), r.provider_model, r.started_at, r.finished_at,
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _codes(probs: dict | None) -> dict[int, float] | None:
    """Probabilities keyed by integer code (the store keeps JSON text keys)."""
    if probs is None:
        return None
    return {int(k): float(v) for k, v in probs.items()}


# ---------------------------------------------------------------------------------- writers


def write_answers(run_dir: str | os.PathLike[str], *, format: str = "csv",
                  out: str | os.PathLike[str] | None = None) -> tuple[int, str]:
    """Write the answer table as CSV (to ``out`` or stdout) or Parquet (``out`` required).

    Returns (rows written, which answers). ``ReportError`` for a format that is not a table
    format, Parquet without a file, or Parquet without pyarrow.
    """
    if format not in ANSWER_FORMATS:
        raise ReportError(f"--answers writes {' or '.join(ANSWER_FORMATS)}, not {format!r}")
    if format == "parquet":
        if out is None:
            raise ReportError("--format parquet writes a binary file: give --out FILE.parquet")
        _require_pyarrow()
    with open_answer_table(run_dir) as table:
        if format == "parquet":
            return write_parquet(table, Path(out)), table.note
        if out is None:
            return write_csv(table, sys.stdout), table.note
        with open(out, "w", encoding="utf-8", newline="") as handle:
            return write_csv(table, handle), table.note


def write_csv(table: AnswerTable, handle: TextIO) -> int:
    """Row by row; dicts (probabilities) as JSON text, booleans as true/false, None as empty."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(table.columns)
    n = 0
    for row in table.rows:
        writer.writerow(csv_cells(row))
        n += 1
    return n


def csv_cells(row: Sequence[Any]) -> list[Any]:
    """One table row as CSV cells (how ``write_csv`` writes each value)."""
    return [_csv_cell(value) for value in row]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _json_text(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _json_text(value: dict | None) -> str | None:
    return None if value is None else json.dumps({str(k): v for k, v in value.items()}, sort_keys=False)


def _require_pyarrow() -> Any:
    try:
        import pyarrow  # optional: only the Parquet export needs it
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ReportError("--format parquet needs pyarrow: pip install 'silspec[data]'") from None
    return pyarrow


def write_parquet(table: AnswerTable, path: Path) -> int:
    """One row group per ``PARQUET_BATCH`` rows; probabilities as JSON text (every reader has it)."""
    pa = _require_pyarrow()
    import pyarrow.parquet as pq

    kinds = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "json": pa.string()}
    schema = pa.schema([(name, kinds[kind]) for name, kind in zip(table.columns, table.types)])
    json_columns = [i for i, kind in enumerate(table.types) if kind == "json"]
    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        batch: list[tuple[Any, ...]] = []
        for row in table.rows:
            if json_columns:
                row = tuple(_json_text(v) if i in json_columns else v for i, v in enumerate(row))
            batch.append(row)
            if len(batch) >= PARQUET_BATCH:
                writer.write_batch(_record_batch(pa, schema, batch))
                n += len(batch)
                batch = []
        if batch or n == 0:
            writer.write_batch(_record_batch(pa, schema, batch))
            n += len(batch)
    return n


def _record_batch(pa: Any, schema: Any, rows: list[tuple[Any, ...]]) -> Any:
    columns = list(zip(*rows)) if rows else [() for _ in schema]
    return pa.record_batch([pa.array(list(values), type=field.type) for values, field in zip(columns, schema)],
                           schema=schema)


def answer_frame(run_dir: str | os.PathLike[str]) -> Any:
    """The answer table as a pandas DataFrame (probabilities as dicts {code: p}); needs pandas."""
    try:
        import pandas  # optional: only this function needs it
    except ImportError:
        raise ImportError("the answers DataFrame needs pandas: pip install 'silspec[data]'") from None
    with open_answer_table(run_dir) as table:
        frame = pandas.DataFrame.from_records(list(table.rows), columns=list(table.columns))
    for name, kind in zip(table.columns, table.types):
        if kind == "int":
            frame[name] = frame[name].astype("Int64")  # nullable: parsed_code, tokens may be missing
        elif kind == "float":
            frame[name] = frame[name].astype("float64")  # None -> NaN
    return frame
