"""Training, validation and test examples of a ``finetune`` block.

One example per (country, item) of a split: the prompt exactly as a plan would render it for a
country-level ``option_probs`` condition with the block's ``prompt``/``system`` and
``option_labels`` (the examples *are* compiled by ``silspec.plan.compile``, so training and
evaluation see byte-identical prompts), the option tokens, and the target: the benchmark's
shares over the substantive codes, in presented order. Cells without a benchmark (e.g. EGY
Q69 in WVS-7) are skipped and counted. Order is deterministic: items, then countries, as the
split lists them; ``limit`` keeps a seeded, order-preserving subsample.
"""

from __future__ import annotations

import random
from typing import Iterable

from attrs import evolve, frozen

from silspec.finetune.errors import FinetuneError
from silspec.plan.model import Message
from silspec.spec.model import Condition, Finetune, Parser, Spec, Split

SPLITS = ("train", "valid", "test")
_PARSER = "__finetune__"  # a plan needs a parser; examples never parse text


@frozen
class Example:
    split: str
    item: str  # qualified item id
    country: str
    messages: tuple[Message, ...]
    option_codes: tuple[int, ...]  # in presented order
    option_tokens: tuple[str, ...]  # aligned with option_codes
    target: tuple[float, ...]  # benchmark shares aligned with option_codes, summing to 1


@frozen
class SplitExamples:
    name: str
    examples: tuple[Example, ...]
    cells: int  # (country, item) pairs the split names
    without_benchmark: tuple[tuple[str, str], ...]  # (country, item) skipped: no benchmark
    limited_from: int | None = None  # examples before --limit-examples, when it applied


def get_finetune(spec: Spec, name: str | None) -> Finetune:
    """The named finetune block, or the only one; a FinetuneError names the choices."""
    if not spec.finetunes:
        raise FinetuneError("the spec declares no `finetune` block")
    if name is None:
        if len(spec.finetunes) > 1:
            raise FinetuneError(f"the spec declares several finetune blocks; pick one with --name: {', '.join(spec.finetunes)}")
        return next(iter(spec.finetunes.values()))
    if name not in spec.finetunes:
        from silspec.lang.diagnostics import did_you_mean

        hint = did_you_mean(name, list(spec.finetunes)) or f"the spec has: {', '.join(spec.finetunes)}"
        raise FinetuneError(f"no finetune block named {name!r} ({hint})")
    return spec.finetunes[name]


def build_examples(
    spec: Spec, finetune: Finetune | str | None = None, *, limit: int | None = None, seed: int | None = None
) -> dict[str, SplitExamples]:
    """Examples per split (``train``, ``valid`` and, when declared, ``test``)."""
    if not isinstance(finetune, Finetune):
        finetune = get_finetune(spec, finetune)
    if limit is not None and limit < 1:
        raise FinetuneError("--limit-examples must be at least 1")
    seed = _seed(spec, finetune) if seed is None else seed
    splits = {k: s for k, s in (("train", finetune.train), ("valid", finetune.valid), ("test", finetune.test)) if s is not None}
    for kind, split in splits.items():
        _validate(spec, finetune, kind, split)
    requests = _compile(spec, finetune, splits)
    benchmark_name = spec.analysis.benchmark
    out: dict[str, SplitExamples] = {}
    for kind, split in splits.items():
        examples: list[Example] = []
        missing: list[tuple[str, str]] = []
        for request in requests[kind]:
            target = _target(spec, request.item, request.country, request.option_codes, benchmark_name)
            if target is None:
                missing.append((request.country, request.item))
                continue
            examples.append(Example(kind, request.item, request.country, request.messages,
                                    request.option_codes, request.option_tokens, target))
        limited_from = None
        if limit is not None and len(examples) > limit:
            limited_from = len(examples)
            examples = _subsample(examples, limit, f"{seed}:{kind}")
        out[kind] = SplitExamples(kind, tuple(examples), len(split.items) * len(split.countries),
                                  tuple(missing), limited_from)
    return out


def _seed(spec: Spec, finetune: Finetune) -> int:
    return finetune.seed if finetune.seed is not None else spec.study.seed


def _validate(spec: Spec, finetune: Finetune, kind: str, split: Split) -> None:
    where = f"finetune {finetune.name!r}, {kind} split"
    if not split.countries:
        raise FinetuneError(f"{where}: no countries (examples are country-level: `countries = group(C1)`)")
    if not split.items:
        raise FinetuneError(f"{where}: no items")
    for item_id in split.items:
        try:
            spec.item(item_id)
        except KeyError:
            raise FinetuneError(f"{where}: unknown item {item_id!r} (write `survey.ITEM`)") from None


def _compile(spec: Spec, finetune: Finetune, splits: dict[str, Split]) -> dict[str, list]:
    """Render every split through the plan compiler: one country-level condition per split."""
    from silspec.plan.compile import compile_plan
    from silspec.plan.errors import PlanError

    names = {kind: f"{finetune.name}:{kind}" for kind in splits}
    conditions = {
        names[kind]: Condition(
            name=names[kind], model=finetune.base, items=split.items, parser=_PARSER,
            prompt=finetune.prompt, system=finetune.system, countries=split.countries,
            answers="option_probs", option_labels=finetune.option_labels,
        )
        for kind, split in splits.items()
    }
    derived = evolve(spec, conditions=conditions, parsers={**spec.parsers, _PARSER: Parser(_PARSER)})
    try:
        plan = compile_plan(derived)
    except PlanError as exc:
        raise FinetuneError(f"finetune {finetune.name!r}: {exc}") from None
    by_condition: dict[str, list] = {name: [] for name in names.values()}
    for request in plan.requests:
        # first-token training needs one first token per option: "1" and "10" cannot be told apart
        if len({token.strip()[:1] for token in request.option_tokens}) < len(request.option_tokens):
            raise FinetuneError(
                f"finetune {finetune.name!r}: option tokens {list(request.option_tokens)} of {request.item} "
                "share a first token, so first-token training cannot tell them apart; "
                "use option_labels = letters (or auto)"
            )
        by_condition[request.condition].append(request)
    return {kind: by_condition[name] for kind, name in names.items()}


def rendered_requests(spec: Spec, finetune: Finetune, split: Split) -> list:
    """The plan requests of ``split`` rendered with the block's prompt, benchmark or not (the
    [ctrl] baseline renders prompts for countries it only names)."""
    _validate(spec, finetune, "train", split)
    return _compile(spec, finetune, {"train": split})["train"]


def _target(spec: Spec, item_id: str, country: str | None, codes: tuple[int, ...], name: str | None) -> tuple[float, ...] | None:
    item = spec.item(item_id)
    benchmark = item.benchmark(name, country) if name and any(b.name == name for b in item.benchmarks) else item.benchmark(None, country)
    if benchmark is None or benchmark.total <= 0:
        return None
    share = dict(zip(item.scale.codes, benchmark.proportions()))
    return tuple(float(share[code]) for code in codes)


def _subsample(examples: list[Example], limit: int, key: str) -> list[Example]:
    """``limit`` examples spread over the split (seeded), in their original order."""
    keep = sorted(random.Random(key).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


def counts(splits: Iterable[SplitExamples]) -> dict[str, dict[str, int]]:
    """Per split: examples, cells, cells without a benchmark (for metrics.json and the CLI)."""
    return {
        s.name: {
            "examples": len(s.examples),
            "cells": s.cells,
            "without_benchmark": len(s.without_benchmark),
            **({"before_limit": s.limited_from} if s.limited_from is not None else {}),
        }
        for s in splits
    }
