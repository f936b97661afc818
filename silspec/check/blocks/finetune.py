"""`finetune NAME { base = ...  train { ... } ... }`: LoRA fine-tuning configuration."""

from __future__ import annotations

from typing import Any

from silspec.check import values as v
from silspec.lang import ast
from silspec.check.blocks.common import assignments, blocks
from silspec.check.blocks.condition import names_or_group
from silspec.check.blocks.template import template_from
from silspec.check.context import Context
from silspec.spec.model import Finetune, Split

# The losses a spec may name (silspec/finetune/loss.py; a test keeps the two lists equal). The
# first four are the paper's ablation losses *as the authors ran them*; the last four are the
# textbook forms under their own names, so Table 7's ranking is never cited for them.
PAPER_LOSSES = ("kl", "ce", "js", "wasserstein")
TEXTBOOK_LOSSES = ("kl_sum", "soft_ce", "js_divergence", "ordinal_w1")


def build_finetunes(ctx: Context, models: dict, templates: dict, groups: dict) -> dict[str, Finetune]:
    out = {}
    for block in blocks(ctx.document.entries, "finetune"):
        a = assignments(block)
        base = v.as_name(ctx, a["base"].value, "base") if "base" in a else None
        if "base" not in a:
            ctx.error("SIL105", f"finetune `{block.name}` has no `base` model", block.name_span)
        elif base is not None and base not in models:
            ctx.undefined("model", base, a["base"].value.span, models)
            base = None
        prompt = template_from(ctx, a["prompt"].value, templates) if "prompt" in a else None
        if "prompt" not in a:
            ctx.error("SIL105", f"finetune `{block.name}` has no `prompt`", block.name_span)
        splits: dict[str, Split] = {}
        split_blocks: dict[str, Any] = {}
        for kind in ("train", "valid", "test"):
            sub = next(iter(block.blocks(kind)), None)
            if sub is None:
                continue
            sa = assignments(sub)
            countries = names_or_group(ctx, sa["countries"].value, groups, "countries") if "countries" in sa else ()
            items = names_or_group(ctx, sa["items"].value, groups, "items") if "items" in sa else ()
            splits[kind] = Split(tuple(countries or ()), tuple(items or ()))
            split_blocks[kind] = sub
        if "train" in splits:
            for kind in ("valid", "test"):
                if kind in splits:
                    _check_unseen(ctx, block.name, kind, split_blocks[kind], splits[kind], splits["train"])
        for kind in ("train", "valid"):
            if kind not in splits:
                ctx.error("SIL105", f"finetune `{block.name}` has no `{kind} {{ ... }}` split", block.name_span)
        if "train" in splits and "test" in splits:
            overlap = (set(splits["train"].countries) & set(splits["test"].countries)) if splits["train"].countries else set()
            overlap_items = set(splits["train"].items) & set(splits["test"].items)
            if overlap and overlap_items:
                ctx.report("SIL905", "train and test share countries and items: the test set leaks", block.name_span)
        loss = v.as_enum(ctx, a["loss"].value, PAPER_LOSSES + TEXTBOOK_LOSSES, "loss") if "loss" in a else "kl"
        kw: dict[str, Any] = {}
        lora = next(iter(block.blocks("lora")), None)
        if lora is not None:
            la = assignments(lora)
            if "rank" in la:
                kw["lora_rank"] = v.as_int(ctx, la["rank"].value, "rank", minimum=1) or 8
            if "alpha" in la:
                kw["lora_alpha"] = v.as_int(ctx, la["alpha"].value, "alpha", minimum=1) or 32
            if "dropout" in la:
                kw["lora_dropout"] = v.as_number(ctx, la["dropout"].value, "dropout") or 0.0
        opt = next(iter(block.blocks("optimiser")), None)
        options: dict[str, Any] = {}
        if opt is not None:
            kw["optimiser"] = opt.name or "adamw"
            oa = assignments(opt)
            if "lr" in oa:
                kw["learning_rate"] = v.as_number(ctx, oa["lr"].value, "lr") or 1e-4
            options.update({str(k): v.plain(x.value) for k, x in oa.items() if k != "lr"})
        if lora is not None and "targets" in assignments(lora):
            kw["lora_targets"] = v.as_str_list(ctx, assignments(lora)["targets"].value, "targets") or ()
        if "system" in a:
            kw["system"] = template_from(ctx, a["system"].value, templates)
        if "option_labels" in a:
            kw["option_labels"] = v.as_enum(ctx, a["option_labels"].value, ("auto", "codes", "letters"), "option_labels") or "auto"
        if "seed" in a:
            kw["seed"] = v.as_int(ctx, a["seed"].value, "seed", minimum=0)
        if "batch" in a:
            kw["batch_size"] = v.as_int(ctx, a["batch"].value, "batch", minimum=1) or 16
        if "epochs" in a:
            kw["epochs"] = v.as_int(ctx, a["epochs"].value, "epochs", minimum=1) or 3
        if base is None or prompt is None or "train" not in splits or "valid" not in splits:
            continue
        out[block.name] = Finetune(block.name, base, prompt, splits["train"], splits["valid"], splits.get("test"),
                                   loss=loss or "kl", options=options, **kw)
    return out


UNSEEN_DIMENSIONS = ("countries", "items")


def _check_unseen(ctx: Context, name: str, kind: str, sub: Any, split: Split, train: Split) -> None:
    """`unseen = [countries, items]` in a valid/test split: what the split's definition promises
    the model never saw in training. A country or item of such a dimension that the train split
    also lists leaks (SIL830, at the split's `countries`/`items` value)."""
    sa = assignments(sub)
    if "unseen" not in sa:
        return
    node = sa["unseen"].value
    elements = node.elements if isinstance(node, ast.ListExpr) else (node,)
    dimensions = [v.as_enum(ctx, el, UNSEEN_DIMENSIONS, "unseen") for el in elements]
    for dimension in dict.fromkeys(d for d in dimensions if d):
        if dimension not in sa:
            ctx.error("SIL105", f"finetune `{name}`: the {kind} split declares unseen {dimension} but lists none",
                      sub.name_span if getattr(sub, "name_span", None) else node.span)
            continue
        shared = [m for m in getattr(split, dimension) if m in set(getattr(train, dimension))]
        if not shared:
            continue
        shown = ", ".join(m.rpartition(".")[2] for m in shared[:8]) + (f" and {len(shared) - 8} more" if len(shared) > 8 else "")
        ctx.report(
            "SIL830",
            f"finetune `{name}`: the {kind} split declares unseen {dimension}, but {len(shared)} of its "
            f"{len(getattr(split, dimension))} {dimension} are in the train split too ({shown}): the {kind} set leaks",
            sa[dimension].value.span,
            f"remove them from the train or the {kind} split, or drop `{dimension}` from `unseen` if the {kind} set "
            f"is meant to reuse them",
        )
