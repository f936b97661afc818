"""What a run invocation was: enough to say later exactly which spec, plan and software made it.

One ``Manifest`` per invocation goes into the store's ``manifest`` table. It never holds a
secret: overrides and argv are kept as given except that credentials inside URLs are masked
(``silspec.plan.redact``; ``--set`` cannot carry keys: keys live in environment variables the
spec only names), and no environment variable values are read here.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from attrs import field, frozen

from silspec import __version__
from silspec.plan.redact import mask_url_credentials


# Packages whose versions can change an answer or its analysis.
TRACKED_PACKAGES = (
    "attrs", "cattrs", "lark", "jinja2", "openai", "aiohttp", "httpx2", "numpy", "scipy", "rich",
    "torch", "transformers", "tokenizers", "peft",
)


@frozen
class Manifest:
    silspec_version: str
    python: str
    packages: dict[str, str]
    spec_path: str | None
    spec_hash: str | None
    plan_hash: str | None
    n_requests: int
    overrides: tuple[tuple[str, str], ...] = ()
    conditions: tuple[str, ...] = ()  # --condition subset, () = all
    limit: int | None = None
    retry_errors: bool = False
    git_revision: str | None = None
    git_dirty: bool | None = None
    started_at: str = field(factory=lambda: now_iso())
    argv: tuple[str, ...] = ()
    # SQLite synchronous mode of this invocation: NORMAL (survives a killed process) or FULL
    # (`silspec run --durable`: also a power loss); docs/design/store.md
    synchronous: str = "NORMAL"
    cache: str | None = None  # `silspec run --cache DIR`: the results cache used (silspec.run.cache)
    # `silspec run --engine ray`: where the requests were asked (RayEngine.describe); None: this process
    engine: str | None = None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (absent packages are left out, never imported)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_revision(folder: str | Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout holding ``folder``, or (None, None) outside git.

    One ``git status --porcelain=v2 --branch`` answers both (its ``# branch.oid`` header is the
    commit; any other line is a tracked change): one process per run, not two.
    """
    try:
        status = subprocess.run(
            ["git", "-C", str(folder), "--no-optional-locks", "status", "--porcelain=v2", "--branch",
             "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if status.returncode != 0:
        return None, None
    commit, dirty = None, False
    for line in status.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2].strip()
            commit = None if oid == "(initial)" else oid
        elif line and not line.startswith("#"):
            dirty = True
    if commit is None:  # a repository without a commit: no revision to name
        return None, None
    return commit, dirty


def collect_manifest(
    *,
    spec_path: str | None,
    spec_hash: str | None,
    plan_hash: str | None,
    n_requests: int,
    overrides: tuple[tuple[str, str], ...] = (),
    conditions: tuple[str, ...] = (),
    limit: int | None = None,
    retry_errors: bool = False,
    project_root: str | Path | None = None,
    argv: tuple[str, ...] = (),
    synchronous: str = "NORMAL",
    cache: str | None = None,
    engine: str | None = None,
) -> Manifest:
    revision, dirty = git_revision(project_root) if project_root else (None, None)
    return Manifest(
        silspec_version=__version__,
        python=platform.python_version(),
        packages=package_versions(),
        spec_path=spec_path,
        spec_hash=spec_hash,
        plan_hash=plan_hash,
        n_requests=n_requests,
        # a `--set model.x.base_url=http://user:secret@host` keeps its host, never its secret
        overrides=tuple((key, mask_url_credentials(value) or "") for key, value in overrides),
        conditions=tuple(conditions),
        limit=limit,
        retry_errors=retry_errors,
        git_revision=revision,
        git_dirty=dirty,
        argv=tuple(mask_url_credentials(arg) or "" for arg in argv),
        synchronous=synchronous,
        cache=cache,
        engine=engine,
    )
