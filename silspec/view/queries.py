"""Read-only SQL on a run's store: paged answers, one answer with its attempts, facet counts.

Why a fresh ``mode=ro`` connection per call: the viewer never writes (a run in progress keeps
its single writer), and a new connection sees every row committed so far, so a page refresh
shows new answers. Why LIMIT/OFFSET: a run may hold a million answers; only one page is read.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from silspec.run.records import AnswerRecord
from silspec.run.store import row_to_answer

OUTCOMES = ("answered", "invalid", "refused", "error")  # silspec.answers.outcomes, in report order
MAX_PAGE = 500
DEFAULT_PAGE = 50
LIST_TEXT_CHARS = 160  # the list shows the start of a reply; the detail shows all of it

_LIST_COLUMNS = (
    "rowid AS row", "request_id", "condition", "model", "model_id", "item", "persona", "replicate",
    "answers", "outcome", "reason", "parsed_code", "defaulted", "dropped", "probs", "option_probs",
    "attempts", "error", "error_status", "raw_text", "prompt_hash", "country",
)
_JSON_COLUMNS = ("probs", "option_probs", "params", "meta")


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection (never creates, never writes, never takes the writer's lock)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout=2000")
    return db


class Filters:
    """What the user narrowed the answers to; ``personas`` is the id set an attribute filter allows."""

    def __init__(self, condition: str = "", item: str = "", outcome: str = "", persona: str = "",
                 personas: Sequence[str] | None = None):
        self.condition, self.item, self.outcome, self.persona = condition, item, outcome, persona
        self.personas = personas

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for column in ("condition", "item", "outcome", "persona"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.personas is not None:
            clauses.append("persona IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(list(self.personas)))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def page_of_answers(path: Path, filters: Filters, *, limit: int, offset: int) -> dict[str, Any]:
    """One page of answers in store order, with the total the filters match."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    where, args = filters.where()
    with closing(connect(path)) as db:
        total = int(db.execute(f"SELECT COUNT(*) FROM answers{where}", args).fetchone()[0])
        rows = db.execute(
            f"SELECT {', '.join(_LIST_COLUMNS)} FROM answers{where} ORDER BY rowid LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
    return {"total": total, "limit": limit, "offset": offset, "rows": [_list_row(r) for r in rows]}


def one_answer(path: Path, request_id: str) -> dict[str, Any] | None:
    """Every stored field of one answer, and its attempts in the order they were made."""
    with closing(connect(path)) as db:
        row = db.execute("SELECT * FROM answers WHERE request_id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        attempts = db.execute(
            "SELECT seq, attempt, raw_text, error, error_status, latency_s, at, invocation"
            " FROM attempts WHERE request_id = ? ORDER BY seq", (request_id,)
        ).fetchall()
        requested = db.execute("SELECT prompt_hash FROM requests WHERE request_id = ?",
                               (request_id,)).fetchone()
    answer = {key: row[key] for key in row.keys()}
    for key in _JSON_COLUMNS:
        if key in answer:
            answer[key] = _json(answer[key])
    for key in ("defaulted", "dropped"):
        answer[key] = bool(answer.get(key))
    answer["attempt_rows"] = [dict(a) for a in attempts]
    answer["requested_prompt_hash"] = requested[0] if requested else None
    return answer


def facets(path: Path) -> dict[str, Any]:
    """Counts per condition, item and outcome (the filter choices), and the answer total."""
    with closing(connect(path)) as db:
        def counts(column: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in db.execute(
                f"SELECT {column}, COUNT(*) FROM answers GROUP BY {column} ORDER BY MIN(rowid)")}
        by_condition, by_item, by_outcome = counts("condition"), counts("item"), counts("outcome")
        n_attempts = int(db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
        n_requested = int(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
    return {
        "total": sum(by_outcome.values()),
        "conditions": by_condition,
        "items": by_item,
        "outcomes": {o: by_outcome.get(o, 0) for o in (*OUTCOMES, *sorted(set(by_outcome) - set(OUTCOMES)))},
        "attempts": n_attempts,
        "requested": n_requested,
    }


def data_version(path: Path) -> tuple[int, int]:
    """(answers, last rowid): changes whenever a row is added or replaced, for caches."""
    with closing(connect(path)) as db:
        n, last = db.execute("SELECT COUNT(*), coalesce(MAX(rowid), 0) FROM answers").fetchone()
    return int(n), int(last)


def _list_row(row: sqlite3.Row) -> dict[str, Any]:
    out = {key: row[key] for key in row.keys()}
    text = out.pop("raw_text")
    out["text"] = None if text is None else text[:LIST_TEXT_CHARS]
    out["text_truncated"] = text is not None and len(text) > LIST_TEXT_CHARS
    for key in ("probs", "option_probs"):
        out[key] = _json(out[key])
    out["defaulted"], out["dropped"] = bool(out["defaulted"]), bool(out["dropped"])
    return out


def _json(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def persona_ids_matching(personas: Mapping[str, Any], wanted: Mapping[str, str]) -> list[str]:
    """Ids of the plan's personas whose attributes equal every ``wanted`` value."""
    out = []
    for pid, persona in personas.items():
        attributes = (persona or {}).get("attributes") or {}
        if all(str(attributes.get(key)) == value for key, value in wanted.items()):
            out.append(pid)
    return out


_EXPORT_BATCH = 1000


def iter_export_records(path: Path, filters: Filters) -> Iterator[AnswerRecord]:
    """Every answer the filters match, in store order, as records, a batch at a time: a million
    rows stream without being held (the CSV download's rows: ``silspec.report.answers_table``)."""
    where, args = filters.where()
    with closing(connect(path)) as db:
        cursor = db.execute(f"SELECT * FROM answers{where} ORDER BY rowid", args)
        while True:
            batch = cursor.fetchmany(_EXPORT_BATCH)
            if not batch:
                return
            for row in batch:
                yield row_to_answer(row)
