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
- Before anything is asked, ``preflight`` checks the file against every request of the plan:
  persona × item pairs (and replicates) it lacks, conflicting duplicate rows, unreadable rows,
  a text-only file for ``option_probs`` requests, a binary or unreadable file. Any problem stops
  the model with one message naming the file (the executor's preflight rule), so a gap is never
  stored as scattered per-request errors that ``on_error = midpoint`` would quietly fill.
- Duplicates: with a ``replicate`` column, two rows with the same (condition, persona, item,
  replicate) and different answers conflict (identical ones are one row). Without it, repeated
  rows are replicates in file order; more differing rows than the plan asks replicates for is
  a conflict too (which one is "the" answer would be a guess). So is the same pair written
  with both the bare and the qualified item id and different answers.
- A persona or item the file lacks is, when asked anyway, a ``PermanentError`` naming both and
  the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import threading
from typing import Any, ClassVar, Mapping, Sequence

from attrs import frozen

from silspec.plan.model import PlanModel, Request
from silspec.run.backends.base import BackendAnswer, PermanentError

REQUIRED_COLUMNS = ("persona_id", "item", "response_raw")
OPTIONAL_COLUMNS = ("model", "error", "attempts", "condition", "replicate", "option_probs", "valid_mass")
PREFLIGHT_LIST_LIMIT = 10  # examples named per problem; the rest are counted
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

    @property
    def content(self) -> tuple[Any, ...]:
        """What an answer is made of: two rows with equal content are the same answer."""
        probs = tuple(sorted(self.option_probs.items())) if self.option_probs is not None else None
        return (self.response_raw, self.model, self.error, probs, self.valid_mass)


@frozen
class ReplayFile:
    path: str
    # (condition or "", persona, item as written) -> rows in replicate order
    rows: dict[tuple[str, str, str], tuple[ReplayRow, ...]]
    personas: frozenset[str]
    items: frozenset[str]
    models: frozenset[str]
    columns: tuple[str, ...] = ()
    explicit_replicates: bool = False  # a ``replicate`` column numbers the rows
    # Row-level problems found while reading (bad values, conflicting duplicates): preflight
    # reports them; ``answer`` still serves the rows that are fine.
    problems: tuple[str, ...] = ()

    @property
    def has_option_probs(self) -> bool:
        return "option_probs" in self.columns


_cache: dict[tuple[str, float, int], ReplayFile] = {}
_cache_lock = threading.Lock()


def load_replay_file(path: str, *, model_id: str | None = None) -> ReplayFile:
    """Read (once per path, size and mtime) and index a replay CSV.

    Raises ``PermanentError`` naming the file when it cannot be used at all: unreadable, not
    UTF-8 text (a binary file), or lacking a required column.
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise PermanentError(f"replay file {path} cannot be read: {exc.strerror}") from None
    key = (os.path.realpath(path) + "|" + (model_id or ""), stat.st_mtime, stat.st_size)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _read(path, model_id)
        return _cache[key]


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise PermanentError(f"replay file {path} cannot be read: {exc.strerror}") from None
    if b"\x00" in data[:65536]:
        raise PermanentError(f"replay file {path} is binary (it holds NUL bytes), not a CSV text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PermanentError(
            f"replay file {path} is not UTF-8 text (byte {exc.start}); save it as a UTF-8 CSV"
        ) from None


def _read(path: str, model_id: str | None) -> ReplayFile:
    text = _read_text(path)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
            raise PermanentError(
                f"replay file {path} lacks column(s) {', '.join(missing)} "
                f"(has: {', '.join(columns) or 'none'}"
                + (f"; not replay columns: {', '.join(unknown)}" if unknown else "")
                + f"). Required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}"
            )
        raw_rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise PermanentError(f"replay file {path} is not a readable CSV: {exc}") from None
    models = frozenset(filter(None, ((row.get("model") or "").strip() for _, row in raw_rows)))
    if len(models) > 1 and model_id in models:
        raw_rows = [(n, row) for n, row in raw_rows if (row.get("model") or "").strip() == model_id]
    explicit = "replicate" in columns
    problems: list[str] = []
    bad_rows: list[str] = []
    grouped: dict[tuple[str, str, str], dict[int, ReplayRow]] = {}
    conflicts: list[str] = []
    for line, row in raw_rows:
        persona = (row.get("persona_id") or "").strip()
        item = (row.get("item") or "").strip()
        condition = (row.get("condition") or "").strip()
        try:
            if not persona or not item:
                raise PermanentError("empty persona_id or item")
            replay_row = _parse_row(row, line)
            replicate_text = (row.get("replicate") or "").strip() if explicit else ""
            group = grouped.setdefault((condition, persona, item), {})
            order = int(replicate_text) if replicate_text else len(group)
            if order < 0:
                raise ValueError(f"replicate {order} is negative")
        except (PermanentError, ValueError) as exc:
            bad_rows.append(f"line {line}: {exc}")
            continue
        earlier = group.get(order)
        if earlier is None:
            group[order] = replay_row
        elif earlier.content != replay_row.content:
            where = f" condition {condition}" if condition else ""
            conflicts.append(f"persona {persona} item {item}{where} replicate {order}"
                             f" (lines {earlier.line} and {line})")
    if bad_rows:
        problems.append(f"replay file {path} has {len(bad_rows)} unreadable row(s): "
                        + _examples(bad_rows))
    if conflicts:
        problems.append(f"replay file {path} has {len(conflicts)} conflicting duplicate row(s)"
                        " (same key, different answers): " + _examples(conflicts))
    if len(models) > 1 and model_id not in models:
        problems.append(f"replay file {path} holds answers of several models ({', '.join(sorted(models))})"
                        f" and none is this model's id {model_id!r}: set the model's name to one of them")
    rows = {key: tuple(group[o] for o in sorted(group)) for key, group in grouped.items()}
    for key, group in grouped.items():
        if explicit and sorted(group) != list(range(len(group))):
            problems.append(f"replay file {path}: persona {key[1]} item {key[2]} has replicates"
                            f" {sorted(group)}, not 0..{len(group) - 1}")
    return ReplayFile(
        path=path,
        rows=rows,
        personas=frozenset(k[1] for k in rows),
        items=frozenset(k[2] for k in rows),
        models=models,
        columns=tuple(columns),
        explicit_replicates=explicit,
        problems=tuple(problems),
    )


def _examples(entries: list[str], limit: int = PREFLIGHT_LIST_LIMIT, sep: str = "; ") -> str:
    """The first ``limit`` entries and a count of the rest: a message stays readable at 10,000."""
    shown = sep.join(entries[:limit])
    return shown + (f"{sep}... and {len(entries) - limit} more" if len(entries) > limit else "")


def _parse_row(row: Mapping[str, Any], line: int) -> ReplayRow:
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
            raise PermanentError(f"option_probs is not a JSON object of code -> probability ({exc})") from None
    valid_mass = text("valid_mass")
    return ReplayRow(
        response_raw=row.get("response_raw"),
        model=(text("model") or "").strip() or None,
        error=text("error"),
        attempts=int(attempts) if attempts else None,
        option_probs=option_probs,
        valid_mass=float(valid_mass) if valid_mass else None,
        line=line,
    )


class ReplayBackend:
    name: ClassVar[str] = "replay"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        if not model.path:
            raise PermanentError(f"model {model.name!r} uses the replay backend but names no path")
        self.model = model
        # A file that cannot be used is reported by ``preflight`` (before anything is asked),
        # and raised by ``answer`` for callers that skip preflight.
        self.load_error: PermanentError | None = None
        self.file: ReplayFile | None = None
        try:
            self.file = load_replay_file(model.path, model_id=model.model_id)
        except PermanentError as exc:
            self.load_error = exc

    def _rows_for(self, request: Request) -> list[tuple[ReplayRow, ...]]:
        """Every group of rows that could answer ``request``, best match first."""
        assert self.file is not None
        bare_item = request.item.rsplit(".", 1)[-1]
        found = []
        for condition in (request.condition, ""):
            for item in dict.fromkeys((request.item, bare_item)):
                rows = self.file.rows.get((condition, request.persona, item))
                if rows is not None:
                    found.append(rows)
            if found:
                return found  # a condition's own rows take precedence over the shared ones
        return found

    def _find(self, request: Request) -> ReplayRow:
        if self.load_error is not None:
            raise self.load_error
        assert self.file is not None
        bare_item = request.item.rsplit(".", 1)[-1]
        candidates = self._rows_for(request)
        if candidates:
            rows = candidates[0]
            if request.replicate >= len(rows):
                raise PermanentError(
                    f"replay file {self.file.path} has {len(rows)} answer(s) for persona "
                    f"{request.persona} item {bare_item}, not replicate {request.replicate}"
                )
            return rows[request.replicate]
        raise PermanentError(
            f"replay file {self.file.path} has no answer for persona {request.persona} "
            f"item {request.item}: {self._why_missing(request)}"
        )

    def _why_missing(self, request: Request) -> str:
        assert self.file is not None
        bare_item = request.item.rsplit(".", 1)[-1]
        if request.persona not in self.file.personas:
            return f"persona {request.persona} is not in it"
        if not {request.item, bare_item} & self.file.items:
            return f"item {bare_item} is not in it"
        return "that pair (or condition) is not in it"

    def preflight(self, requests: Sequence[Request]) -> list[str]:
        """Everything the file cannot answer, found before anything is asked.

        Missing persona × item pairs and replicates, conflicting duplicates, bad rows, a
        text-only file for ``option_probs`` requests; each problem names the file.
        """
        if self.load_error is not None:
            return [str(self.load_error)]
        assert self.file is not None
        path = self.file.path
        problems = list(self.file.problems)
        missing_pairs: dict[tuple[str, str], None] = {}
        missing_personas: dict[str, None] = {}
        missing_items: dict[str, None] = {}
        short_replicates: dict[tuple[str, str], tuple[int, int]] = {}
        no_probs: list[str] = []
        ambiguous: dict[tuple[int, ...], str] = {}
        asked: dict[int, int] = {}  # id(rows) -> replicates the plan asks of that group
        groups: dict[int, tuple[Request, tuple[ReplayRow, ...]]] = {}
        wants_probs = [r for r in requests if r.answers == "option_probs"]
        if wants_probs and not self.file.has_option_probs:
            conditions = ", ".join(dict.fromkeys(r.condition for r in wants_probs))
            problems.append(
                f"replay file {path} has no option_probs column (text answers only), but condition(s)"
                f" {conditions} ask for option_probs ({len(wants_probs)} request(s)); replay a file"
                " with an option_probs column or ask for sampled answers"
            )
            wants_probs = []
        for request in requests:
            bare_item = request.item.rsplit(".", 1)[-1]
            candidates = self._rows_for(request)
            if not candidates:
                missing_pairs[(request.persona, bare_item)] = None
                if request.persona not in self.file.personas:
                    missing_personas[request.persona] = None
                if not {request.item, bare_item} & self.file.items:
                    missing_items[bare_item] = None
                continue
            rows = candidates[0]
            if len(candidates) > 1:  # the same pair under the bare and the qualified item id
                picks = [c[request.replicate] for c in candidates if request.replicate < len(c)]
                if len({r.content for r in picks}) > 1:
                    lines = tuple(r.line for r in picks)
                    ambiguous[lines] = (f"persona {request.persona} item {bare_item} under both"
                                        f" {bare_item} and {request.item}"
                                        f" (lines {', '.join(map(str, lines))})")
            if request.replicate >= len(rows):
                short_replicates[(request.persona, bare_item)] = (len(rows), request.replicate + 1)
                continue
            asked[id(rows)] = max(asked.get(id(rows), 0), request.replicate + 1)
            groups[id(rows)] = (request, rows)
            row = rows[request.replicate]
            if request.answers == "option_probs" and wants_probs and not row.error and row.option_probs is None:
                no_probs.append(f"line {row.line} (persona {request.persona} item {bare_item})")
        for key, (request, rows) in groups.items():
            # Without a replicate column, surplus rows are replicates nobody asked for: if they
            # disagree with the ones asked for, which answer is "the" answer is a guess.
            if not self.file.explicit_replicates and len(rows) > asked[key] and \
                    len({r.content for r in rows}) > 1:
                bare_item = request.item.rsplit(".", 1)[-1]
                ambiguous[tuple(r.line for r in rows)] = (
                    f"persona {request.persona} item {bare_item}: {len(rows)} different rows"
                    f" (lines {', '.join(str(r.line) for r in rows)}) for {asked[key]} answer(s) asked")
        if missing_pairs:
            pairs = [f"{persona} × {item}" for persona, item in missing_pairs]
            text = (f"replay file {path} lacks answers for {len(pairs)} persona × item pair(s)"
                    f" the plan asks: {_examples(pairs, sep=', ')}")
            if missing_personas:
                text += (f". Personas not in the file at all: {len(missing_personas)}"
                         f" ({_examples(list(missing_personas), sep=', ')})")
            if missing_items:
                text += f". Items not in the file at all: {', '.join(missing_items)}"
            problems.append(text)
        if short_replicates:
            shorts = [f"{p} × {i} (has {have}, asked {want})" for (p, i), (have, want) in short_replicates.items()]
            problems.append(f"replay file {path} has too few answers (replicates) for"
                            f" {len(shorts)} persona × item pair(s): {_examples(shorts)}")
        if ambiguous:
            problems.append(f"replay file {path} has conflicting duplicate rows for {len(ambiguous)}"
                            f" persona × item pair(s): {_examples(list(ambiguous.values()))}; remove the"
                            " duplicates or number them with a replicate column")
        if no_probs:
            problems.append(f"replay file {path} has no option_probs for {len(no_probs)} option_probs"
                            f" request(s): {_examples(no_probs)}")
        return problems

    async def answer(self, request: Request) -> BackendAnswer:
        row = self._find(request)
        assert self.file is not None
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
