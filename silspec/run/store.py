"""The results store: one SQLite file per run directory, committed as answers arrive.

Why SQLite (stdlib) in WAL mode with ``synchronous=NORMAL``: a committed transaction survives
the process being killed (SIGKILL, OOM, a closed laptop lid), and a commit costs tens of
microseconds, so the executor can commit every answer the moment it arrives and a crash loses
only the requests that were in flight. One connection, one writer (the executor's event loop).

Tables (``docs/design/store.md`` has the full schema and the resume protocol):

- ``answers``   one row per request id (PRIMARY KEY): every ``AnswerRecord`` field;
- ``attempts``  append-only: every attempt's raw text / error / status / latency;
- ``manifest``  one row per invocation (spec hash, plan hash, versions, times, status);
- ``requests``  what each plan asked for (id, condition, model, item, persona, replicate), so a
  run directory can be reported on from the directory alone;
- ``meta``      schema version.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import attrs
import cattrs

from silspec.run.records import AnswerRecord, AttemptRecord


# 2: answers carry their verdict (outcome answered|invalid|refused|error, reason, probs,
#    dropped, scorer); schema 1 stores are migrated on open (``_migrate``).
SCHEMA_VERSION = 2
STORE_FILE = "store.sqlite"

_converter = cattrs.Converter()

# Fields stored as JSON text (dicts); everything else maps to a SQLite scalar column.
_JSON_FIELDS = frozenset({"params", "option_probs", "probs", "meta"})
_BOOL_FIELDS = frozenset({"defaulted", "dropped"})
_ANSWER_FIELDS: tuple[str, ...] = tuple(a.name for a in attrs.fields(AnswerRecord))
_ATTEMPT_FIELDS: tuple[str, ...] = tuple(a.name for a in attrs.fields(AttemptRecord))

_SQL_TYPES = {int: "INTEGER", float: "REAL", bool: "INTEGER", str: "TEXT"}


def _column_type(field: attrs.Attribute) -> str:
    if field.name in _JSON_FIELDS:
        return "TEXT"
    for python_type, sql_type in _SQL_TYPES.items():
        if field.type is python_type or str(field.type).startswith(python_type.__name__):
            return sql_type
    return "TEXT"


def _answer_columns_sql() -> str:
    columns = []
    for field in attrs.fields(AnswerRecord):
        column = f"{field.name} {_column_type(field)}"
        if field.name == "request_id":
            column += " PRIMARY KEY"
        columns.append(column)
    return ", ".join(columns)


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers ({_answer_columns_sql()}, invocation INTEGER);
CREATE INDEX IF NOT EXISTS answers_condition ON answers (condition);
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL, attempt INTEGER NOT NULL, raw_text TEXT, error TEXT,
    error_status INTEGER, latency_s REAL, at TEXT NOT NULL, invocation INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_request ON attempts (request_id);
CREATE TABLE IF NOT EXISTS manifest (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
    spec_hash TEXT, plan_hash TEXT, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, condition TEXT NOT NULL, model TEXT NOT NULL, item TEXT NOT NULL,
    persona TEXT NOT NULL, replicate INTEGER NOT NULL, prompt_hash TEXT, invocation INTEGER
);
CREATE TABLE IF NOT EXISTS plans (
    plan_hash TEXT PRIMARY KEY, spec_hash TEXT NOT NULL, overrides TEXT NOT NULL,
    conditions TEXT NOT NULL, plan_limit INTEGER, n_requests INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS plan_requests (
    plan_hash TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (plan_hash, request_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, model TEXT NOT NULL, input_file_id TEXT NOT NULL,
    request_ids TEXT NOT NULL, n_requests INTEGER NOT NULL, n_bytes INTEGER NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    output_file_id TEXT, error_file_id TEXT, counts TEXT, errors TEXT, invocation INTEGER
);
"""
# Tables added after schema 2 without a version bump (an older silspec reads such a store and
# ignores them): `plans` and `plan_requests` say which request ids make up each plan run into
# the directory (docs/design/run-directory.md). A store made before them has no `plans` row.
# `batches` (Batch API jobs: ``silspec.run.batch``) is added the same way: the provider's batch
# id of every submitted file, so a killed run polls the same batches instead of paying again.
RECORD_CHUNK = 10_000  # request rows per executemany: a streamed plan never sits in a list


