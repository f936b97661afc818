"""Individual-level survey files (microdata): CSV, SPSS ``.sav``/``.zsav`` and Stata ``.dta``.

One reader for the checker (columns and types, at lint) and the plan (the rows a population
samples), so both see the same table. SPSS and Stata files go through pyreadstat (the optional
``microdata`` extra); a CSV through the standard library, so shipped CSV rows read exactly as
before. Every value becomes the string the plan and templates use: an integral number ``1.0``
is ``"1"``, a system-missing value (SPSS sysmis, Stata ``.``/``.a``-``.z``, an empty CSV cell)
is ``""``. SPSS user-missing codes (WVS negatives) are kept as their codes (``user_missing``):
which codes are missing is the spec's to say, per scale or descriptor table, not the file's.

Errors are ``MicrodataError`` with a message that names the file (and a line for a bad cell);
the checker turns them into diagnostics at the spec's reference, the plan into a ``PlanError``.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Iterable

from attrs import frozen

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".sav": "sav", ".zsav": "sav", ".dta": "dta"}


class MicrodataError(Exception):
    """A microdata file that cannot be read as the spec asks; the message says why."""


@frozen
class Header:
    """What a file says about itself before any row is read."""

    path: str
    format: str  # csv | sav | dta
    columns: tuple[str, ...]
    # column -> "numeric" | "string" where the file declares it (SPSS, Stata); None for a CSV
    types: dict[str, str] | None = None


def file_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise MicrodataError(
            f"{path}: unknown microdata format {ext or '(no extension)'!r}; "
            "silspec reads .csv (.tsv), SPSS .sav/.zsav and Stata .dta"
        )
    return FORMATS[ext]


def _pyreadstat():
    try:
        import pyreadstat
    except ImportError:
        raise MicrodataError(
            "reading SPSS/Stata files needs pyreadstat: pip install 'silspec[microdata]'"
        ) from None
    return pyreadstat


def _readstat(path: str, fmt: str, **kwargs):
    pyreadstat = _pyreadstat()
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    if fmt == "sav":
        kwargs["user_missing"] = True  # keep WVS's -1..-5 as codes; the spec says they are missing
    try:
        return reader(path, apply_value_formats=False, **kwargs)
    except pyreadstat.ReadstatError as exc:
        raise MicrodataError(f"{path} is not a readable {'SPSS' if fmt == 'sav' else 'Stata'} file ({exc})") from None
    except OSError as exc:
        raise MicrodataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pyreadstat raises plain exceptions for some corrupt files
        raise MicrodataError(f"{path} is not a readable {fmt} file ({type(exc).__name__}: {exc})") from None


def _csv_dialect(first_line: str) -> str:
    """The delimiter of a CSV: ``,`` unless its header line has more ``;`` or tabs (WVS has
    shipped both comma and semicolon CSVs)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _open_csv(path: str):
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
        first = handle.readline()
        handle.seek(0)
    except OSError as exc:
        raise MicrodataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MicrodataError(f"{path} is not UTF-8 text (save the CSV as UTF-8)") from None
    return handle, _csv_dialect(first)


def read_header(path: str) -> Header:
    """Columns (and declared types) of a microdata file, without reading its rows."""
    fmt = file_format(path)
    if not os.path.isfile(path):
        raise MicrodataError(f"{path} does not exist or is not a file")
    if fmt == "csv":
        handle, delimiter = _open_csv(path)
        with handle:
            try:
                header = next(csv.reader(handle, delimiter=delimiter), None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise MicrodataError(f"{path}: malformed CSV header ({exc})") from None
        if not header:
            raise MicrodataError(f"{path} is empty (no header row)")
        return Header(path, fmt, tuple(header))
    _, meta = _readstat(path, fmt, metadataonly=True)
    types = {name: ("string" if kind == "string" else "numeric")
             for name, kind in meta.readstat_variable_types.items()}
    return Header(path, fmt, tuple(meta.column_names), types)


def as_text(value) -> str:
    """A cell as the plan's string: ``1.0`` -> ``"1"``, missing -> ``""``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


_LAST: dict[tuple, list[dict[str, str]]] = {}  # one entry: lint then plan in one process read a 200 MB file once


def read_rows(path: str, columns: Iterable[str] | None = None) -> list[dict[str, str]]:
    """The file's rows as dicts of strings, keeping only ``columns`` (None: all of them).

    A CSV row with fewer cells than the header is an error naming its line (a truncated
    download), not a row of blanks. The last result is kept (keyed by the file's size and
    modification time, so a changed file is read again); callers must not modify it.
    """
    fmt = file_format(path)
    wanted = None if columns is None else list(dict.fromkeys(columns))
    try:
        info = os.stat(path)
        key = (os.path.realpath(path), info.st_size, info.st_mtime_ns, None if wanted is None else tuple(wanted))
    except OSError:
        key = None
    if key is not None and key in _LAST:
        return _LAST[key]
    rows = _read_rows(path, fmt, wanted)
    if key is not None:
        _LAST.clear()
        _LAST[key] = rows
    return rows


def _read_rows(path: str, fmt: str, wanted: list[str] | None) -> list[dict[str, str]]:
    if fmt == "csv":
        return _csv_rows(path, wanted)
    header = read_header(path)
    missing = [c for c in (wanted or ()) if c not in header.columns]
    if missing:
        raise MicrodataError(f"{path} has no column {missing[0]!r}")
    frame, _ = _readstat(path, fmt, usecols=wanted)
    names = list(frame.columns)
    cells = [[as_text(v) for v in frame[name].tolist()] for name in names]
    return [dict(zip(names, row)) for row in zip(*cells)]


def _csv_rows(path: str, wanted: list[str] | None) -> list[dict[str, str]]:
    handle, delimiter = _open_csv(path)
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header:
                raise MicrodataError(f"{path} is empty (no header row)")
            names = wanted if wanted is not None else header
            missing = [c for c in names if c not in header]
            if missing:
                raise MicrodataError(f"{path} has no column {missing[0]!r}")
            positions = [header.index(c) for c in names]
            width = len(header)
            rows = []
            for cells in reader:
                if not cells:
                    continue
                if len(cells) < width:
                    raise MicrodataError(
                        f"{path}:{reader.line_num}: {len(cells)} cells, the header has {width} "
                        "(a truncated or malformed file)"
                    )
                rows.append({name: cells[p] for name, p in zip(names, positions)})
            return rows
        except csv.Error as exc:
            raise MicrodataError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
        except UnicodeDecodeError:
            raise MicrodataError(f"{path} is not UTF-8 text (save the CSV as UTF-8)") from None


def first_non_number(rows: list[dict[str, str]], column: str, *, allow_blank: bool = True) -> tuple[int, str] | None:
    """``(row number, value)`` of the first cell of ``column`` that is not a number (1-based
    data rows, so a CSV's file line is this + 1), or None."""
    for n, row in enumerate(rows, start=1):
        value = (row.get(column) or "").strip()
        if not value:
            if allow_blank:
                continue
            return n, value
        try:
            float(value)
        except ValueError:
            return n, value
    return None
