"""Lock files: a frozen spec's fingerprint, written next to it as ``SPEC.lock`` (JSON).

A lock pins what a preregistration promises: the spec's *meaning* (its canonical hash, so
reformatting or comments do not change it), every file it references, and the plan it
compiles to for its seed. It is plain, sorted, indented JSON so that it diffs well in review.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from attrs import field, frozen
from cattrs import Converter

from silspec import __version__
from silspec.spec.model import Spec


LOCK_VERSION = 1


@frozen
class LockedFile:
    path: str  # relative to the spec tree root, posix
    sha256: str


@frozen
class Lock:
    spec: str  # the spec's path relative to the spec tree root
    spec_hash: str
    files: tuple[LockedFile, ...]
    seed: int
    requests: int
    plan_hash: str
    silspec_version: str
    created: str  # ISO date
    lock_version: int = LOCK_VERSION
    externals: tuple[dict[str, Any], ...] = field(factory=tuple)


class LockError(Exception):
    """A lock file that cannot be read: the message says which file and why."""


def lock_path_for(spec_path: str | Path) -> Path:
    return Path(str(spec_path) + ".lock")


def compute_lock(spec: Spec, *, created: str | None = None) -> Lock:
    """Compile the plan (streaming) and fingerprint the spec and everything it references."""
    # Measured start-up reason: lint imports this module (through prereg.lock_check) for every
    # spec, but compiles a plan only for a spec with a lock; importing the plan compiler at the
    # top would add ~180 ms (python -X importtime) to linting every spec without one.
    from silspec.plan.compile import compile_header, iter_requests
    from silspec.plan.hashing import plan_hash
    from silspec.plan.spec_hash import spec_hash

    header = compile_header(spec)
    ids = [request.id for request in iter_requests(spec, header)]
    return Lock(
        spec=spec.path,
        spec_hash=spec_hash(spec),
        files=tuple(sorted((LockedFile(f.path, f.sha256) for f in spec.files), key=lambda f: f.path)),
        seed=spec.study.seed,
        requests=len(ids),
        plan_hash=plan_hash(ids),
        silspec_version=__version__,
        created=created or _dt.date.today().isoformat(),
        externals=tuple(
            {"env": e.env_var, "sha256": e.sha256} for e in sorted(spec.externals, key=lambda e: e.env_var)
        ),
    )


def lock_to_json(lock: Lock) -> str:
    return json.dumps(Converter().unstructure(lock), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_lock(path: str | Path) -> Lock:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"{path}: no such lock file (run `silspec freeze` on the spec first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LockError(f"{path}: not a readable lock file: {exc}") from None
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION:
        raise LockError(f"{path}: not a silspec lock file (lock_version {LOCK_VERSION} expected)")
    try:
        return Converter().structure(data, Lock)
    except Exception as exc:  # cattrs raises several exception types for bad shapes
        raise LockError(f"{path}: malformed lock file: {exc}") from None


def write_lock(lock: Lock, path: str | Path) -> None:
    Path(path).write_text(lock_to_json(lock), encoding="utf-8")


@frozen
class LockDifference:
    what: str  # "spec", "file", "plan", "requests", "seed"
    key: str
    locked: str
    actual: str


def diff_locks(locked: Lock, actual: Lock) -> list[LockDifference]:
    """What changed between a lock and the spec as it is now (dates and versions ignored)."""
    out: list[LockDifference] = []
    if locked.spec_hash != actual.spec_hash:
        out.append(LockDifference("spec", actual.spec, locked.spec_hash[:12], actual.spec_hash[:12]))
    locked_files = {f.path: f.sha256 for f in locked.files}
    actual_files = {f.path: f.sha256 for f in actual.files}
    for path in sorted(locked_files.keys() | actual_files.keys()):
        before, after = locked_files.get(path), actual_files.get(path)
        if before != after:
            out.append(
                LockDifference("file", path, (before or "absent")[:12], (after or "absent")[:12])
            )
    if locked.seed != actual.seed:
        out.append(LockDifference("seed", "study.seed", str(locked.seed), str(actual.seed)))
    if locked.requests != actual.requests:
        out.append(LockDifference("requests", "plan", str(locked.requests), str(actual.requests)))
    if locked.plan_hash != actual.plan_hash:
        out.append(LockDifference("plan", "plan_hash", locked.plan_hash[:12], actual.plan_hash[:12]))
    return out
