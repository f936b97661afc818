"""The ``replay`` backend: answers from a recorded CSV, so a published run can be re-analysed.

File format (UTF-8, a BOM is fine): required columns ``persona_id,item,response_raw``; optional
``model`` (what the provider ran), ``error`` (the recorded failure), ``attempts``, ``condition``,
``replicate``, ``option_probs`` (JSON object code -> probability) and ``valid_mass``.

- ``item`` may hold the bare code (``CONFINAN``) or the qualified id (``kgss2023.CONFINAN``).
- Without a ``replicate`` column, rows for the same persona and item are replicates 0, 1, ... in
  file order. With a ``condition`` column, rows whose condition is empty serve every condition.
- When the ``model`` column holds several models, only rows for the plan's model id are used.
- A row with a non-empty ``error`` is replayed as a ``ReplayedError`` (a ``PermanentError``
  carrying the recorded status and attempts): recorded failures are recorded again, never retried.
- A persona or item the file lacks is a ``PermanentError`` naming both and the file.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import threading
from typing import Any, ClassVar, Mapping

from attrs import frozen

from silspec.plan.model import PlanModel, Request
from silspec.run.backends.base import BackendAnswer, PermanentError

REQUIRED_COLUMNS = ("persona_id", "item", "response_raw")
_STATUS_IN_TEXT = re.compile(r"\b([45]\d\d)\b")


class ReplayedError(PermanentError):
    """A failure the recorded run had; ``attempts`` is how many tries it recorded."""

    recorded = True

    def __init__(self, message: str, *, status: int | None = None, attempts: int | None = None):
        super().__init__(message, status=status)
        self.attempts = attempts


@frozen
class ReplayRow:
    response_raw: str | None
    model: str | None
    error: str | None
    attempts: int | None
    option_probs: dict[int, float] | None
    valid_mass: float | None
    line: int


@frozen
class ReplayFile:
    path: str
    # (condition or "", persona, item as written) -> rows in replicate order
    rows: dict[tuple[str, str, str], tuple[ReplayRow, ...]]
    personas: frozenset[str]
    items: frozenset[str]
    models: frozenset[str]


_cache: dict[tuple[str, float, int], ReplayFile] = {}
_cache_lock = threading.Lock()


def load_replay_file(path: str, *, model_id: str | None = None) -> ReplayFile:
    """Read (once per path, size and mtime) and index a replay CSV."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise PermanentError(f"replay file {path} cannot be read: {exc.strerror}") from None
    key = (os.path.realpath(path) + "|" + (model_id or ""), stat.st_mtime, stat.st_size)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _read(path, model_id)
        return _cache[key]


def _read(path: str, model_id: str | None) -> ReplayFile:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise PermanentError(
                f"replay file {path} lacks column(s) {', '.join(missing)} "
                f"(has: {', '.join(columns) or 'none'})"
            )
        raw_rows = [(reader.line_num, row) for row in reader]
    models = frozenset(filter(None, ((row.get("model") or "").strip() for _, row in raw_rows)))
    if len(models) > 1 and model_id in models:
        raw_rows = [(n, row) for n, row in raw_rows if (row.get("model") or "").strip() == model_id]
    grouped: dict[tuple[str, str, str], list[tuple[int, ReplayRow]]] = {}
    for line, row in raw_rows:
        persona = (row["persona_id"] or "").strip()
        item = (row["item"] or "").strip()
        condition = (row.get("condition") or "").strip()
        replicate_text = (row.get("replicate") or "").strip()
        replay_row = _parse_row(path, line, row)
        group = grouped.setdefault((condition, persona, item), [])
        order = int(replicate_text) if replicate_text else len(group)
        group.append((order, replay_row))
    rows = {key: tuple(r for _, r in sorted(group, key=lambda pair: pair[0])) for key, group in grouped.items()}
    replicate_columns = {key: [o for o, _ in g] for key, g in grouped.items()}
    for key, orders in replicate_columns.items():
        if len(set(orders)) != len(orders):
            raise PermanentError(
                f"replay file {path}: persona {key[1]} item {key[2]} has duplicate replicates"
            )
    return ReplayFile(
        path=path,
        rows=rows,
        personas=frozenset(k[1] for k in rows),
        items=frozenset(k[2] for k in rows),
        models=models,
    )


def _parse_row(path: str, line: int, row: Mapping[str, Any]) -> ReplayRow:
    def text(column: str) -> str | None:
        value = row.get(column)
        return value if value not in (None, "") else None

    attempts = text("attempts")
    probs_text = text("option_probs")
    option_probs = None
    if probs_text:
        try:
            option_probs = {int(code): float(p) for code, p in json.loads(probs_text).items()}
        except (ValueError, AttributeError) as exc:
            raise PermanentError(
                f"replay file {path} line {line}: option_probs is not a JSON object of "
                f"code -> probability ({exc})"
            ) from None
    valid_mass = text("valid_mass")
    try:
        return ReplayRow(
            response_raw=row.get("response_raw"),
            model=(text("model") or "").strip() or None,
            error=text("error"),
            attempts=int(attempts) if attempts else None,
            option_probs=option_probs,
            valid_mass=float(valid_mass) if valid_mass else None,
            line=line,
        )
    except ValueError as exc:
        raise PermanentError(f"replay file {path} line {line}: {exc}") from None


class ReplayBackend:
    name: ClassVar[str] = "replay"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        if not model.path:
            raise PermanentError(f"model {model.name!r} uses the replay backend but names no path")
        self.model = model
        self.file = load_replay_file(model.path, model_id=model.model_id)

    def _find(self, request: Request) -> ReplayRow:
        bare_item = request.item.rsplit(".", 1)[-1]
        for condition in (request.condition, ""):
            for item in (request.item, bare_item):
                rows = self.file.rows.get((condition, request.persona, item))
                if rows is None:
                    continue
                if request.replicate >= len(rows):
                    raise PermanentError(
                        f"replay file {self.file.path} has {len(rows)} answer(s) for persona "
                        f"{request.persona} item {bare_item}, not replicate {request.replicate}"
                    )
                return rows[request.replicate]
        if request.persona not in self.file.personas:
            reason = f"persona {request.persona} is not in it"
        elif not {request.item, bare_item} & self.file.items:
            reason = f"item {bare_item} is not in it"
        else:
            reason = "that pair (or condition) is not in it"
        raise PermanentError(
            f"replay file {self.file.path} has no answer for persona {request.persona} "
            f"item {request.item}: {reason}"
        )

    async def answer(self, request: Request) -> BackendAnswer:
        row = self._find(request)
        meta: dict[str, Any] = {"replay_line": row.line}
        if row.attempts is not None:
            meta["recorded_attempts"] = row.attempts
        if row.error:
            match = _STATUS_IN_TEXT.search(row.error)
            raise ReplayedError(
                f"recorded error: {row.error}",
                status=int(match.group(1)) if match else None,
                attempts=row.attempts,
            )
        if request.answers == "option_probs":
            if row.option_probs is None:
                raise PermanentError(
                    f"replay file {self.file.path} line {row.line} has no option_probs for an "
                    f"option_probs request"
                )
            total = math.fsum(row.option_probs.values())
            probs = {code: p / total for code, p in row.option_probs.items()} if total > 0 else None
            valid_mass = row.valid_mass if row.valid_mass is not None else min(total, 1.0)
            return BackendAnswer(
                text=row.response_raw, option_probs=probs, valid_mass=valid_mass,
                provider_model=row.model, meta=meta,
            )
        return BackendAnswer(text=row.response_raw, provider_model=row.model, meta=meta)

    async def aclose(self) -> None:
        return None
