"""File references: the spec tree root, and paths that must stay inside it.

A spec may only read files of its own tree, so that the spec plus its tree is the whole
preregistration artifact and a shared spec cannot read ``/etc/passwd``. Paths are resolved
(symlinks too) *before* the containment check. A relative path is looked up next to the spec
first, then at the tree root (so ``specs/x.sil`` can say ``data/...`` and ``templates/...``).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from silspec.check.context import Context
from silspec.check.limits import MAX_TEXT_FILE_BYTES
from silspec.spec.hashing import sha256_file
from silspec.lang import ast
from silspec.lang.span import Span
from silspec.spec.model import ExternalRef, FileRef

ROOT_MARKER = "silspec.toml"


def find_root(spec_path: str) -> str:
    """Nearest folder upward with ``silspec.toml``, else the git checkout's top, else the spec's folder."""
    start = os.path.dirname(os.path.realpath(spec_path))
    folder = start
    git_top = None
    while True:
        if os.path.isfile(os.path.join(folder, ROOT_MARKER)):
            return folder
        if git_top is None and os.path.exists(os.path.join(folder, ".git")):
            git_top = folder
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return git_top or start


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def resolve(ctx: Context, raw: str, span: Span | None, *, what: str = "file", must_exist: bool = True) -> FileRef | None:
    """A ``FileRef`` for ``raw``, or None after reporting SIL701 (missing) / SIL702 (outside)."""
    if raw in ctx.files:
        return ctx.files[raw]
    if not raw or "\x00" in raw:
        ctx.report("SIL701", f"empty or invalid {what} path", span)
        return None
    root = os.path.realpath(ctx.root)
    spec_dir = os.path.dirname(ctx.path)
    candidates = [raw] if os.path.isabs(raw) else [os.path.join(spec_dir, raw), os.path.join(root, raw)]
    chosen = None
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if not _inside(real, root):
            ctx.report(
                "SIL702", f"{what} `{raw}` is outside the spec tree ({root})", span,
                "specs may only read files inside their project (the folder with silspec.toml); "
                "copy the file in, or declare it external with env(\"VAR\")",
            )
            return None
        if os.path.exists(real):
            chosen = real
            break
    if chosen is None:
        if must_exist:
            ctx.report("SIL701", f"{what} `{raw}` does not exist", span,
                      f"looked next to the spec and at the tree root {root}")
        return None
    rel = os.path.relpath(chosen, root).replace(os.sep, "/")
    digest = sha256_file(chosen) if os.path.isfile(chosen) else ""
    ref = FileRef(rel, chosen, digest)
    ctx.files[raw] = ref
    return ref


def external(ctx: Context, var: str, span: Span | None, sha256: str | None = None) -> ExternalRef:
    """An input from an environment variable; unset is a warning (shipped specs lint clean)."""
    path = ctx.env.get(var) or None
    if path is None:
        ctx.report("SIL703", f"provide {var} to run this spec", span,
                    f"set the environment variable {var} to the file's path (it cannot ship with the spec; "
                    "the spec's comments or its study page under docs/studies/ say where to get it)")
    elif not os.path.exists(path):
        ctx.report("SIL703", f"{var} points to `{path}`, which does not exist", span,
                    f"fix the path in {var} before running")
    ref = ExternalRef(var, path, sha256)
    ctx.externals[var] = ref
    return ref


def regular_file_problem(path: str, limit: int) -> str | None:
    """Why ``path`` must not be read (not a regular file, or over ``limit`` bytes), or None.

    Checked with ``os.stat`` *before* opening: opening a FIFO blocks until someone writes to
    it, and reading ``/dev/zero`` never ends.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or type(exc).__name__}"
    if stat.S_ISDIR(info.st_mode):
        return "it is a directory, not a file"
    if stat.S_ISFIFO(info.st_mode):
        return "it is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        return "it is a device, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_size > limit:
        return f"it is {info.st_size:,} bytes (limit {limit:,})"
    return None


def read_text(ctx: Context, ref: FileRef, span: Span | None, *, limit: int = MAX_TEXT_FILE_BYTES,
              what: str = "file") -> str | None:
    """The UTF-8 text of a regular file of at most ``limit`` bytes, else None after SIL704."""
    problem = regular_file_problem(ref.absolute, limit)
    if problem is not None:
        ctx.report("SIL704", f"cannot read {what} `{ref.path}`: {problem}", span,
                  "spec inputs are regular UTF-8 text files inside the spec tree")
        return None
    try:
        with open(ref.absolute, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        ctx.report("SIL704", f"cannot read {what} `{ref.path}`: {exc.strerror or type(exc).__name__}", span,
                  "check the file's permissions")
        return None
    if len(data) > limit:  # it grew since the stat
        ctx.report("SIL704", f"cannot read {what} `{ref.path}`: it is over {limit:,} bytes", span)
        return None
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        ctx.report("SIL704", f"{what} `{ref.path}` is a binary file (a NUL byte on its line {line})", span,
                  "spec inputs are UTF-8 text files")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        ctx.report("SIL704", f"{what} `{ref.path}` is not UTF-8 text (byte 0x{data[exc.start]:02x} on its line {line})",
                  span, "save the file as UTF-8")
        return None


def call_path(node: Any) -> str | None:
    """The path string of ``file("...")`` / ``table("...")``."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.String):
        return node.args[0].value
    return None


def resolve_call(ctx: Context, node: Any, *, what: str) -> FileRef | None:
    """``file("...")`` / ``table("...")`` to a ``FileRef``; None when the call names no path or it fails."""
    raw = call_path(node)
    return resolve(ctx, raw, node.span, what=what) if raw else None
