"""``replicates = N``: the design run N times in one plan, each replicate under its own seed.

Replicate r (1-based) draws its personas with the study seed replaced by ``replicate_seed(seed,
r)`` and numbers them ``rep{r}/P001`` ...; the replicate thus enters every request id through the
persona key (the per-request sampling seed and option shuffles, derived from the persona id, differ
too). Ids are deterministic, so an interrupted run resumes replicate by replicate, and a spec
without ``replicates`` plans exactly as before (no prefix, same ids). A population with its own
``seed`` (or one that takes every row) gives every replicate the same people under new ids: the
replicates then differ only by the answers' seeds and option orders.
"""

from __future__ import annotations

import re

import attrs

from silspec.plan.personas import derive_seed
from silspec.spec.model import Spec

_PREFIX = re.compile(r"^rep(\d+)/")


def replicate_seed(seed: int, replicate: int) -> int:
    """The study seed of replicate ``replicate`` (1-based): derived, stable across platforms."""
    return derive_seed("replicate run", seed, replicate) % 2**31


def replicate_prefix(replicate: int) -> str:
    return f"rep{replicate}/"


def replicate_of(persona_id: str) -> int | None:
    """The replicate a persona id belongs to (``rep3/P001`` -> 3); None outside replicates."""
    match = _PREFIX.match(persona_id)
    return int(match.group(1)) if match else None


def replicate_spec(spec: Spec, replicate: int) -> Spec:
    """``spec`` with the study seed of replicate ``replicate``: what its personas are drawn from."""
    return attrs.evolve(spec, study=attrs.evolve(spec.study, seed=replicate_seed(spec.study.seed, replicate)))