class AnswerRow(NamedTuple):
    """The columns of a stored answer the analysis reads, and nothing else (``Store.iter_answer_rows``).

    ~10x lighter than an ``AnswerRecord``: no reply text, no parameters, no timing, and the
    ``meta`` JSON never decoded (only its ``option_tokens``, which the scorer hash depends on).
    ``probs`` and ``option_tokens`` are JSON text (``option_tokens`` is ``'null'`` when absent). Scoring an answer again needs the
    whole record: ``Store.get_answer(request_id)``.
    """

    request_id: str
    condition: str
    item: str
    persona: str
    replicate: int
    answers: str
    outcome: str
    parsed_code: int | None
    defaulted: int
    dropped: int
    probs: str | None
    valid_mass: float | None
    country: str | None
    provider_model: str | None
    system_fingerprint: str | None
    scorer: str | None
    option_tokens: str | None
    # what the report's tokens and cost read (silspec.analysis.usage): the provider's counts, and
    # whether the answer was reused from the results cache or came back from a Batch API job
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: int = 0
    batched: int = 0


_ROW_EXPRESSIONS = {
    # json_quote: the value as JSON text whatever its type ('null' when absent)
    "option_tokens": "json_quote(json_extract(meta, '$.option_tokens'))",
    "cached": "coalesce(meta LIKE '%\"cached_from\"%' AND json_extract(meta, '$.cached_from') IS NOT NULL, 0)",
    "batched": "coalesce(meta LIKE '%\"batch_id\"%' AND json_extract(meta, '$.batch_id') IS NOT NULL, 0)",
}
_ANSWER_ROW_SQL = ", ".join(_ROW_EXPRESSIONS.get(name, name) for name in AnswerRow._fields)
_INSERT_ATTEMPT_SQL = (
    "INSERT INTO attempts (request_id, attempt, raw_text, error, error_status, latency_s, at,"
    " invocation) VALUES (:request_id, :attempt, :raw_text, :error, :error_status, :latency_s, :at, :invocation)"
)
_INSERT_ANSWER_SQL = (
    f"INSERT OR REPLACE INTO answers ({', '.join((*_ANSWER_FIELDS, 'invocation'))})"
    f" VALUES ({', '.join(f':{name}' for name in (*_ANSWER_FIELDS, 'invocation'))})"
)
ROW_CHUNK = 5_000  # rows fetched per cursor.fetchmany: the analysis never holds a result set


class StoreError(Exception):
    """A run directory that cannot be opened as a store (missing, newer schema, corrupt)."""


class StoreFailure(Exception):
    """The store stopped accepting answers mid-run (disk full, read-only, file deleted).

    The executor stops every model at the first one: an answer that cannot be stored is paid
    for and lost, so nothing more is asked (``docs/design/store.md``).
    """


SQLITE_MAGIC = b"SQLite format 3\x00"
SYNCHRONOUS_MODES = ("NORMAL", "FULL")
# Below this much free space on the store's filesystem no request is sent: its answer (about
# 1.5 kB, plus WAL pages) could not be kept. Generous, so SQLite never meets a full disk mid-commit.
MIN_FREE_BYTES = 4 * 1024 * 1024
_USE_FRESH = "move it away, or rerun with --fresh (which keeps it as a .bak file)"


def validate_store_file(path: Path) -> None:
    """Refuse a file that exists but is not a silspec store, before SQLite touches it.

    SQLite happily turns a zero-byte file into a new empty database, and an unrelated database
    into one with silspec's tables added: either would silently start the run over (and pay for
    every answer again). Damage inside a real store is found by ``PRAGMA quick_check`` at open.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read the results store {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise StoreError(f"cannot open {path}: it is empty (0 bytes), not a silspec results store; {_USE_FRESH}")
    if head != SQLITE_MAGIC:
        raise StoreError(f"cannot open {path}: it is not a silspec results store (not an SQLite database);"
                         f" {_USE_FRESH}")


# Schema 1 kept a transport outcome (ok | error) and the runner's live parse apart; schema 2
# keeps one verdict. An old row's verdict is mapped from what it stored, and its ``scorer`` stays
# NULL: the analysis scores such rows from their text with the current parser, exactly as
# schema 1 stores were always reported.
_MIGRATE_1_TO_2 = """
UPDATE answers SET outcome = CASE
    WHEN outcome = 'error' OR parse_outcome = 'error' THEN 'error'
    WHEN parse_outcome = 'refusal' THEN 'refused'
    WHEN parse_outcome = 'invalid' THEN 'invalid'
    WHEN answers = 'option_probs' AND option_probs IS NULL THEN 'error'
    ELSE 'answered' END
