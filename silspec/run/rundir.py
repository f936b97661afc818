"""The run directory: the one module that knows its layout and reads or writes its parts.

    runs/<study>/
      store.sqlite          answers, attempts, manifest, requests, plan membership (``store``)
      .lock                 flock held by the running invocation
      plan_header.json      the latest plan's header and hash (models, conditions, items, personas)
      pilot.json            `silspec pilot`'s verdicts, criteria and spec hash (docs/pilot.md)
      bundle/<spec>.sil     the spec and every file it references, at their relative paths

The runner writes it, ``silspec report`` and ``silspec verify`` read it, all through
``RunDirectory`` (see ``docs/design/run-directory.md``). Which stored answers belong to the
directory's current plan is a query of the store's plan membership tables; a store made before
those tables existed falls back to recompiling the bundled spec, and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

from attrs import frozen

from silspec.plan.compile import compile_plan
from silspec.plan.model import Plan, PlanHeader
from silspec.plan.pilot import compile_pilot_plan
from silspec.plan.serialize import converter, write_header_json
from silspec.run.errors import RunSetupError
from silspec.run.store import STORE_FILE, Store, StoreError

PLAN_HEADER_FILE = "plan_header.json"
PILOT_FILE = "pilot.json"
LOCK_FILE = ".lock"
BUNDLE_DIR = "bundle"
NOT_BUNDLED_NOTE = "SILSPEC_NOT_BUNDLED.txt"


@frozen
class RecordedPlan:
    """What ``plan_header.json`` says about the latest plan, read leniently (for the report)."""

    plan_hash: str
    conditions: tuple[str, ...]
    limit: int | None
    n_requests: int | None
    spec_hash: str | None
    overrides: tuple[tuple[str, str], ...]


@frozen
class CurrentPlan:
    """The request ids of the directory's current plan, and how they were found.

    ``ids`` is None when they cannot be known (``why`` says why). ``source``: ``store`` (the
    plan membership tables), ``recompiled`` (the bundled spec compiled again: a partial run, or
    a store made before the tables, then ``legacy`` is true) or ``unknown``.
    """

    ids: frozenset[str] | None
    why: str = ""
    source: str = "unknown"
    legacy: bool = False
    plan_hashes: tuple[str, ...] = ()  # source ``store``: the recorded plans whose requests are current


@frozen
class RunDirectory:
    """A run directory on disk (it need not exist yet)."""

    path: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> "RunDirectory":
        return cls(Path(path))

    # ------------------------------------------------------------------------------ layout

    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE

    @property
    def bundle(self) -> Path:
        return self.path / BUNDLE_DIR

    @property
    def plan_header_path(self) -> Path:
        return self.path / PLAN_HEADER_FILE

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE

    def has_store(self) -> bool:
        return self.store_path.is_file()

    # ------------------------------------------------------------------------------- store

    def open_store(self, *, create: bool = False, synchronous: str = "NORMAL") -> Store:
        """The directory's store (``StoreError`` if it cannot be opened; see ``Store.open``)."""
        return Store.open(self.path, create=create, synchronous=synchronous)

    def manifests(self) -> list[dict[str, Any]]:
        """Every invocation's manifest, oldest first; empty when there is no readable store."""
        try:
            with self.open_store() as store:
                return store.manifests()
        except StoreError:
            return []

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One runner per run directory: a second one would race the first for the same requests."""
        try:
            import fcntl  # POSIX only
        except ImportError:  # not POSIX: no lock, as before
            yield
            return
        with open(self.lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunSetupError(f"another silspec run is writing to {self.path}; wait for it or use --out") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ------------------------------------------------------------------------------ bundle

    def copy_bundle(self, spec: Any) -> Path:
        """Copy the .sil and every referenced file into ``bundle/`` at their relative paths."""
        bundle = self.bundle.resolve()
        root = Path(spec.root).resolve()
        sources = [(spec.path, root / spec.path)] + [(f.path, Path(f.absolute)) for f in spec.files]
        for relative, source in sources:
            target = (bundle / relative).resolve()
            if bundle not in target.parents:
                raise RunSetupError(f"refusing to bundle {relative!r}: it leaves the spec tree")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                # A model folder (hf weights, an adapter): hundreds of MB that the analysis never
                # needs. The bundle keeps a stand-in folder so the bundled spec still loads for
                # `silspec report`, and says where the weights were.
                target.mkdir(parents=True, exist_ok=True)
                (target / NOT_BUNDLED_NOTE).write_text(
                    f"Not copied into the run bundle: the folder {relative!r} (model weights).\n"
                    f"The run used {source}.\n", encoding="utf-8")
                continue
            shutil.copyfile(source, target)
        return bundle / spec.path

    def bundled_spec_path(self) -> Path:
        """The spec copy the plan header names (what ``silspec verify`` reloads)."""
        header, _ = self.read_plan_header()
        path = self.bundle / header.spec_path
        if not path.is_file():
            raise RunSetupError(f"{self.path} holds no spec bundle ({path} is missing)")
        return path

    def find_bundled_spec(self) -> tuple[Path, tuple[tuple[str, str], ...]]:
        """(path of the bundled .sil, the run's overrides), found leniently for the report.

        The plan header names the spec; failing that the store's latest manifest; failing that
        the bundle must hold exactly one ``.sil`` file. ``RunSetupError`` when none of it works.
        """
        bundle = self.bundle
        recorded = self.recorded_plan_spec()
        spec_path, overrides = recorded if recorded[0] is not None else self._spec_from_manifest()
        if spec_path is not None:
            candidate = (bundle / spec_path).resolve()
            if bundle.resolve() not in candidate.parents:
                raise RunSetupError(f"{self.path}: the recorded spec path {spec_path!r} leaves the bundle")
            if candidate.is_file():
                return candidate, overrides
        found = sorted(bundle.rglob("*.sil")) if bundle.is_dir() else []
        if len(found) == 1:
            return found[0], overrides
        if not found:
            raise RunSetupError(f"{self.path} holds no spec bundle ({bundle}/*.sil is missing)")
        raise RunSetupError(
            f"{self.path}: the bundle holds {len(found)} .sil files and nothing says which one ran: "
            + ", ".join(str(p.relative_to(bundle)) for p in found)
        )

    def _spec_from_manifest(self) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        for manifest in reversed(self.manifests()):
            if manifest.get("spec_path"):
                return manifest["spec_path"], tuple(tuple(p) for p in manifest.get("overrides") or ())
        return None, ()

    # ------------------------------------------------------------------------- plan header

    def write_plan_header(self, plan: Plan) -> None:
        """``{"header": ..., "n_requests": N, "plan_hash": ...}`` as compact JSON, the header's
        personas streamed (``write_header_json``): a million personas are never one dict and one
        string in memory (they were ~400 MB of a 1M-request run's peak)."""
        temporary = self.path / (PLAN_HEADER_FILE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write('{"header":')
            write_header_json(plan.header, handle)
            handle.write(f',"n_requests":{len(plan.requests)},"plan_hash":{json.dumps(plan.plan_hash)}}}\n')
        temporary.replace(self.plan_header_path)  # atomic: a crash never leaves half a header

    def read_plan_header(self) -> tuple[PlanHeader, str]:
        """(header, plan hash) of the latest plan run into the directory (strict)."""
        if not self.plan_header_path.is_file():
            raise RunSetupError(f"{self.path} is not a silspec run directory (no {PLAN_HEADER_FILE})")
        data = json.loads(self.plan_header_path.read_text(encoding="utf-8"))
        return converter.structure(data["header"], PlanHeader), data["plan_hash"]

    @property
    def pilot_path(self) -> Path:
        return self.path / PILOT_FILE

    def write_pilot(self, data: dict[str, Any]) -> None:
        """``pilot.json``: a pilot's verdicts as plain JSON (``analysis.pilot.PilotResult``)."""
        temporary = self.path / (PILOT_FILE + ".tmp")
        temporary.write_text(json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1), encoding="utf-8")
        temporary.replace(self.pilot_path)  # atomic, like the plan header

    def read_pilot(self) -> dict[str, Any]:
        """The pilot's verdicts; ``RunSetupError`` when the directory has none or it is unreadable."""
        if not self.pilot_path.is_file():
            raise RunSetupError(f"{self.path} holds no pilot verdicts ({PILOT_FILE}): run `silspec pilot SPEC` first")
        try:
            data = json.loads(self.pilot_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunSetupError(f"{self.pilot_path} cannot be read: {error}") from error
        if not isinstance(data, dict):
            raise RunSetupError(f"{self.pilot_path} is not a pilot file (not a JSON object)")
        return data

    def header_json(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.plan_header_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def recorded_plan_spec(self) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        """(spec path, overrides) as the plan header names them, or (None, ()) (lenient)."""
        data = self.header_json()
        header = data.get("header") if data else None
        if not isinstance(header, dict):
            return None, ()
        return header.get("spec_path"), tuple(tuple(pair) for pair in header.get("overrides") or ())

    def recorded_plan(self) -> RecordedPlan | None:
        """The latest plan's hash, conditions, limit and size from the header (lenient)."""
        data = self.header_json()
        if data is None:
            return None
        header = data.get("header") or {}
        if not isinstance(header, dict):
            return None
        plan_hash = data.get("plan_hash")
        conditions = tuple(header.get("conditions") or ())
        if not isinstance(plan_hash, str) or not conditions:
            return None
        limit = header.get("limit")
        n_requests = data.get("n_requests")
        return RecordedPlan(
            plan_hash=plan_hash,
            conditions=conditions,
            limit=limit if isinstance(limit, int) else None,
            n_requests=n_requests if isinstance(n_requests, int) else None,
            spec_hash=header.get("spec_hash"),
            overrides=tuple(tuple(pair) for pair in header.get("overrides") or ()),
        )

    # ------------------------------------------------------------------------ current plan

    def plans_run(self) -> set[str]:
        """Distinct plan hashes of every invocation recorded in the store's manifest."""
        return {m["plan_hash"] for m in self.manifests() if m.get("plan_hash")}

    def holds_one_complete_plan(self, spec: Any, n_answers: int) -> bool:
        """Every invocation ran the recorded plan, that plan is the whole spec (every condition,
        no ``--limit``) and the store holds an answer per request.

        Then every stored answer is the current plan's, and a large plan (720,000 WVS requests)
        need not be looked up just to confirm it.
        """
        recorded = self.recorded_plan()
        if recorded is None or self.plans_run() != {recorded.plan_hash}:
            return False
        if recorded.limit is not None or set(recorded.conditions) != set(spec.conditions):
            return False
        return recorded.n_requests is not None and n_answers == recorded.n_requests

    def current_plan(self, spec: Any, *, with_ids: bool = True) -> CurrentPlan:
        """The request ids of the current plan: every condition of the latest plan's spec (and
        overrides), without ``--limit``, so runs that did one condition at a time all count.

        A query when the store's plan membership covers that whole plan (every condition run
        without a limit under the same spec hash and overrides); otherwise the bundled spec is
        compiled again, trusted only when it reproduces the recorded plan hash. ``with_ids=False``
        leaves ``ids`` None when the store answers (``plan_hashes`` name the plans instead).
        """
        recorded = self.recorded_plan()
        if recorded is None:
            return CurrentPlan(None, f"{PLAN_HEADER_FILE} records no plan hash")
        try:
            with self.open_store() as store:
                plans = store.recorded_plans()
                family = [
                    p["plan_hash"] for p in plans
                    if p["spec_hash"] == recorded.spec_hash and tuple(p["overrides"]) == recorded.overrides
                ]
                latest_known = any(p["plan_hash"] == recorded.plan_hash for p in plans)
                whole = {c for p in plans if p["plan_hash"] in family and p["limit"] is None for c in p["conditions"]}
                if latest_known and whole >= set(spec.conditions):
                    # without ids: the caller joins against plan_requests (a million ids never in a set)
                    ids = store.plan_request_ids(family) if with_ids else None
                    return CurrentPlan(ids, source="store", plan_hashes=tuple(family))
        except StoreError as error:
            return CurrentPlan(None, str(error))
        ids, why = self._recompiled_plan_ids(spec, recorded)
        return CurrentPlan(ids, why, source="recompiled" if ids is not None else "unknown", legacy=not plans)

    def _recompiled_plan_ids(self, spec: Any, recorded: RecordedPlan) -> tuple[frozenset[str] | None, str]:
        """The whole plan's ids by compiling the bundled spec again, checked against the hash
        of the plan the run recorded (with its conditions and limit)."""
        try:
            ids, run_hash = _plan_ids_of(spec, recorded.conditions, recorded.limit)
        except Exception as error:  # noqa: BLE001 - a plan that does not compile here (missing external input, ...)
            return None, f"the bundled spec's plan does not compile here ({error})"
        if run_hash != recorded.plan_hash:
            return None, "the recompiled plan differs from the one the run recorded (another silspec version?)"
        return ids, ""


def _plan_ids_of(spec: Any, conditions: Sequence[str], limit: int | None) -> tuple[frozenset[str], str]:
    """(ids of the spec's whole plan, hash of the plan with ``conditions`` and ``limit``), cut
    exactly as the runner cuts a ``--limit`` (``silspec.plan.pilot``)."""
    full = compile_plan(spec, conditions=None, limit=None)
    ids = frozenset(request.id for request in full.requests)
    if list(conditions) == list(full.header.conditions) and limit is None:
        return ids, full.plan_hash
    if limit is not None:
        return ids, compile_pilot_plan(spec, conditions=list(conditions), limit=limit).plan_hash
    return ids, compile_plan(spec, conditions=list(conditions), limit=None).plan_hash
