"""From parsed answers to distributions over an item's codes, and benchmarks made comparable.

Two ways to get a simulated distribution (see ARCHITECTURE.md):
- ``sampled``: a histogram of the parsed codes over personas (and replicates);
- ``option_probs``: the mean over personas of each persona's option probabilities,
  renormalised over the valid codes (the valid mass is reported by ``compliance``).

Each condition × item (× country) cell has two variants, because the KGSS paper filled failed
requests with the midpoint and a reader must see what that did:
- ``with_defaults``: every answer that has a code, defaults included (what the paper computed);
- ``valid_only``: only answers whose code came from the model.

Benchmarks are normalised explicitly: the values over the substantive codes are divided by their
sum. Whatever the source kept in its denominator (don't know, refused) is therefore dropped and
the rest renormalised; ``BenchmarkShares`` records the original total so the report can say so.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from typing import Iterable, Literal, Mapping, Sequence

from attrs import field, frozen

from silspec.spec.model import Benchmark

Variant = Literal["with_defaults", "valid_only"]
# Answer modes whose answers are distributions, not codes: averaged per persona, and without a
# sample size (no KS p-value, no chi-square). ``verbalised`` = the model stated the distribution.
PROBABILITY_MODES = frozenset({"option_probs", "verbalised"})
VARIANTS: tuple[Variant, ...] = ("with_defaults", "valid_only")


@frozen
class ScoredAnswer:
    """One stored answer's verdict (``silspec.answers.Verdict``) with the cell it belongs to."""

    condition: str
    item: str
    persona: str
    replicate: int
    answers: str  # answer mode: sampled | option_probs | verbalised
    outcome: str  # answered | invalid | refused | error (silspec.answers.outcomes)
    code: int | None = None
    defaulted: bool = False
    dropped: bool = False
    option_probs: Mapping[int, float] | None = None  # the verdict's distribution (option_probs, verbalised)
    valid_mass: float | None = None
    country: str | None = None


@frozen
class SimDistribution:
    """A simulated distribution over ``codes`` for one cell and one variant.

    ``counts`` are answer counts (sampled) or summed probabilities (option_probs, verbalised).
    ``persona_shares`` holds each persona's own distribution (one-hot or replicate shares for
    sampled answers, option probabilities otherwise), aligned with ``persona_ids``: the
    bootstrap resamples these rows.
    """

    condition: str
    item: str
    variant: Variant
    answers: str
    codes: tuple[int, ...]
    counts: tuple[float, ...]
    n: int  # answers that contributed
    persona_ids: tuple[str, ...] = ()
    persona_shares: tuple[tuple[float, ...], ...] = ()
    country: str | None = None

    @property
    def probs(self) -> tuple[float, ...] | None:
        """Shares over codes; None when no answer contributed."""
        total = float(sum(self.counts))
        if self.n == 0 or total <= 0:
            return None
        return tuple(c / total for c in self.counts)

    @property
    def integer_counts(self) -> tuple[int, ...]:
        """Counts as ints (sampled); for option_probs, ``n`` × probs rounded (largest remainder)."""
        probs = self.probs
        if probs is None:
            return tuple(0 for _ in self.codes)
        if self.answers not in PROBABILITY_MODES:
            return tuple(int(round(c)) for c in self.counts)
        return largest_remainder(probs, self.n)


@frozen
class BenchmarkShares:
    """A benchmark as the metrics see it: proportions over the substantive codes."""

    item: str
    name: str
    codes: tuple[int, ...]
    proportions: tuple[float, ...]
    total: float  # sum of the values as written, in ``unit``
    unit: str
    n: int | None = None
    missing_share: float | None = None  # declared non-substantive share, same unit
    renormalised: bool = False  # the written values did not sum to 100 % / 1
    country: str | None = None
    labels: tuple[str, ...] = field(factory=tuple)

    @property
    def total_percent(self) -> float:
        if self.unit == "count":
            return 100.0  # the counts are the whole table of substantive answers
        return self.total if self.unit == "percent" else self.total * 100.0

    @property
    def dropped_percent(self) -> float:
        """How far the written values are from 100 %: negative when they sum past 100."""
        return 100.0 - self.total_percent