WHERE outcome NOT IN ('answered', 'invalid', 'refused', 'error');
UPDATE answers SET reason = coalesce(error, 'the endpoint returned no log-probabilities'),
    error = coalesce(error, 'the endpoint returned no log-probabilities')
WHERE outcome = 'error' AND answers = 'option_probs' AND option_probs IS NULL;
UPDATE answers SET reason = error WHERE outcome = 'error' AND reason IS NULL;
"""


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a store of an older schema up to ``SCHEMA_VERSION`` in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        present = {row[1] for row in db.execute("PRAGMA table_info(answers)")}
        for field in attrs.fields(AnswerRecord):
            if field.name not in present:
                db.execute(f"ALTER TABLE answers ADD COLUMN {field.name} {_column_type(field)}")
        if version < 2 and "parse_outcome" in present:
            for statement in _MIGRATE_1_TO_2.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# one encoder for every row (``json.dumps`` with options builds a new one per call: 3 per answer)
_ROW_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def answer_to_row(record: AnswerRecord) -> dict[str, Any]:
    row = _converter.unstructure(record)
    encode = _ROW_ENCODER.encode
    for name in _JSON_FIELDS:
        value = row[name]
        row[name] = None if value is None else encode(value)
    for name in _BOOL_FIELDS:
        row[name] = int(row[name])
    return row


def row_to_answer(row: sqlite3.Row | dict[str, Any]) -> AnswerRecord:
    data = {name: row[name] for name in _ANSWER_FIELDS}
    for name in _JSON_FIELDS:
        value = data[name]
        data[name] = None if value is None else json.loads(value)
    if data["meta"] is None:
        data["meta"] = {}
    for name in _BOOL_FIELDS:
        data[name] = bool(data[name])
    return _converter.structure(data, AnswerRecord)


class Store:
    """A run's answers, attempts and manifests. Not thread-safe: one writer by design."""

    def __init__(self, path: Path, connection: sqlite3.Connection, synchronous: str = "NORMAL"):
        self.path = path
        self._db = connection
        self._invocation: int | None = None
        self.synchronous = synchronous
        # the file and its folder as strings: ``check_writable`` runs twice per request, and
        # ``Path.stat`` / ``Path.parent`` cost more than the system calls themselves
        self._path_str, self._folder_str = os.fspath(path), os.fspath(path.parent)
        self._identity = _identity(self._path_str)
        self._deferred: list[dict[str, Any]] = []  # attempt rows waiting for their answer's commit
        self._batch = False  # inside ``open_batch``: each answer is a savepoint of one transaction

    # ------------------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str], *, create: bool = True,
             synchronous: str = "NORMAL") -> "Store":
        """Open (or, with ``create``, start) the store of ``run_dir``.

        An existing file must be a silspec store: an empty, foreign or damaged file is a
        ``StoreError``, never a new store. ``synchronous``: ``NORMAL`` (default: a commit
        survives the process being killed) or ``FULL`` (also a power loss; slower), see
        ``docs/design/store.md``.
        """
        run_dir = Path(run_dir)
        path = run_dir / STORE_FILE
        synchronous = synchronous.upper()
        if synchronous not in SYNCHRONOUS_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, got {synchronous!r}")
        existed = path.exists()
        if not existed:
            if not create:
                raise StoreError(f"no results store in {run_dir} (expected {STORE_FILE})")
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            validate_store_file(path)
        try:
            db = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=5000")
            if existed:
                _check_existing(db, path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            # One transaction: a store is never left with tables but no schema version (which
            # the next open would refuse as foreign).
            db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if version is None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(version[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} has store schema {version[0]}; this silspec reads up to {SCHEMA_VERSION}"
                )
            elif int(version[0]) < SCHEMA_VERSION:
                _migrate(db, int(version[0]))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {path}: {describe_sqlite_error(exc)}") from exc
        return cls(path, db, synchronous)

    def check_writable(self) -> None:
        """``StoreFailure`` unless an answer asked now could be stored: the file is still the one
        opened (not deleted or replaced) and its disk has room. Called before every request."""
        now = _identity(self._path_str)
        if now is None:
            raise StoreFailure(f"the results store {self.path} was deleted during the run")
        if now != self._identity:
            raise StoreFailure(f"the results store {self.path} was replaced by another file during the run")
        try:
            stats = os.statvfs(self._folder_str)
        except (OSError, AttributeError):  # no statvfs (Windows): SQLite's own errors still stop the run
            return
        free = stats.f_bavail * stats.f_frsize
        if free < MIN_FREE_BYTES:
            raise StoreFailure(
                f"the disk holding {self.path} is full ({free / 1e6:.1f} MB free; at least"
                f" {MIN_FREE_BYTES / 1e6:.0f} MB are needed to keep answers)"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------------- answers

    def answered_ids(self) -> set[str]:
        """Every request id with a stored row, errors included (a plain rerun skips them)."""
        return {row[0] for row in self._db.execute("SELECT request_id FROM answers")}

    def failed_ids(self) -> set[str]:
        """Request ids stored with outcome ``error``: what ``--retry-errors`` asks again."""
        return {
            row[0] for row in self._db.execute("SELECT request_id FROM answers WHERE outcome='error'")
        }

    def recorded_error_ids(self) -> set[str]:
        """Error rows replayed from recorded data (``meta.recorded_error``): not this run's failures."""
        return {
            row[0] for row in self._db.execute(
                "SELECT request_id FROM answers WHERE outcome='error'"
                " AND json_extract(meta, '$.recorded_error') = 1"
            )
        }

    def error_rows(self) -> list[tuple[str, str | None, int | None, bool]]:
        """(request id, error text, status, recorded?) of every error row: the summary groups them."""
        return [
            (row[0], row[1], row[2], bool(row[3])) for row in self._db.execute(
                "SELECT request_id, error, error_status,"
                " coalesce(json_extract(meta, '$.recorded_error'), 0) FROM answers WHERE outcome='error'"
            )
        ]

    def kept_ids(self, request_ids: Sequence[str], *, retry_errors: bool = False) -> set[str]:
        """Those of ``request_ids`` with a stored row a plain rerun keeps (with ``retry_errors``,
        error rows are not kept). One query for the whole chunk (the ids as one JSON array)."""
        sql = ("SELECT a.request_id FROM json_each(?) j JOIN answers a ON a.request_id = j.value"
               + (" WHERE a.outcome != 'error'" if retry_errors else ""))
        return {row[0] for row in self._db.execute(sql, (json.dumps(list(request_ids)),))}

    def row_states(self, request_ids: Sequence[str]) -> dict[str, tuple[str, int | None, bool, bool]]:
        """request id -> (outcome, invocation that wrote it, replayed recorded error?, taken from a
        results cache?) for those of ``request_ids`` with a row: what a run's summary counts."""
        rows = self._db.execute(
            "SELECT a.request_id, a.outcome, a.invocation,"
            " a.outcome = 'error' AND coalesce(json_extract(a.meta, '$.recorded_error'), 0) = 1,"
            " json_extract(a.meta, '$.cached_from') IS NOT NULL"
            " FROM json_each(?) j JOIN answers a ON a.request_id = j.value",
            (json.dumps(list(request_ids)),))
        return {row[0]: (row[1], row[2], bool(row[3]), bool(row[4])) for row in rows}

    def plan_error_rows(self, plan_hash: str) -> list[tuple[str, str | None, int | None, bool]]:
        """``error_rows`` of the requests of one recorded plan (a join, not a set of ids)."""
        return [
            (row[0], row[1], row[2], bool(row[3])) for row in self._db.execute(
                "SELECT request_id, error, error_status,"
                " coalesce(json_extract(meta, '$.recorded_error'), 0) FROM answers WHERE outcome='error'"
                " AND request_id IN (SELECT request_id FROM plan_requests WHERE plan_hash=?) ORDER BY rowid",
                (plan_hash,))
        ]

    @property
    def invocation(self) -> int | None:
        """The manifest row of this invocation (``begin_invocation``), tagging every row written."""
        return self._invocation

    def outcomes(self) -> dict[str, str]:
        """request id -> stored outcome, without building records (cheap for summaries)."""
        return dict(self._db.execute("SELECT request_id, outcome FROM answers").fetchall())

    def record_answer(self, record: AnswerRecord) -> None:
        """Insert or replace the row for ``record.request_id`` and commit at once, together with
        the attempts deferred to it (``defer_attempt``): one transaction, one commit.

        Inside ``open_batch`` the row and its attempts are one savepoint instead: all or nothing
        (an error leaves no part of them), committed with the batch by ``close_batch``."""
        row = answer_to_row(record)
        row["invocation"] = self._invocation
        sql = _INSERT_ANSWER_SQL
        if self._batch:
            self._record_in_batch(sql, row)
            return
        if not self._deferred:
            self._db.execute(sql, row)  # autocommit: one statement, committed at once
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_INSERT_ATTEMPT_SQL, self._deferred)
            self._db.execute(sql, row)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise  # the deferred attempts stay deferred: the next answer (an error row) takes them
        self._deferred.clear()

    def _record_in_batch(self, sql: str, row: dict[str, Any]) -> None:
        self._db.execute("SAVEPOINT answer")
        try:
            if self._deferred:
                self._db.executemany(_INSERT_ATTEMPT_SQL, self._deferred)
            self._db.execute(sql, row)
            self._db.execute("RELEASE answer")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls some failures back whole (SQLITE_FULL)
                try:
                    self._db.execute("ROLLBACK TO answer")
                    self._db.execute("RELEASE answer")
                except sqlite3.Error:
                    pass  # the batch is gone: ``close_batch`` says so; the first error stands
            raise  # the deferred attempts stay deferred, as outside a batch
        self._deferred.clear()

    def open_batch(self) -> None:
        """Start one transaction for several ``record_answer`` calls: group commit.

        Why: a commit writes every page it touched to the WAL (the answer's table and index
        pages, the attempt's), ~80 us of CPU per answer alone against ~35 us for answers
        committed twenty at a time (``docs/design/store.md``). Each answer is still all or nothing
        (a savepoint); none of them counts as stored until ``close_batch`` has committed."""
        if self._batch:
            raise RuntimeError("a batch is already open")
        self._db.execute("BEGIN")
        self._batch = True

    def close_batch(self, *, commit: bool = True) -> None:
        """Commit the batch (or roll it back). An error means none of its answers is stored:
        the commit failed, or SQLite had already rolled the whole transaction back (a full disk)."""
        self._batch = False
        if not commit:
            self._rollback()
            return
        if not self._db.in_transaction:
            raise sqlite3.OperationalError("the batch's transaction was rolled back by SQLite")
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def record_attempt(self, attempt: AttemptRecord) -> None:
        """Append an attempt row and commit at once."""
        self._db.execute(_INSERT_ATTEMPT_SQL, self._attempt_row(attempt))

    def defer_attempt(self, attempt: AttemptRecord) -> None:
        """Keep ``attempt`` for the next ``record_answer`` (the answer it led to), committed in the
        same transaction: one commit per answer instead of two. Until then it is in memory only;
        ``flush_attempts`` commits what no answer took (a re-ask, the end of a run)."""
        self._deferred.append(self._attempt_row(attempt))

    def flush_attempts(self) -> None:
        """Commit the deferred attempts now (one transaction)."""
        if not self._deferred:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_INSERT_ATTEMPT_SQL, self._deferred)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._deferred.clear()

    def _rollback(self) -> None:
        """Roll back an open transaction; SQLite has already rolled back some failed ones
        (``SQLITE_FULL``), and a second error must not hide the first."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _attempt_row(self, attempt: AttemptRecord) -> dict[str, Any]:
        row = _converter.unstructure(attempt)
        row["invocation"] = self._invocation
        return row

    def get_answer(self, request_id: str) -> AnswerRecord | None:
        row = self._db.execute("SELECT * FROM answers WHERE request_id=?", (request_id,)).fetchone()
        return None if row is None else row_to_answer(row)

    def iter_answers(self, condition: str | None = None, *,
                     plan_hashes: Iterable[str] | None = None) -> Iterator[AnswerRecord]:
        """Stored answers in storage order, read a cursor batch at a time (never the whole table);
        ``plan_hashes`` keeps those of the recorded plans (a join, like ``iter_answer_rows``)."""
        clauses, args = [], []
        if condition is not None:
            clauses.append("condition=?")
            args.append(condition)
        if plan_hashes is not None:
            hashes = list(plan_hashes)
            clauses.append(f"request_id IN ({_plan_members_sql(hashes)})")
            args += hashes
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        cursor = self._db.execute(f"SELECT * FROM answers{where} ORDER BY rowid", args)
        for row in cursor:
            yield row_to_answer(row)

    def iter_answer_rows(self, plan_hashes: Iterable[str] | None = None) -> Iterator[AnswerRow]:
        """Every stored answer as an ``AnswerRow``, in storage order; with ``plan_hashes``, only
        the answers whose request belongs to one of those recorded plans (a join in SQLite, not a
        set of ids in Python)."""
        sql, args = f"SELECT {_ANSWER_ROW_SQL} FROM answers", ()
        if plan_hashes is not None:
            hashes = list(plan_hashes)
            sql += f" WHERE request_id IN ({_plan_members_sql(hashes)})"
            args = tuple(hashes)
        cursor = self._db.cursor()
        cursor.row_factory = None  # plain tuples: sqlite3.Row per answer costs more than the row
        cursor.execute(sql + " ORDER BY rowid", args)
        make = AnswerRow._make
        while rows := cursor.fetchmany(ROW_CHUNK):
            for row in rows:
                yield make(row)

    def answers_outside_plans(self, plan_hashes: Iterable[str]) -> list[tuple[str, int]]:
        """(condition, stored answers not in any of ``plan_hashes``), conditions in storage order."""
        hashes = list(plan_hashes)
        rows = self._db.execute(
            f"SELECT condition, count(*) FROM answers WHERE request_id NOT IN ({_plan_members_sql(hashes)})"
            " GROUP BY condition ORDER BY min(rowid)", hashes)
        return [(row[0], int(row[1])) for row in rows]

    def cached_answers(self) -> list[tuple[str, Any]]:
        """(request id, ``meta.cached_from``) of every answer ``silspec run --cache`` reused: few rows,
        found by a LIKE prefilter on the meta text so no other row's JSON is decoded."""
        rows = self._db.execute("SELECT request_id, meta FROM answers WHERE meta LIKE '%\"cached_from\"%'")
        found: list[tuple[str, Any]] = []
        for request_id, meta in rows:
            origin = (json.loads(meta) if meta else {}).get("cached_from")
            if origin:
                found.append((request_id, origin))
        return found

    def plan_members(self, request_ids: Iterable[str], plan_hashes: Iterable[str]) -> list[str]:
        """Those of ``request_ids`` that belong to one of the recorded ``plan_hashes``."""
        hashes, ids, found = list(plan_hashes), list(request_ids), []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._db.execute(
                f"SELECT DISTINCT request_id FROM plan_requests WHERE plan_hash IN ({', '.join('?' * len(hashes))})"
                f" AND request_id IN ({', '.join('?' * len(chunk))})", [*hashes, *chunk]) if hashes else ()
            found.extend(row[0] for row in rows)
        return found

    def count_plan_requests(self, plan_hashes: Iterable[str]) -> int:
        """Distinct request ids of the given recorded plans together."""
        hashes = list(plan_hashes)
        return int(self._db.execute(f"SELECT count(*) FROM ({_plan_members_sql(hashes)})", hashes).fetchone()[0])

    def iter_attempts(self, request_id: str | None = None) -> Iterator[AttemptRecord]:
        sql = "SELECT * FROM attempts"
        args: tuple[Any, ...] = ()
        if request_id is not None:
            sql += " WHERE request_id=?"
            args = (request_id,)
        for row in self._db.execute(sql + " ORDER BY seq", args):
            yield _converter.structure({k: row[k] for k in _ATTEMPT_FIELDS}, AttemptRecord)

    def count_answers(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def delete_answer(self, request_id: str) -> bool:
        cursor = self._db.execute("DELETE FROM answers WHERE request_id=?", (request_id,))
        return cursor.rowcount > 0

    # -------------------------------------------------------------------------- requests

    def record_requests(self, requests: Iterable[Any], plan: Any = None) -> None:
        """Remember what a plan asks (first sighting wins), in one transaction.

        With ``plan`` (a ``Plan``: its hash and header), also which request ids belong to that
        plan: its ``plans`` row is marked complete in the same transaction, so a half-recorded
        plan is never taken for a whole one.
        """
        header = getattr(plan, "header", None)
        self._db.execute("BEGIN")
        try:
            if plan is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO plans (plan_hash, spec_hash, overrides, conditions, plan_limit,"
                    " n_requests, complete) VALUES (?, ?, ?, ?, ?, 0, 0)",
                    (plan.plan_hash, header.spec_hash, json.dumps([list(p) for p in header.overrides]),
                     json.dumps(list(header.conditions)), header.limit),
                )
            n_requests = 0
            chunk: list[Any] = []
            for request in requests:
                chunk.append(request)
                if len(chunk) >= RECORD_CHUNK:
                    n_requests += self._record_chunk(chunk, plan)
                    chunk = []
            n_requests += self._record_chunk(chunk, plan)
            if plan is not None:
                self._db.execute("UPDATE plans SET n_requests=?, complete=1 WHERE plan_hash=?",
                                 (n_requests, plan.plan_hash))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _record_chunk(self, requests: list[Any], plan: Any) -> int:
        self._db.executemany(
            "INSERT OR IGNORE INTO requests (request_id, condition, model, item, persona,"
            " replicate, prompt_hash, invocation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((r.id, r.condition, r.model, r.item, r.persona, r.replicate, r.prompt_hash, self._invocation)
             for r in requests),
        )
        if plan is not None:
            self._db.executemany(
                "INSERT OR IGNORE INTO plan_requests (plan_hash, request_id) VALUES (?, ?)",
                ((plan.plan_hash, r.id) for r in requests),
            )
        return len(requests)

    # ------------------------------------------------------------------------ plan membership

    def recorded_plans(self) -> list[dict[str, Any]]:
        """Every plan whose membership was recorded whole: hash, spec hash, overrides,
        conditions, limit and request count (empty for a store made before the table)."""
        rows = self._db.execute(
            "SELECT plan_hash, spec_hash, overrides, conditions, plan_limit, n_requests FROM plans"
            " WHERE complete=1 ORDER BY rowid"
        )
        return [
            {"plan_hash": r[0], "spec_hash": r[1], "overrides": [tuple(p) for p in json.loads(r[2])],
             "conditions": json.loads(r[3]), "limit": r[4], "n_requests": r[5]}
            for r in rows
        ]

    def plan_request_ids(self, plan_hashes: Iterable[str]) -> frozenset[str]:
        """The request ids of the given recorded plans, together."""
        hashes = list(plan_hashes)
        if not hashes:
            return frozenset()
        marks = ", ".join("?" * len(hashes))
        return frozenset(
            row[0]
            for row in self._db.execute(
                f"SELECT DISTINCT request_id FROM plan_requests WHERE plan_hash IN ({marks})", hashes
            )
        )

    def requested_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT request_id FROM requests")}

    # --------------------------------------------------------------------------- batches

    def record_batch(self, *, batch_id: str, model: str, input_file_id: str, request_ids: Iterable[str],
                     n_bytes: int, status: str) -> None:
        """Keep a submitted Batch API job the moment the provider accepted it (committed at once)."""
        ids = list(request_ids)
        now = _now()
        self._db.execute(  # autocommit: one statement, committed at once
            "INSERT OR REPLACE INTO batches (batch_id, model, input_file_id, request_ids, n_requests,"
            " n_bytes, status, created_at, updated_at, invocation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (batch_id, model, input_file_id, json.dumps(ids), len(ids), n_bytes, status, now, now,
             self._invocation),
        )

    def update_batch(self, batch_id: str, *, status: str, output_file_id: str | None = None,
                     error_file_id: str | None = None, counts: dict[str, Any] | None = None,
                     errors: list[str] | None = None) -> None:
        """The provider's latest word on a batch (status, result files, counts, batch-level errors)."""
        self._db.execute(  # autocommit: one statement, committed at once
            "UPDATE batches SET status=?, updated_at=?, output_file_id=coalesce(?, output_file_id),"
            " error_file_id=coalesce(?, error_file_id), counts=coalesce(?, counts),"
            " errors=coalesce(?, errors) WHERE batch_id=?",
            (status, _now(), output_file_id, error_file_id,
             None if counts is None else json.dumps(counts, sort_keys=True),
             None if errors is None else json.dumps(errors), batch_id),
        )

    def batches(self, model: str | None = None) -> list[dict[str, Any]]:
        """Every batch kept (oldest first), request ids decoded; ``model`` filters."""
        query = "SELECT * FROM batches" + (" WHERE model=?" if model is not None else "") + " ORDER BY rowid"
        out = []
        for row in self._db.execute(query, () if model is None else (model,)):
            item = dict(row)
            item["request_ids"] = json.loads(item["request_ids"])
            for key in ("counts", "errors"):
                item[key] = None if item[key] is None else json.loads(item[key])
            out.append(item)
        return out

    def answer_times(self, request_ids: Iterable[str]) -> dict[str, str]:
        """request id -> when its stored row was written (``finished_at``), for those with a row."""
        wanted = set(request_ids)
        rows = self._db.execute("SELECT request_id, finished_at FROM answers")
        return {rid: at or "" for rid, at in rows if rid in wanted}

    def batch_ids_of_answers(self, request_ids: Iterable[str]) -> dict[str, str]:
        """request id -> the batch id its stored row came from (``meta.batch_id``), where it did."""
        wanted = set(request_ids)
        rows = self._db.execute(
            "SELECT request_id, json_extract(meta, '$.batch_id') FROM answers"
            " WHERE json_extract(meta, '$.batch_id') IS NOT NULL")
        return {rid: bid for rid, bid in rows if rid in wanted}

    # -------------------------------------------------------------------------- manifest

    def begin_invocation(self, manifest: Any) -> int:
        """Open a manifest row (status ``running``); later writes are tagged with its id."""
        data = _converter.unstructure(manifest)
        cursor = self._db.execute(
            "INSERT INTO manifest (started_at, status, spec_hash, plan_hash, data)"
            " VALUES (?, 'running', ?, ?, ?)",
            (
                data.get("started_at") or _now(),
                data.get("spec_hash"),
                data.get("plan_hash"),
                json.dumps(data, sort_keys=True, ensure_ascii=False),
            ),
        )
        self._invocation = int(cursor.lastrowid)
        return self._invocation

    def end_invocation(self, invocation_id: int, status: str) -> None:
        self._db.execute(
            "UPDATE manifest SET finished_at=?, status=? WHERE id=?", (_now(), status, invocation_id)
        )

    def manifests(self) -> list[dict[str, Any]]:
        """Every invocation, oldest first: the stored manifest plus id, times and status."""
        result = []
        for row in self._db.execute("SELECT * FROM manifest ORDER BY id"):
            entry = json.loads(row["data"])
            entry.update(
                id=row["id"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                status=row["status"],
            )
            result.append(entry)
        return result


def _plan_members_sql(plan_hashes: list[str]) -> str:
    """A subquery: the distinct request ids of ``plan_hashes`` (bound as ``?`` parameters)."""
    if not plan_hashes:
        return "SELECT request_id FROM plan_requests WHERE 0"
    return f"SELECT DISTINCT request_id FROM plan_requests WHERE plan_hash IN ({', '.join('?' * len(plan_hashes))})"


def move_aside(run_dir: str | os.PathLike[str]) -> Path | None:
    """``--fresh``: rename ``store.sqlite`` (and its WAL files) to ``store.sqlite.<stamp>.bak``.

    Also the way out of a refused (empty, foreign, damaged) store: such a file is moved as it is.
    """
    path = Path(run_dir) / STORE_FILE
    if not path.exists():
        return None
    # A checkpoint folds the WAL into the main file so the backup is one self-contained file.
    healthy = True
    try:
        validate_store_file(path)
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    except (StoreError, sqlite3.DatabaseError):
        healthy = False  # not a store SQLite can fold: keep its WAL files beside the backup
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    backup = path.with_name(f"{STORE_FILE}.{stamp}.bak")
    counter = 1
    while backup.exists():
        backup = path.with_name(f"{STORE_FILE}.{stamp}-{counter}.bak")
        counter += 1
    path.rename(backup)
    for suffix in ("-wal", "-shm"):
        leftover = path.with_name(STORE_FILE + suffix)
        if leftover.exists() and healthy:
            leftover.unlink()  # emptied by the checkpoint
        elif leftover.exists():
            leftover.rename(backup.with_name(backup.name + suffix))
    return backup


def _check_existing(db: sqlite3.Connection, path: Path) -> None:
    """An existing SQLite file must be an undamaged silspec store (see ``validate_store_file``)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables or "answers" not in tables:
        found = ", ".join(sorted(tables)) or "no tables"
        raise StoreError(f"cannot open {path}: it is an SQLite database but not a silspec results store"
                         f" (it has {found}); {_USE_FRESH}")
    if db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() is None:
        raise StoreError(f"cannot open {path}: it has silspec tables but no schema version; {_USE_FRESH}")
    problems = [line for row in db.execute("PRAGMA quick_check(5)") for line in str(row[0]).splitlines()]
    if problems != ["ok"]:
        raise StoreError(f"cannot open {path}: it is damaged (SQLite integrity check: {'; '.join(problems)});"
                         f" {_USE_FRESH}; the answers it still holds can be read with the sqlite3 tool")


def describe_sqlite_error(exc: BaseException) -> str:
    """A SQLite or OS error in words a user can act on (full disk, read-only, damaged file)."""
    text = str(exc)
    lowered = text.lower()
    if "full" in lowered or getattr(exc, "errno", None) == 28:
        return f"the disk is full ({text})"
    if "readonly" in lowered or "read-only" in lowered:
        return f"the store is read-only ({text}): check the file's and folder's permissions"
    if "not a database" in lowered or "malformed" in lowered:
        return f"the file is damaged or not a silspec store ({text}); {_USE_FRESH}"
    if "disk i/o" in lowered:
        return f"a disk I/O error ({text}): the file may have been deleted, or the disk failed"
    return text


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        stats = os.stat(path)
    except OSError:
        return None
    return stats.st_dev, stats.st_ino


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
