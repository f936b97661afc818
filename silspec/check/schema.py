"""What each block kind may contain: the checker's half of the language (the grammar is generic).

``ANY`` marks a block whose keys are free (study ``meta``, persona attributes, item extra
fields). Sub-block kinds are looked up as ``parent.kind`` first (``descriptors.item`` differs
from ``survey.item``), then ``kind``.
"""

from __future__ import annotations

ANY = "*"

TOP_BLOCKS = (
    "study", "scale", "survey", "persona", "population", "descriptors", "parser", "model",
    "condition", "calibration", "finetune", "analysis",
    "pilot", "ablation",
)
NAMED_VALUES = ("template", "group")
UNNAMED = frozenset({"analysis", "meta", "bootstrap", "report", "lora", "train", "valid", "test", "pilot"})
EXTENDABLE = frozenset({"condition"})

SUB_BLOCKS: dict[str, tuple[str, ...]] = {
    "study": ("meta",),
    "condition": ("params",),
    "survey": ("item",),
    "survey.item": ("benchmark",),
    "descriptors": ("item",),
    "finetune": ("train", "valid", "test", "lora", "optimiser"),
    "analysis": ("metric", "bootstrap", "report", "subgroups", "joint", "curve"),
}

MODEL_PARAMS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "thinking",
    "top_logprobs", "presence_penalty", "frequency_penalty", "reasoning_effort",
)
MODEL_TRANSPORT = ("concurrency", "delay", "rpm", "tpm", "retries", "backoff", "timeout")
MODEL_OPTIONS = ("dtype", "device", "batch_size", "prompt_logprobs", "batch", "prefix_cache_mb")
# USD per million tokens, for `run --dry-run` cost estimates: transport-only (not in request ids,
# not in the spec hash), carried in `Model.options` / `PlanModel.options`
MODEL_PRICES = ("price_input_per_mtok", "price_output_per_mtok")
# `adapter = finetune.NAME` (hf only): load the LoRA adapter `silspec finetune` trained; the
# optional `adapter_dir` (inside the spec tree) overrides where it is read from
MODEL_ADAPTER = ("adapter", "adapter_dir")

KEYS: dict[str, tuple[str, ...] | str] = {
    "study": ("title", "seed", "language", "countries", "replicates"),
    "study.meta": ANY,
    "scale": ("range", "low", "high", "missing", "ordered"),  # plus integer codes
    "survey": ("source", "n", "benchmark"),
    "survey.item": ANY,  # text, scale, benchmark, benchmark_labels, source + extra fields
    "survey.item.benchmark": ("values", "unit", "n", "missing", "renormalise", "default", "source", "country"),
    "persona": ANY,  # attributes (+ note)
    "population": (
        "persona", "size", "sampling", "seed", "rows", "id", "columns", "where", "country_column",
        "weight", "descriptors",
    ),
    "descriptors": ("values", "missing", "separator", "items"),
    "descriptors.item": (),  # integer codes only
    "parser": ("extract", "valid", "refusal", "on_invalid", "on_error"),
    "model": ("backend", "name", "api_key", "base_url", "path", "package", *MODEL_PARAMS,
              *MODEL_TRANSPORT, *MODEL_OPTIONS, *MODEL_PRICES, *MODEL_ADAPTER),
    "condition": (
        "model", "population", "countries", "items", "system", "prompt", "parser", "answers",
        "samples", "option_order", "option_labels", "benchmark", "replicates",
    ),
    "condition.params": MODEL_PARAMS,  # `params ITEM { thinking = "medium" }`: per-item overrides
    "calibration": ("method", "temperature", "fit", "target"),
    "finetune": ("base", "prompt", "system", "option_labels", "loss", "batch", "epochs", "seed"),
    "finetune.train": ("countries", "items"),
    "finetune.valid": ("countries", "items", "unseen"),  # unseen = [countries, items]: lint SIL830
    "finetune.test": ("countries", "items", "unseen"),
    "finetune.lora": ("rank", "alpha", "dropout", "targets"),
    "finetune.optimiser": ("lr", "weight_decay", "warmup"),
    "analysis": ("benchmark",),
    "analysis.metric": ("log", "form", "alpha", "normalise"),
    "analysis.bootstrap": ("resamples", "level", "seed", "metrics"),
    "analysis.subgroups": ("items", "benchmark", "unit", "source"),  # check/blocks/subgroups.py
    "analysis.joint": ("items", "benchmark", "unit", "source"),
    "analysis.curve": ("metric", "sizes", "draws", "level", "seed"),
    "ablation": ("condition", "items", "metric", "permutations", "seed"),
    "pilot": ("personas", "js_max", "valid_min", "modal_max", "level", "resamples", "seed"),  # check/build/pilot.py
    "analysis.report": ("compliance", "per_item", "per_country", "plots", "formats", "title", "invalid_warning",
                        "diversity"),
}

INT_KEYED = frozenset({"scale", "descriptors.item"})  # blocks whose keys may be integer codes

METRICS = ("js", "ks", "chi2", "wasserstein", "mae", "variance", "accuracy", "emd_values_paper")
# The options a metric reads. Any other is an error (SIL102), and so is a value the analysis
# would not honour (`normalise = max`: every metric divides by the range); `alpha` is read by
# nothing (the report prints p-values) and is an error of its own (SIL910).
METRIC_OPTIONS: dict[str, tuple[str, ...]] = {
    "js": ("log", "form"), "ks": ("alpha",), "chi2": ("alpha",), "wasserstein": ("normalise",),
    "mae": ("normalise",), "variance": ("normalise",), "accuracy": (), "emd_values_paper": (),
}
# `js { form = ... }`: each names one number (all honour `log`, default e).
JS_FORMS = ("divergence", "distance", "one_minus_divergence", "one_minus_distance")
ORDINAL_METRICS = frozenset({"wasserstein", "ks", "mae"})
