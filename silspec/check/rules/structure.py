"""SIL0xx/SIL1xx: the file's shape — header, known blocks and keys, names, duplicates.

Runs on the syntax tree before anything is built, so that "unknown key `temprature`, did you
mean `temperature`?" is reported even when the block is otherwise broken.
"""

from __future__ import annotations

from silspec.check import schema
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean

SUPPORTED_VERSIONS = (1,)


def check(ctx: Context) -> None:
    doc = ctx.document
    if doc.version is None:
        first = doc.entries[0].span if doc.entries else doc.span
        ctx.report("SIL004", "missing the `silspec 1` header", first,
                  "start the file with `silspec 1` (the language version)")
    elif doc.version not in SUPPORTED_VERSIONS:
        ctx.report("SIL005", f"unsupported language version {doc.version}", doc.version_span,
                  f"this silspec understands: {', '.join(map(str, SUPPORTED_VERSIONS))}")

    seen: dict[tuple[str, str], ast.Entry] = {}
    counts: dict[str, list[ast.Block]] = {}
    for entry in doc.entries:
        if isinstance(entry, ast.Block):
            if entry.kind not in schema.TOP_BLOCKS:
                hint = did_you_mean(entry.kind, schema.TOP_BLOCKS + schema.NAMED_VALUES) or (
                    f"blocks: {', '.join(schema.TOP_BLOCKS)}")
                ctx.report("SIL101", f"unknown block `{entry.kind}`", entry.kind_span, hint)
                continue
            counts.setdefault(entry.kind, []).append(entry)
            _check_block(ctx, entry, entry.kind)
            if entry.name is not None:
                _unique(ctx, seen, (entry.kind, entry.name), entry, entry.name_span)
        elif isinstance(entry, ast.NamedValue):
            if entry.kind not in schema.NAMED_VALUES:
                hint = did_you_mean(entry.kind, schema.NAMED_VALUES + schema.TOP_BLOCKS) or (
                    "only `template NAME = ...` and `group NAME = [...]` take this form")
                ctx.report("SIL101", f"unknown declaration `{entry.kind} {entry.name} = ...`", entry.kind_span, hint)
                continue
            _unique(ctx, seen, (entry.kind, entry.name), entry, entry.name_span)
        elif isinstance(entry, ast.Assignment):
            ctx.report("SIL101", f"`{entry.key} = ...` outside a block", entry.key_span,
                      "keys belong inside a block such as `study NAME { ... }`")
        else:
            ctx.report("SIL101", "`compare`/`calibrate` outside `analysis { ... }`", entry.span,
                      "move the statement into the analysis block")

    studies = counts.get("study", [])
    if not studies:
        ctx.report("SIL106", "no `study` block", doc.entries[0].span if doc.entries else doc.span,
                  "every spec has exactly one `study NAME { title = ...  seed = ... }`")
    for extra in studies[1:]:
        ctx.report("SIL106", "more than one `study` block", extra.kind_span, "a spec describes one study")
    for extra in counts.get("analysis", [])[1:]:
        ctx.report("SIL106", "more than one `analysis` block", extra.kind_span, "merge them into one")


def _unique(ctx: Context, seen: dict, key: tuple, entry: ast.Entry, span) -> None:
    if key in seen:
        first = seen[key].span
        ctx.report("SIL103", f"duplicate {key[0]} `{key[1]}`", span,
                  f"first defined at line {first.line}; names must be unique per kind")
    else:
        seen[key] = entry


def _check_block(ctx: Context, block: ast.Block, path: str) -> None:
    kind = block.kind
    if kind in schema.UNNAMED and block.name is not None:
        ctx.report("SIL107", f"`{kind}` takes no name", block.name_span, f"write `{kind} {{ ... }}`")
    elif kind not in schema.UNNAMED and block.name is None:
        ctx.report("SIL107", f"`{kind}` needs a name", block.kind_span, f"write `{kind} NAME {{ ... }}`")
    if block.extends is not None and kind not in schema.EXTENDABLE:
        ctx.report("SIL108", f"`{kind}` blocks cannot use `extends`", block.extends_span,
                  "only conditions inherit (`condition b extends a { ... }`)")

    allowed = schema.KEYS.get(path, ())
    sub_kinds = schema.SUB_BLOCKS.get(path, ())
    int_keys = path in schema.INT_KEYED
    seen_keys: dict = {}
    sub_names: dict = {}
    for entry in block.entries:
        if isinstance(entry, ast.Assignment):
            key = entry.key
            if key in seen_keys:
                ctx.report("SIL104", f"duplicate key `{key}` in `{kind}`", entry.key_span,
                          f"first set at line {seen_keys[key].line}; the later value would silently win")
            else:
                seen_keys[key] = entry.key_span
            if isinstance(key, int):
                if not int_keys:
                    ctx.report("SIL102", f"integer key `{key}` is not allowed in `{kind}`", entry.key_span,
                              "integer keys are scale codes (inside `scale` or `descriptors ... item`)")
            elif allowed != schema.ANY and key not in allowed:
                if path == "analysis.metric":
                    pass  # options differ per metric: checked by the analysis builder
                else:
                    hint = did_you_mean(key, list(allowed) + list(sub_kinds)) or (
                        f"keys of `{kind}`: {', '.join(allowed)}" if allowed else f"`{kind}` takes no `key = value` entries")
                    ctx.report("SIL102", f"unknown key `{key}` in `{kind}`", entry.key_span, hint)
        elif isinstance(entry, ast.Block):
            sub_path = f"{path}.{entry.kind}"
            if entry.kind not in sub_kinds:
                hint = did_you_mean(entry.kind, list(sub_kinds) + (list(allowed) if allowed != schema.ANY else []))
                if hint is None:
                    hint = (f"blocks inside `{kind}`: {', '.join(sub_kinds)}" if sub_kinds
                            else f"`{kind}` has no nested blocks")
                ctx.report("SIL101", f"unknown block `{entry.kind}` inside `{kind}`", entry.kind_span, hint)
                continue
            _check_block(ctx, entry, sub_path)
            if entry.name is not None:
                k = (entry.kind, entry.name)
                if k in sub_names:
                    ctx.report("SIL103", f"duplicate {entry.kind} `{entry.name}` in `{kind}`", entry.name_span,
                              f"first defined at line {sub_names[k].line}")
                else:
                    sub_names[k] = entry.span
        elif isinstance(entry, (ast.Compare, ast.Calibrate)):
            if path != "analysis":
                ctx.report("SIL101", f"`{type(entry).__name__.lower()}` is only allowed in `analysis`", entry.span)
        elif isinstance(entry, ast.NamedValue):
            ctx.report("SIL101", f"`{entry.kind} {entry.name} = ...` inside `{kind}`", entry.kind_span,
                      f"`{entry.kind}` declarations belong at top level")


