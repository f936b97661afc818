"""Reading a spec file's bytes safely: the first step of lint, plan and fmt alike.

A leaf of ``lang`` so that ``silspec fmt`` reads a spec without importing the checker (and
Jinja), as it would through ``silspec.spec.load``.
"""

from __future__ import annotations

import os
import stat

from silspec.lang.parser import MAX_SPEC_CHARS


def read_source(path: str) -> tuple[bytes | None, str]:
    """A spec file's bytes, or None and why not: checked with ``os.stat`` before opening (a
    FIFO would block forever, ``/dev/zero`` never ends) and read only up to the size limit."""
    limit = MAX_SPEC_CHARS * 4  # UTF-8: at most 4 bytes per character
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            return None, f"{path} is a directory, not a spec file"
        if not stat.S_ISREG(info.st_mode):
            return None, f"{path} is not a regular file (a pipe or a device)"
        if info.st_size > limit:
            return None, f"{path} is {info.st_size:,} bytes (a spec is at most {MAX_SPEC_CHARS:,} characters)"
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None, f"no such file: {path}"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or type(exc).__name__}"
    if len(data) > limit:
        return None, f"{path} is over {limit:,} bytes (a spec is at most {MAX_SPEC_CHARS:,} characters)"
    return data, ""
