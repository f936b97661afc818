"""An opt-in results cache shared across run directories (`silspec run --cache DIR`).

Keyed by request id: the id already hashes everything that changes an answer (backend, model
id, answer-changing parameters, messages, options, replicate, seed, and the request's
condition/item/persona coordinates), so an identical id is the same question and its stored
answer can be reused without asking again. One SQLite file, ``DIR/cache.sqlite``, holds the
answer record exactly as a run's store encodes it (``store.answer_to_row``), the run directory
it came from and when.

What is reused is marked where the user looks: the answer row in the new store carries
``meta.cached_from`` (source run, time), the run's manifest names the cache, the run summary
and the report count "N answers from the cache". Errors are never cached (a failed request
must be asked again); invalid and refused answers are the model's answers and are cached. A
cached verdict keeps its ``scorer`` hash, so the analysis scores it again when the current
parser differs, as it does for any stored answer.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import attrs

from silspec.plan.model import Request
from silspec.run.records import AnswerRecord
from silspec.run.store import answer_to_row, row_to_answer

CACHE_FILE = "cache.sqlite"
CACHE_SCHEMA = 1
_LOOKUP_CHUNK = 500  # ids per SELECT ... IN (...): under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    request_id TEXT PRIMARY KEY, record TEXT NOT NULL, source_run TEXT NOT NULL, stored_at TEXT NOT NULL
);
"""


class CacheError(Exception):
    """The cache folder or file cannot be used (not a folder, not a silspec cache, unwritable)."""


@attrs.frozen
class CachedAnswer:
    record: AnswerRecord
    source_run: str
    stored_at: str


class ResultsCache:
    """One cache file; a context manager. Several runs may share it (SQLite WAL, busy timeout)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise CacheError(f"--cache {self.directory}: not a folder")
        self.path = self.directory / CACHE_FILE
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            version = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(CACHE_SCHEMA),))
            elif version[0] != str(CACHE_SCHEMA):
                raise CacheError(f"{self.path}: cache schema {version[0]}, this silspec reads {CACHE_SCHEMA}")
        except (sqlite3.Error, OSError) as exc:
            raise CacheError(f"cannot use the results cache {self.path}: {exc}") from exc

    def __enter__(self) -> "ResultsCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def lookup(self, request_ids: Iterable[str]) -> dict[str, CachedAnswer]:
        """The cached answers among ``request_ids``."""
        ids = list(request_ids)
        found: dict[str, CachedAnswer] = {}
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for request_id, record, source, at in self._db.execute(
                f"SELECT request_id, record, source_run, stored_at FROM answers WHERE request_id IN ({marks})",
                chunk,
            ):
                found[request_id] = CachedAnswer(row_to_answer(json.loads(record)), source, at)
        return found

    def add(self, records: Iterable[AnswerRecord], source_run: str) -> int:
        """Keep every answer that is not an error (first one kept per id); how many were new."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [
            (r.request_id, json.dumps(answer_to_row(r), sort_keys=True, ensure_ascii=False), source_run, now)
            for r in records if r.outcome != "error"
        ]
        before = self.count()
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        return self.count() - before

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def reuse(cached: CachedAnswer, request: Request, model_name: str) -> AnswerRecord:
    """The cached answer as this run's row: its coordinates, and where it came from in ``meta``."""
    meta = dict(cached.record.meta or {})
    meta["cached_from"] = {"run": cached.source_run, "stored_at": cached.stored_at}
    return attrs.evolve(
        cached.record, condition=request.condition, model=model_name, item=request.item,
        persona=request.persona, replicate=request.replicate, country=request.country, meta=meta,
    )


def split_cached(cache: ResultsCache, pending: Sequence[Request]) -> tuple[list[Request], dict[str, CachedAnswer]]:
    """(requests still to ask, cached answers by id) for ``pending``."""
    hits = cache.lookup(r.id for r in pending)
    return [r for r in pending if r.id not in hits], hits


def cacheable(records: Iterable[AnswerRecord], ids: set[str]) -> Iterator[AnswerRecord]:
    """This plan's stored answers that are not errors, as the cache keeps them (no cache mark)."""
    for record in records:
        if record.request_id in ids and record.outcome != "error":
            if "cached_from" in (record.meta or {}):
                continue  # already in a cache; the run that asked it is the source
            yield record
