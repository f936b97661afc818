"""`silspec verify`: was this run produced by exactly the frozen spec, and is it complete?

A reviewer holds a lock file (from the preregistration) and a run directory (from the
authors). Verification recomputes everything from the run directory's own bundle — it never
trusts the manifest alone — and compares it with the lock:

1. spec      the bundled spec's canonical hash (with the run's overrides) = the lock's;
             every invocation's manifest carries that same hash
2. files     every referenced file in the bundle hashes as locked; none missing, none added
3. plan      the plan recompiled from the bundle has the locked plan hash and request count
4. answers   every planned request has a stored row (an answer or a recorded failure)
5. extras    no stored row belongs to a request outside the plan
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from attrs import frozen

from silspec.prereg.lock import Lock, LockError, lock_path_for, read_lock

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
    from silspec.run.runner import bundled_spec_path, read_plan_header

    bundled = bundled_spec_path(run_dir)
    candidates = [lock_path_for(bundled)]
    header, _ = read_plan_header(run_dir)
    for parent in [run_dir.resolve(), *run_dir.resolve().parents]:
        candidates.append(lock_path_for(parent / header.spec_path))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise VerifyError(
        f"no lock file found for {run_dir}; pass --lock SPEC.lock (looked for {candidates[0].name})"
    )


def verify_run(run_dir: str | Path, lock_path: str | Path | None = None) -> Verification:
    from silspec.plan.compile import compile_header, iter_requests
    from silspec.plan.hashing import plan_hash, sha256_file
    from silspec.plan.spec_hash import spec_hash
    from silspec.run.runner import BUNDLE_DIR, RunSetupError, load_run_spec
    from silspec.run.store import Store, StoreError

    run_dir = Path(run_dir)
    if not (run_dir / "store.sqlite").is_file():
        raise VerifyError(f"{run_dir} is not a silspec run directory (no store.sqlite)")
    try:
        lock_file = Path(lock_path) if lock_path else find_lock(run_dir)
        lock: Lock = read_lock(lock_file)
    except (LockError, RunSetupError) as exc:
        raise VerifyError(str(exc)) from None

    checks: list[Check] = []
    bundle = run_dir / BUNDLE_DIR

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
        store = Store.open(run_dir, create=False)
    except StoreError as exc:
        raise VerifyError(str(exc)) from None
    with store:
        for manifest in store.manifests():
            recorded = manifest.get("spec_hash") or ""
            if recorded != lock.spec_hash:
                checks.append(Check("manifest", "differs", lock.spec_hash[:12], recorded[:12],
                                    f"invocation {manifest.get('id')} started {manifest.get('started_at')}"))

        # 3. the plan, recompiled from the bundle.
        header = compile_header(spec)
        planned = [request.id for request in iter_requests(spec, header)]
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
        failed = sum(1 for rid in planned if stored.get(rid) == "error")
        checks.append(Check(
            "answers", "ok" if not unanswered else "missing", str(len(planned)),
            str(len(planned) - len(unanswered)),
            (f"{len(unanswered)} planned requests have no stored row, e.g. {unanswered[0][:12]}"
             if unanswered else f"all answered ({failed} recorded as failed)"),
        ))
        checks.append(Check(
            "extras", "ok" if not extra else "differs", "0", str(len(extra)),
            f"stored answers not in the plan, e.g. {extra[0][:12]}" if extra else "",
        ))
    return Verification(str(run_dir), str(lock_file), tuple(checks))
