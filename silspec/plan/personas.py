"""Persona sampling: deterministic from the seed, whatever the process or platform.

Every random choice comes from ``numpy.random.Generator(PCG64(seed))`` with seeds derived by
sha256 (never Python's ``hash()``, which ``PYTHONHASHSEED`` changes between processes).

Methods (``Population.sampling``):
- ``stratified``: counts by largest-remainder allocation of ``size`` to each attribute's
  shares, conditional attributes allocated within each group of their conditioning values
  (sequential conditional allocation gives the joint); then one seeded shuffle.
- ``quota``: exact counts where an attribute has ``kind="counts"`` (rescaled by largest
  remainder when they do not add up to the group), shares drawn at random, ``choices`` uniform;
  then one seeded shuffle.
- ``random``: every attribute drawn independently for every persona.
- ``rows``: individual rows from a CSV (shipped ``rows`` or ``external`` microdata), filtered by
  ``where`` (``{{ country }}`` substituted) and the country column, sampled without replacement
  (weighted by ``weight``) when ``size`` is smaller than the rows; descriptor personas get
  ``text`` built from the descriptor sentences of the row's answers.
"""

from __future__ import annotations

import csv
import hashlib
import os
from typing import Sequence

import numpy as np

from silspec.plan.errors import PlanError
from silspec.plan.model import Persona
from silspec.plan.persona_table import SchemaPersonas
from silspec.spec.model import Attribute, Descriptors, Population, Spec


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from its parts, stable across processes and platforms."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(derive_seed(*parts)))


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Integer counts summing to ``total`` in proportion to ``weights`` (Hamilton's method).

    Ties in the remainders go to the earlier value, so the result is deterministic.
    """
    w = np.asarray(weights, dtype=float)
    if total == 0:
        return [0] * len(w)
    if len(w) == 0 or w.sum() <= 0 or (w < 0).any():
        raise ValueError("weights must be non-negative with a positive sum")
    quotas = w / w.sum() * total
    counts = np.floor(quotas).astype(int)
    short = total - int(counts.sum())
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[:short]] += 1
    return counts.tolist()


# ----------------------------------------------------------------------------- schema sampling


def sample_schema(spec: Spec, population: Population, country: str | None) -> list[Persona]:
    """Personas drawn from a persona schema (stratified, quota or random), as objects.

    Small populations and tests; the plan compiler keeps the columns (``sample_schema_columns``).
    """
    return list(sample_schema_columns(spec, population, country).personas())


def sample_schema_columns(spec: Spec, population: Population, country: str | None) -> SchemaPersonas:
    """Personas drawn from a persona schema, held as one array of value indices per attribute.

    The draws are the ones a list of per-persona dicts would get (same generator calls in the
    same order: groups of conditioning values in order of first appearance, members in
    position order), at a few bytes per persona instead of a dict each.
    """
    if population.schema is None or population.schema not in spec.personas:
        raise PlanError(f"population {population.name!r} names no persona schema")
    if not population.size:
        raise PlanError(f"population {population.name!r} needs a size to sample a schema")
    schema = spec.personas[population.schema]
    seed = population.seed if population.seed is not None else spec.study.seed
    rng = rng_for("personas", seed, population.name, country or "")
    size = population.size
    codes: dict[str, np.ndarray] = {}
    values = {a.name: a.values for a in schema.attributes}
    for attribute in schema.attributes:
        codes[attribute.name] = _assign(attribute, codes, values, size, population.sampling, rng,
                                        population.name)
    if population.sampling in ("stratified", "quota"):
        order = rng.permutation(size)
        codes = {name: column[order] for name, column in codes.items()}
    return SchemaPersonas(
        names=tuple(a.name for a in schema.attributes),
        values=tuple(tuple(a.values) for a in schema.attributes),
        codes=[codes[a.name] for a in schema.attributes],
        size=size,
        prefix=f"{country}-" if country else "",
        width=max(3, len(str(size))),
        country=country,
    )


def _assign(
    attribute: Attribute,
    codes: dict[str, np.ndarray],
    values: dict[str, Sequence[str]],
    size: int,
    sampling: str,
    rng: np.random.Generator,
    population: str,
) -> np.ndarray:
    """One attribute's value indices for every persona, drawn group by group."""
    column = np.zeros(size, dtype=_code_type(len(attribute.values)))
    for given_values, members in _groups(attribute, codes, values, size, population):
        weights = _weights(attribute, given_values, population)
        if attribute.kind == "choices":
            weights = [1.0 if w > 0 else 0.0 for w in weights]
        allocate = sampling == "stratified" or (sampling == "quota" and attribute.kind == "counts")
        if allocate:
            counts = largest_remainder(weights, len(members))
            values = np.repeat(np.arange(len(attribute.values)), counts)
            drawn = rng.permutation(values)
        else:
            p = np.asarray(weights, dtype=float)
            drawn = rng.choice(len(attribute.values), size=len(members), p=p / p.sum())
        column[members] = drawn
    return column


def _code_type(n_values: int) -> type:
    return np.uint8 if n_values <= 2**8 else np.uint16 if n_values <= 2**16 else np.uint32


def _groups(attribute: Attribute, codes: dict[str, np.ndarray], values: dict[str, Sequence[str]],
            size: int, population: str) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """(conditioning values, member positions) in order of each group's first member."""
    if not attribute.given:
        return [((), np.arange(size))]
    missing = [g for g in attribute.given if g not in codes]
    if missing:
        raise PlanError(
            f"population {population!r}: attribute {attribute.name!r} depends on {missing[0]!r}, "
            "which is not sampled before it"
        )
    given = np.stack([codes[g].astype(np.int64) for g in attribute.given], axis=1)
    keys, first, inverse = np.unique(given, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    by_key = np.argsort(inverse, kind="stable")  # positions grouped by key, ascending within
    ends = np.cumsum(np.bincount(inverse, minlength=len(keys)))
    groups = []
    for k in np.argsort(first, kind="stable").tolist():
        names = tuple(values[g][c] for g, c in zip(attribute.given, keys[k].tolist()))
        groups.append((names, by_key[(ends[k - 1] if k else 0) : ends[k]]))
    return groups


def _weights(attribute: Attribute, given_values: tuple[str, ...], population: str) -> list[float]:
    if given_values in attribute.table:
        weights = list(attribute.table[given_values])
    elif not attribute.table and attribute.kind == "choices":
        weights = [1.0] * len(attribute.values)
    else:
        where = "/".join(given_values) or "(unconditional)"
        raise PlanError(
            f"population {population!r}: attribute {attribute.name!r} has no distribution "
            f"for {where}"
        )
    if len(weights) != len(attribute.values) or sum(weights) <= 0:
        raise PlanError(
            f"population {population!r}: attribute {attribute.name!r} has bad weights for "
            f"{'/'.join(given_values) or '(unconditional)'}"
        )
    return weights


# ------------------------------------------------------------------------------- row sampling


def read_rows(path: str) -> list[dict[str, str]]:
    """A CSV's rows as dicts (a UTF-8 BOM, as in the KGSS paper's files, is tolerated)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise PlanError(f"cannot read rows from {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PlanError(f"rows file {path} is not UTF-8") from None


def rows_path(spec: Spec, population: Population) -> str:
    if population.rows is not None:
        path = os.path.realpath(population.rows.absolute)
        root = os.path.realpath(spec.root)
        if os.path.commonpath([path, root]) != root:
            raise PlanError(
                f"population {population.name!r}: {population.rows.path} is outside the spec tree"
            )
        return path
    if population.external is not None:
        if population.external.path is None:
            raise PlanError(
                f"population {population.name!r} reads microdata that is not here: "
                f"provide {population.external.env_var} to plan this spec"
            )
        return population.external.path
    raise PlanError(f"population {population.name!r} samples rows but names no rows file")


def sample_rows(
    spec: Spec,
    population: Population,
    country: str | None,
    rows: list[dict[str, str]],
    render_filter,
    descriptor_items: tuple[str, ...] | None = None,
) -> list[Persona]:
    """Personas taken from individual rows (``render_filter(value, country)`` fills ``{{ }}``).
    ``descriptor_items``: the text uses only those descriptor items (an ablation's subset)."""
    where = {column: render_filter(value, country) for column, value in population.where.items()}
    if country is not None and population.country_column and population.country_column not in where:
        where[population.country_column] = country
    if rows:
        missing = [c for c in (*where, population.id_column, population.weight) if c and c not in rows[0]]
        if missing:
            raise PlanError(f"population {population.name!r}: rows have no column {missing[0]!r}")
    matching = [r for r in rows if all(r.get(c) == v for c, v in where.items())]
    if not matching:
        shown = ", ".join(f"{c} = {v!r}" for c, v in where.items()) or "(no filter)"
        raise PlanError(f"population {population.name!r}: no rows match {shown}")
    size = population.size
    if size is not None and size > len(matching):
        raise PlanError(
            f"population {population.name!r} asks for {size} rows but only {len(matching)} match"
            + (f" for country {country}" if country else "")
        )
    if size is not None and size < len(matching):
        seed = population.seed if population.seed is not None else spec.study.seed
        rng = rng_for("rows", seed, population.name, country or "")
        p = None
        if population.weight:
            p = _row_weights(matching, population)
        chosen = sorted(rng.choice(len(matching), size=size, replace=False, p=p).tolist())
        matching = [matching[i] for i in chosen]
    descriptors = spec.descriptors.get(population.descriptors) if population.descriptors else None
    width = max(3, len(str(len(matching))))
    personas = []
    for n, row in enumerate(matching, start=1):
        base_id = row[population.id_column] if population.id_column else f"P{n:0{width}d}"
        persona_id = f"{country}-{base_id}" if country and not population.id_column else base_id
        columns = population.columns or tuple(
            c for c in row if c not in (population.id_column, population.weight)
        )
        attributes = {c: row.get(c, "") or "" for c in columns}
        row_country = row.get(population.country_column) if population.country_column else None
        personas.append(
            Persona(
                id=persona_id,
                attributes=attributes,
                country=row_country or country,
                text=descriptor_text(descriptors, row, descriptor_items) if descriptors else None,
            )
        )
    return personas


def _row_weights(rows: list[dict[str, str]], population: Population) -> np.ndarray:
    try:
        weights = np.array([float(r[population.weight]) for r in rows])
    except ValueError:
        raise PlanError(f"population {population.name!r}: weight column has non-numbers") from None
    if (weights < 0).any() or weights.sum() <= 0 or (weights > 0).sum() < (population.size or 0):
        raise PlanError(f"population {population.name!r}: weights cannot draw {population.size} rows")
    return weights / weights.sum()


def descriptor_text(descriptors: Descriptors, row: dict[str, str], items: tuple[str, ...] | None = None) -> str:
    """One sentence per item the row answered with a described code; missing answers skipped.
    ``items``: only those descriptor items (an ablation's subset); None = every item."""
    sentences = []
    for item_code, by_code in descriptors.sentences.items():
        if items is not None and item_code not in items:
            continue
        raw = (row.get(item_code) or "").strip()
        try:
            code = int(float(raw))
        except ValueError:
            continue
        sentence = by_code.get(code)
        if sentence:
            sentences.append(sentence)
    return " ".join(sentences)
