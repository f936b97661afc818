"""`silspec init [DIR]`: write a small working study to start from (offline, local SmolLM2).

Writes silspec.toml (the project root marker), study.sil and templates/prompt_en.j2 into DIR
(default: the current folder). Refuses, writing nothing, when any of these files exists.
Exit codes: 0 written, 1 a file exists or cannot be written, 2 usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

# Package-relative names of the starter files, written to the same relative paths in DIR.
STARTER_FILES = ("silspec.toml", "study.sil", "templates/prompt_en.j2")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("init", help="write a small working study to start from",
                              description=__doc__.splitlines()[0],
                              epilog=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="folder to write into (default: .)")
    p.set_defaults(handler=handle)


def starter_text(name: str) -> str:
    """A starter file's text, read from the package data (silspec/init_template/)."""
    return resources.files("silspec").joinpath("init_template", *name.split("/")).read_text(encoding="utf-8")


def write_starter(target: Path) -> list[Path]:
    """Write the starter files into ``target``; raise FileExistsError before writing any if one exists."""
    paths = [target / name for name in STARTER_FILES]
    existing = [p for p in paths if os.path.lexists(p)]
    if existing:
        raise FileExistsError(", ".join(str(p) for p in existing))
    texts = {p: starter_text(name) for p, name in zip(paths, STARTER_FILES)}
    written = []
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
            fh.write(text)
        written.append(path)
    return written


def handle(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        print(f"silspec init: not a folder: {target}", file=sys.stderr)
        return 2
    try:
        written = write_starter(target)
    except FileExistsError as exc:
        print(f"silspec init: refusing to overwrite existing file(s): {exc}; nothing was written",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"silspec init: cannot write into {target}: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    cd = "" if os.path.abspath(target) == os.getcwd() else f"cd {target}\n  "
    print(
        "\nNext:\n"
        f"  {cd}silspec lint study.sil              # check it\n"
        "  silspec plan study.sil              # see every prompt it will send\n"
        "  silspec run study.sil --limit 4     # a pilot: 4 requests on SmolLM2 (CPU, offline)\n"
        "  silspec run study.sil               # the whole study (20 requests), then the report\n"
        "The local model needs torch and transformers (pip install 'silspec[hf]') and its weights\n"
        "(silspec models fetch smollm2). docs/tutorial.md goes on from here."
    )
    return 0