def benchmark_shares(
    item_id: str,
    benchmark: Benchmark,
    codes: Sequence[int],
    *,
    labels: Sequence[str] = (),
    tolerance_percent: float = 0.05,
) -> BenchmarkShares:
    """Normalise one benchmark; a clear error when its length does not match the scale."""
    if len(benchmark.values) != len(codes):
        raise ValueError(
            f"{item_id}: benchmark {benchmark.name!r} has {len(benchmark.values)} values "
            f"but the scale has {len(codes)} substantive codes {list(codes)}"
        )
    if any(v < 0 or not math.isfinite(v) for v in benchmark.values):
        raise ValueError(f"{item_id}: benchmark {benchmark.name!r} has a negative or non-finite value")
    if benchmark.total <= 0:
        raise ValueError(f"{item_id}: benchmark {benchmark.name!r} sums to zero")
    if benchmark.unit == "count":  # respondents per code: their own sum is the whole, nothing to renormalise
        renormalised = False
    else:
        full = 100.0 if benchmark.unit == "percent" else 1.0
        renormalised = abs(benchmark.total - full) > tolerance_percent * full / 100.0
    return BenchmarkShares(
        item=item_id,
        name=benchmark.name,
        codes=tuple(codes),
        proportions=benchmark.proportions(),
        total=benchmark.total,
        unit=benchmark.unit,
        n=benchmark.n,
        missing_share=benchmark.missing_share,
        renormalised=renormalised,
        country=benchmark.country,
        labels=tuple(labels),
    )


def largest_remainder(proportions: Sequence[float], n: int) -> tuple[int, ...]:
    """Integer counts summing to ``n`` closest to ``n × proportions`` (Hamilton's method)."""
    quotas = [p * n for p in proportions]
    floors = [math.floor(q) for q in quotas]
    short = n - sum(floors)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - floors[i]), i))
    for i in order[:short]:
        floors[i] += 1
    return tuple(floors)


def build_distributions(
    answers: Iterable[ScoredAnswer],
    codes_by_item: Mapping[str, Sequence[int]],
) -> dict[tuple[str, str, str | None], dict[Variant, SimDistribution]]:
    """Group scored answers by (condition, item, country) and build both variants.

    Keys keep first-seen order. Items unknown to ``codes_by_item`` are a clear error.
    """
    grouped: dict[tuple[str, str, str | None], list[ScoredAnswer]] = defaultdict(list)
    for answer in answers:
        if answer.item not in codes_by_item:
            raise KeyError(f"answer for unknown item {answer.item!r} (condition {answer.condition!r})")
        grouped[(answer.condition, answer.item, answer.country)].append(answer)
    return {
        key: {
            variant: _distribution(key, cell, tuple(codes_by_item[key[1]]), variant)
            for variant in VARIANTS
        }
        for key, cell in grouped.items()
    }


def _contribution(answer: ScoredAnswer, codes: tuple[int, ...], variant: Variant) -> Sequence[float] | None:
    """This answer's share vector over codes, or None when it does not count in ``variant``."""
    if answer.dropped:
        return None
    if variant == "valid_only" and (answer.defaulted or answer.outcome != "answered"):
        return None
    if answer.answers in PROBABILITY_MODES and answer.option_probs and not answer.defaulted:
        raw = [float(answer.option_probs.get(code, 0.0)) for code in codes]
        mass = sum(raw)
        if mass <= 0:
            return None
        return [v / mass for v in raw]
    if answer.code is None or answer.code not in codes:
        return None
    return _one_hot(codes, answer.code)


@functools.lru_cache(maxsize=4096)
def _one_hot(codes: tuple[int, ...], code: int) -> tuple[float, ...]:
    """One shared vector per (scale, code): a sampled answer's share vector is read, never changed."""
    return tuple(1.0 if c == code else 0.0 for c in codes)


def _distribution(
    key: tuple[str, str, str | None],
    cell: list[ScoredAnswer],
    codes: tuple[int, ...],
    variant: Variant,
) -> SimDistribution:
    condition, item, country = key
    counts = [0.0] * len(codes)
    per_persona: dict[str, list[Sequence[float]]] = {}
    n = 0
    one_hot = probability = 0
    for answer in cell:
        vector = _contribution(answer, codes, variant)
        if vector is None:
            continue
        if answer.answers in PROBABILITY_MODES and answer.option_probs and not answer.defaulted:
            probability += 1
        else:
            one_hot += 1
        n += 1
        for i, v in enumerate(vector):
            counts[i] += v
        per_persona.setdefault(answer.persona, []).append(vector)
    modes = {a.answers for a in cell}
    if "option_probs" in modes and one_hot and probability:
        raise ValueError(
            f"{condition} {item}{'/' + country if country else ''} ({variant}): {probability} answers are "
            f"option probabilities and {one_hot} are single codes; an option_probs item never mixes "
            "probability vectors with one-hot answers (the scorer leaves failed ones unfilled)"
        )
    # one copy of each distinct share vector: with single sampled answers they are the few
    # one-hot vectors, and 100,000 personas need not hold 100,000 equal tuples
    distinct: dict[tuple[float, ...], tuple[float, ...]] = {}
    persona_shares = tuple(
        distinct.setdefault(shares, shares)
        for shares in (tuple(sum(column) / len(rows) for column in zip(*rows)) for rows in per_persona.values())
    )
    return SimDistribution(
        condition=condition,
        item=item,
        variant=variant,
        answers=modes.pop() if len(modes) == 1 else "mixed",
        codes=codes,
        counts=tuple(counts),
        n=n,
        persona_ids=tuple(per_persona),
        persona_shares=persona_shares,
        country=country,
    )
