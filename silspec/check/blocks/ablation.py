"""`ablation NAME { condition = C  items = [...] }`: a condition asked again with persona texts
built from subsets of its descriptor items, so that each item's Shapley value can be computed
(the value-persona paper's Figure 7).

The block expands here, at check time, into one generated condition per subset: the base
condition with ``descriptor_items`` set (the plan renders each persona's text from those items
only; ``plan.personas.descriptor_text``). The items the ablation does not list stay in every
subset; the subset of every listed item is the base condition itself (no new requests). Exact
Shapley values need all 2^k subsets, so k is capped at ``MAX_EXACT_ITEMS`` (1,024 subsets);
beyond it the block must declare ``permutations = N``: N item orders are sampled with the seed,
and only the subsets that are prefixes of those orders are asked.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np

from silspec.check import values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.spec.model import Ablation, Condition, Descriptors, Population, evolve

MAX_EXACT_ITEMS = 10
MAX_PERMUTATIONS = 10_000


def subset_condition_name(ablation: str, items: tuple[str, ...], subset: tuple[str, ...]) -> str:
    """``NAME__0110``: one digit per ablated item (1 = its sentence is in the persona text)."""
    return f"{ablation}__{''.join('1' if item in subset else '0' for item in items)}"


def build_ablations(
    ctx: Context,
    conditions: dict[str, Condition],
    populations: dict[str, Population],
    descriptors: dict[str, Descriptors],
    study_seed: int | None,
) -> tuple[dict[str, Ablation], dict[str, Condition]]:
    """The ablations and the conditions they generate (to add after the spec's own)."""
    ablations: dict[str, Ablation] = {}
    generated: dict[str, Condition] = {}
    for block in blocks(ctx.document.entries, "ablation"):
        if block.name is None or block.name in ablations:
            continue
        built = _ablation(ctx, block, conditions, populations, descriptors, study_seed)
        if built is None:
            continue
        ablation, subset_conditions = built
        clash = [name for name in subset_conditions if name in conditions or name in generated]
        if clash:
            ctx.report("SIL451", f"ablation `{block.name}` generates condition `{clash[0]}`, which already exists",
                       block.name_span, "rename the ablation")
            continue
        ablations[ablation.name] = ablation
        generated.update(subset_conditions)
        base = conditions[ablation.condition]
        _report_size(ctx, block, ablation, base, populations[base.population], len(subset_conditions))
    return ablations, generated


def _ablation(ctx, block, conditions, populations, descriptors, study_seed):
    a = assignments(block)
    if "condition" not in a:
        ctx.error("SIL105", f"ablation `{block.name}` needs `condition = NAME`", block.name_span,
                  "name the value-persona condition to ablate")
        return None
    base_name = v.as_name(ctx, a["condition"].value, "condition")
    if base_name is None:
        return None
    base = conditions.get(base_name)
    if base is None:
        ctx.undefined("condition", base_name, a["condition"].value.span, conditions)
        return None
    population = populations.get(base.population or "")
    table = descriptors.get(population.descriptors or "") if population is not None else None
    if table is None:
        ctx.report("SIL445", f"ablation `{block.name}`: condition `{base_name}` has no descriptor personas "
                             "(its population has no `descriptors`), so there is no persona text to ablate",
                   a["condition"].value.span)
        return None
    known = tuple(table.sentences)
    if "items" in a:
        node = a["items"].value
        items = v.as_str_list(ctx, node, "items")
        if items is None:
            return None
        unknown = [item for item in items if item not in known]
        if unknown:
            ctx.report("SIL446", f"ablation `{block.name}`: {', '.join(f'`{u}`' for u in unknown)} "
                                 f"{'is' if len(unknown) == 1 else 'are'} not an item of descriptors "
                                 f"`{table.name}`", node.span, f"its items: {', '.join(known)}")
            return None
        if len(items) < 2 or len(set(items)) != len(items):
            ctx.report("SIL450", f"ablation `{block.name}`: `items` needs at least 2 different items, got "
                                 f"{list(items)}", node.span)
            return None
        # the descriptor table's order, so that the full subset renders as the base condition does
        items = tuple(item for item in known if item in items)
    else:
        items = known
        if len(items) < 2:
            ctx.report("SIL450", f"ablation `{block.name}`: descriptors `{table.name}` have fewer than 2 items",
                       block.name_span)
            return None
    metric = v.as_name(ctx, a["metric"].value, "metric") if "metric" in a else "mae"
    permutations = 0
    if "permutations" in a:
        permutations = v.as_int(ctx, a["permutations"].value, "permutations", minimum=1,
                                maximum=MAX_PERMUTATIONS) or 0
        if not permutations:
            return None
    seed = v.as_int(ctx, a["seed"].value, "seed", minimum=0) if "seed" in a else None
    if not permutations and len(items) > MAX_EXACT_ITEMS:
        ctx.report("SIL447", f"ablation `{block.name}` over {len(items)} items: exact Shapley values need "
                             f"2^{len(items)} = {2 ** len(items):,} subsets (at most {MAX_EXACT_ITEMS} items, "
                             f"{2 ** MAX_EXACT_ITEMS:,} subsets)", a["items"].value.span if "items" in a else block.name_span,
                   "list at most 10 `items`, or estimate from sampled orders: `permutations = 200  seed = 1`")
        return None
    orders: tuple[tuple[str, ...], ...] = ()
    if permutations:
        rng = np.random.default_rng([seed if seed is not None else (study_seed or 0), zlib.crc32(block.name.encode())])
        orders = tuple(tuple(items[i] for i in rng.permutation(len(items))) for _ in range(permutations))
        wanted = {frozenset(order[:j]) for order in orders for j in range(len(items) + 1)}
        subsets = [s for s in _all_subsets(items) if frozenset(s) in wanted]
    else:
        subsets = _all_subsets(items)
    fixed = tuple(item for item in known if item not in items)
    by_subset: list[tuple[tuple[str, ...], str]] = []
    generated: dict[str, Condition] = {}
    for subset in subsets:
        if len(subset) == len(items):
            by_subset.append((subset, base_name))
            continue
        name = subset_condition_name(block.name, items, subset)
        keep = set(subset) | set(fixed)
        generated[name] = evolve(
            base, name=name, extends=base_name, descriptor_items=tuple(i for i in known if i in keep)
        )
        by_subset.append((subset, name))
    ablation = Ablation(
        name=block.name, condition=base_name, items=items, metric=metric or "mae",
        method="permutations" if permutations else "exact", permutations=permutations, seed=seed,
        subsets=tuple(by_subset), orders=orders,
    )
    return ablation, generated


def _all_subsets(items: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every subset, smallest first, each in ``items`` order."""
    return [subset for size in range(len(items) + 1) for subset in itertools.combinations(items, size)]


def _report_size(ctx, block, ablation: Ablation, base: Condition, population: Population, n_new: int) -> None:
    """SIL448 (info): what the ablation will ask, before anything runs."""
    countries = max(1, len(base.countries))
    personas = f"{population.size:,} personas" if population.size is not None else "every matching row"
    per_condition = (
        f"{len(base.items)} items × {countries} countries × {personas} × {base.samples} samples"
    )
    total = ""
    if population.size is not None:
        total = f" = {n_new * len(base.items) * countries * population.size * base.samples:,} requests"
    how = (f"all 2^{len(ablation.items)} subsets" if ablation.method == "exact"
           else f"the prefixes of {ablation.permutations} sampled orders: {len(ablation.subsets)} subsets")
    ctx.report("SIL448", f"ablation `{ablation.name}` over {len(ablation.items)} items ({how}): {n_new:,} new "
                         f"conditions (the full set is `{ablation.condition}`) × {per_condition}{total}",
               block.name_span, "`silspec plan` shows the ablation's size; `--condition` runs a part of it")
