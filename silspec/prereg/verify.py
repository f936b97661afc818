"""`silspec verify`: was this run produced by exactly the frozen spec, and is it complete?

A reviewer holds a lock file (from the preregistration) and a run directory (from the
authors). Verification recomputes everything from the run directory's own bundle — it never
trusts the manifest alone — and compares it with the lock:

1. spec      the bundled spec's canonical hash (with the run's overrides) = the lock's;
             every invocation's manifest carries that same hash
2. files     every referenced file in the bundle hashes as locked; none missing, none added
3. plan      the plan recompiled from the bundle has the locked plan hash and request count
4. answers   every planned request has a stored row (an answer or a recorded failure), and
             not every one of them failed
5. extras    no stored row belongs to a request outside the plan
6. overrides every invocation's manifest ran with the overrides the plan header names
7. rows      what each stored row says, recomputed: its request id from its stored model id,
             parameters and prompt (the bundled plan's messages with the stored prompt hash);
             its parameters equal to the plan's; its verdict equal to what the scorer makes of
             its stored reply (``silspec.answers``)

What this cannot prove, ``docs/preregistration.md`` says: a store is a file the authors wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from attrs import frozen

from silspec.answers import score, scorer_hash
from silspec.plan.compile import compile_header, iter_requests
from silspec.plan.hashing import plan_hash, request_id, sha256_file
from silspec.plan.model import PlanHeader, Request, request_params
from silspec.plan.spec_hash import spec_hash
from silspec.prereg.lock import Lock, LockError, lock_path_for, read_lock
from silspec.run.errors import RunSetupError
from silspec.run.records import stored_reply, stored_verdict
from silspec.run.rundir import RunDirectory
from silspec.run.runner import load_run_spec
from silspec.run.store import StoreError

Status = Literal["ok", "differs", "missing"]


@frozen
class Check:
    name: str
    status: Status
    locked: str
    actual: str
    detail: str = ""


@frozen
class Verification:
    run_dir: str
    lock_path: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status == "ok" for check in self.checks)


class VerifyError(Exception):
    """Verification could not even start (no run directory, no lock, unloadable bundle)."""


def find_lock(run_dir: Path) -> Path:
    """The lock beside the bundled spec, else beside the spec in the project the run came from."""
    rundir = RunDirectory.at(run_dir)
    bundled = rundir.bundled_spec_path()
    candidates = [lock_path_for(bundled)]
    header, _ = rundir.read_plan_header()
    for parent in [run_dir.resolve(), *run_dir.resolve().parents]:
        candidates.append(lock_path_for(parent / header.spec_path))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise VerifyError(
        f"no lock file found for {run_dir}; pass --lock SPEC.lock (looked for {candidates[0].name})"
    )


def verify_run(run_dir: str | Path, lock_path: str | Path | None = None) -> Verification:
    run_dir = Path(run_dir)
    rundir = RunDirectory.at(run_dir)
    if not rundir.has_store():
        raise VerifyError(f"{run_dir} is not a silspec run directory (no store.sqlite)")
    try:
        lock_file = Path(lock_path) if lock_path else find_lock(run_dir)
        lock: Lock = read_lock(lock_file)
    except (LockError, RunSetupError) as exc:
        raise VerifyError(str(exc)) from None

    checks: list[Check] = []
    bundle = rundir.bundle

    # 2. files first: a tampered file explains a spec or plan difference below.
    for locked in lock.files:
        path = bundle / locked.path
        if not path.is_file():
            checks.append(Check("file", "missing", locked.sha256[:12], "absent", locked.path))
            continue
        actual = sha256_file(str(path))
        status: Status = "ok" if actual == locked.sha256 else "differs"
        checks.append(Check("file", status, locked.sha256[:12], actual[:12], locked.path))

    try:
        spec = load_run_spec(run_dir)
    except RunSetupError as exc:
        checks.append(Check("spec", "differs", lock.spec_hash[:12], "does not load", str(exc)))
        return Verification(str(run_dir), str(lock_file), tuple(checks))

    locked_paths = {f.path for f in lock.files}
    for ref in spec.files:
        if ref.path not in locked_paths:
            checks.append(Check("file", "differs", "absent", ref.sha256[:12], f"{ref.path} (not in lock)"))

    # 1. spec meaning, as recomputed and as recorded by every invocation.
    actual_hash = spec_hash(spec)
    detail = "" if not spec.overrides else "run used --set " + ", ".join(f"{k}={v}" for k, v in spec.overrides)
    checks.append(Check("spec", "ok" if actual_hash == lock.spec_hash else "differs",
                        lock.spec_hash[:12], actual_hash[:12], detail))
    try:
        store = rundir.open_store()
    except StoreError as exc:
        raise VerifyError(str(exc)) from None
    with store:
        for manifest in store.manifests():
            recorded = manifest.get("spec_hash") or ""
            if recorded != lock.spec_hash:
                checks.append(Check("manifest", "differs", lock.spec_hash[:12], recorded[:12],
                                    f"invocation {manifest.get('id')} started {manifest.get('started_at')}"))

        # 3. the plan, recompiled from the bundle.
        # 7 happens on the way: each planned request's stored row is read and recomputed here,
        # so that a 700,000-request plan never sits in memory.
        header = compile_header(spec)
        rows = _RowChecker(header)
        planned = []
        for request in iter_requests(spec, header):
            planned.append(request.id)
            rows.check(store.get_answer(request.id), request)
        if rows.pending:  # rows whose stored prompt hash is not their planned prompt's
            for request in iter_requests(spec, header):
                rows.resolve(request)
        actual_plan = plan_hash(planned)
        checks.append(Check("plan", "ok" if actual_plan == lock.plan_hash else "differs",
                            lock.plan_hash[:12], actual_plan[:12]))
        checks.append(Check("requests", "ok" if len(planned) == lock.requests else "differs",
                            str(lock.requests), str(len(planned))))

        # 4 and 5. completeness, and nothing foreign.
        stored = store.outcomes()
        planned_set = set(planned)
        unanswered = [rid for rid in planned if rid not in stored]
        extra = sorted(rid for rid in stored if rid not in planned_set)
        failed = sum(1 for rid in planned_set if stored.get(rid) == "error")
        if unanswered:
            answers = Check("answers", "missing", str(len(planned)), str(len(planned) - len(unanswered)),
                            f"{len(unanswered)} planned requests have no stored row, e.g. {unanswered[0][:12]}")
        elif planned_set and failed == len(planned_set):
            answers = Check("answers", "missing", str(len(planned)), "0 answered",
                            f"every one of the {len(planned_set)} planned requests failed: the run is not complete")
        else:
            answers = Check("answers", "ok", str(len(planned)), str(len(planned)),
                            f"all answered ({failed} recorded as failed)")
        checks.append(answers)
        checks.append(Check(
            "extras", "ok" if not extra else "differs", "0", str(len(extra)),
            f"stored answers not in the plan, e.g. {extra[0][:12]}" if extra else "",
        ))

        # 6. the overrides every invocation ran with (the header keeps the last one's only).
        checks.append(_overrides_check(store.manifests(), tuple(tuple(o) for o in header.overrides)))

        # 7. every stored row of the plan, recomputed (above).
        checks.extend(rows.checks())
    return Verification(str(run_dir), str(lock_file), tuple(checks))


def _overrides_check(manifests: list[dict], overrides: tuple[tuple[str, str], ...]) -> Check:
    shown = ", ".join(f"{k}={v}" for k, v in overrides) or "none"
    differing = [m for m in manifests if tuple(tuple(o) for o in m.get("overrides") or ()) != overrides]
    if not differing:
        return Check("overrides", "ok", shown, shown, f"every invocation ({len(manifests)})")
    first = differing[0]
    theirs = ", ".join(f"{k}={v}" for k, v in first.get("overrides") or ()) or "none"
    return Check("overrides", "differs", shown, theirs,
                 f"{len(differing)} of {len(manifests)} invocations ran with other overrides, "
                 f"e.g. invocation {first.get('id')} started {first.get('started_at')}")


# Rows named in a failing check's detail (the count says how many there are in all).
EXAMPLE_ROWS = 3


class _RowChecker:
    """Request ids, parameters and verdicts recomputed from each stored row of the plan."""

    def __init__(self, header: PlanHeader):
        self.header = header
        self.seen: set[str] = set()
        self.bad_ids: list[str] = []
        self.bad_params: list[str] = []
        self.bad_verdicts: list[str] = []
        self.other_definition = 0
        self.unscored = 0
        # stored prompt hash -> rows (with their planned request) waiting for that prompt's messages
        self.pending: dict[str, list[tuple[object, Request]]] = {}

    def check(self, row, request: Request) -> None:
        if row is None or request.id in self.seen:  # no row: the answers check counts it
            return
        self.seen.add(request.id)
        model = self.header.models[request.model]
        if row.prompt_hash == request.prompt_hash:
            self._check_id(row, request, request.messages)
        else:
            self.pending.setdefault(row.prompt_hash, []).append((row, request))
        if row.params != request_params(request, model):
            self.bad_params.append(f"{_where(row)}: stored {_short(row.params)}, "
                                   f"planned {_short(request_params(request, model))}")
        status = _verdict_status(self.header, row)
        if status == "other":
            self.other_definition += 1
        elif status == "unscored":
            self.unscored += 1
        elif status is not None:
            self.bad_verdicts.append(f"{_where(row)}: {status}")

    def resolve(self, request: Request) -> None:
        """Second pass: the messages of a prompt that some row claims to have been asked."""
        for row, planned in self.pending.pop(request.prompt_hash, ()):
            self._check_id(row, planned, request.messages)

    def _check_id(self, row, request: Request, messages) -> None:
        model = self.header.models[request.model]
        recomputed = request_id(
            backend=model.backend, model_id=row.model_id, params=row.params, answers=row.answers,
            option_codes=request.option_codes, option_tokens=request.option_tokens, messages=messages,
            replicate=row.replicate, seed=request.seed, key=(row.condition, row.item, row.persona),
        )
        if recomputed == row.request_id:
            return
        why = [name for name, same in (
            ("model id", row.model_id == model.model_id),
            ("parameters", row.params == request_params(request, model)),
            ("prompt", row.prompt_hash == request.prompt_hash),
        ) if not same] or ["coordinates"]
        self.bad_ids.append(f"{_where(row)}: recomputed {recomputed[:12]} (the stored {' and '.join(why)} "
                            f"{'differs' if why in (['model id'], ['prompt']) else 'differ'} from the plan's)")

    def checks(self) -> list[Check]:
        for rows in self.pending.values():  # a prompt hash that no planned prompt has
            for row, _ in rows:
                self.bad_ids.append(f"{_where(row)}: stored prompt hash {row.prompt_hash[:12]} "
                                    "matches no prompt of the plan")
        self.pending = {}
        n = len(self.seen)
        note = "every stored verdict follows from its stored reply"
        if self.other_definition or self.unscored:
            note += (f" ({self.other_definition} decided by another parser definition and {self.unscored} "
                     "stored before verdicts were: not comparable, the report scores them again)")
        return [
            _rows_check("request ids", n, self.bad_ids, "every stored id follows from its model id, parameters and prompt"),
            _rows_check("params", n, self.bad_params, "every stored row sent the plan's parameters"),
            _rows_check("verdicts", n, self.bad_verdicts, note),
        ]


def _where(row) -> str:
    return f"{row.request_id[:12]} ({row.condition}, {row.item.rpartition('.')[2]}, {row.persona}, #{row.replicate})"


def _verdict_status(header: PlanHeader, row) -> str | None:
    """None when the stored verdict is what the scorer makes of the stored reply, else why not."""
    condition = header.conditions.get(row.condition)
    item = header.items.get(row.item)
    if condition is None or item is None:
        return "its condition or item is not in the plan"
    if row.scorer is None:
        return "unscored"
    tokens = row.meta.get("option_tokens") if row.meta else None
    tokens = tuple(tokens) if tokens else None
    parser = condition.parser
    if row.scorer != scorer_hash(answers=row.answers, parser=parser, item=item, option_tokens=tokens):
        return "other"
    again = score(stored_reply(row), answers=row.answers, parser=parser, item=item, option_tokens=tokens)
    stored = stored_verdict(row)
    if again == stored:
        return None
    return f"stored {stored.outcome} (code {stored.code}), the stored reply scores {again.outcome} (code {again.code})"


def _rows_check(name: str, n: int, bad: list[str], fine: str) -> Check:
    if not bad:
        return Check(name, "ok", f"{n} rows", f"{n} rows", fine)
    examples = "; ".join(bad[:EXAMPLE_ROWS]) + (f"; and {len(bad) - EXAMPLE_ROWS} more" if len(bad) > EXAMPLE_ROWS else "")
    return Check(name, "differs", f"{n} rows", f"{len(bad)} differ", f"{len(bad)} of {n} stored rows: {examples}")


def _short(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(params.items())) or "none"
