"""The lint rule for frozen specs: a lock beside the spec must still match it.

Called by ``silspec lint`` for every spec it checks (``silspec.cli.lint``):
a stale lock is a warning (SIL960) — or an error with ``--frozen``, which also makes a missing
lock an error (SIL961), so CI can hold a preregistered spec to its lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from silspec.lang.diagnostics import Diagnostic
from silspec.prereg.lock import LockError, compute_lock, diff_locks, lock_path_for, read_lock
from silspec.lang.span import Span


def check_lock(result: Any, args: Any) -> list[Diagnostic]:
    spec = getattr(result, "spec", None)
    if spec is None or not getattr(result, "ok", False):
        return []
    frozen = bool(getattr(args, "frozen", False))
    severity = "error" if frozen else "warning"
    spec_file = Path(spec.root) / spec.path
    lock_file = lock_path_for(spec_file)
    span = Span(str(getattr(args, "_current_file", spec.path)), 1, 1)
    if not lock_file.is_file():
        if frozen:
            return [Diagnostic("SIL961", "error", f"--frozen: no lock file {lock_file.name} beside the spec",
                               span, "run `silspec freeze` to write it")]
        return []
    try:
        locked = read_lock(lock_file)
        actual = compute_lock(spec)
    except LockError as exc:
        return [Diagnostic("SIL962", severity, str(exc), span, "rewrite it with `silspec freeze`")]
    except Exception as exc:  # the plan may fail to compile; lint reports, never crashes
        return [Diagnostic("SIL963", severity, f"cannot compare with {lock_file.name}: {exc}", span, None)]
    differences = diff_locks(locked, actual)
    if not differences:
        return []
    what = "; ".join(f"{d.what} {d.key}: {d.locked} → {d.actual}" for d in differences[:4])
    more = f" (+{len(differences) - 4} more)" if len(differences) > 4 else ""
    return [Diagnostic("SIL960", severity, f"spec no longer matches its lock {lock_file.name}: {what}{more}",
                       span, "if the change is intended, re-run `silspec freeze` and commit the new lock")]
