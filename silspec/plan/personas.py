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
- ``rows``: individual rows from a CSV, SPSS or Stata file (shipped ``rows`` or ``external``
  microdata), filtered by ``where`` (``{{ country }}`` substituted) and the country column,
  sampled without replacement (weighted by ``weight``; weight-0 rows never drawn) when ``size``
  is smaller than the rows; descriptor personas get ``text`` (and ``texts``, one per descriptor
  set) built from the descriptor sentences of the row's answers. What was dropped or missing
  is returned as a ``PopulationSummary`` for the plan header.
"""

from __future__ import annotations

import hashlib
import os
from typing import Sequence

import numpy as np

from silspec.check import microdata
from silspec.plan.errors import PlanError
from silspec.plan.model import Persona, PopulationSummary
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


def read_rows(path: str, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """A rows file's rows as dicts of strings: CSV, SPSS ``.sav`` or Stata ``.dta``
    (``silspec.check.microdata``), only ``columns`` when given (a 600-column WVS file need not
    sit in memory whole). A UTF-8 BOM, as in the KGSS paper's files, is tolerated."""
    try:
        return microdata.read_rows(path, columns)
    except microdata.MicrodataError as exc:
        raise PlanError(f"cannot read rows: {exc}") from None


def needed_columns(spec: Spec, population: Population) -> list[str] | None:
    """The columns sampling reads, or None (all) when the population keeps every column as an
    attribute (``columns`` not given)."""
    if not population.columns:
        return None
    wanted = [*population.columns, *population.where]
    wanted += [c for c in (population.id_column, population.country_column, population.weight) if c]
    for name in descriptor_names(population):
        descriptors = spec.descriptors.get(name)
        if descriptors is not None:
            wanted += list(descriptors.sentences)
    return list(dict.fromkeys(wanted))


def descriptor_names(population: Population) -> tuple[str, ...]:
    return ((population.descriptors,) if population.descriptors else ()) + tuple(population.more_descriptors)


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


def rows_source(population: Population) -> str:
    if population.rows is not None:
        return population.rows.path
    if population.external is not None:
        return f"${population.external.env_var}"
    return ""


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
    return sample_rows_summarised(spec, population, country, rows, render_filter, descriptor_items)[0]


def sample_rows_summarised(
    spec: Spec,
    population: Population,
    country: str | None,
    rows: list[dict[str, str]],
    render_filter,
    descriptor_items: tuple[str, ...] | None = None,
) -> tuple[list[Persona], PopulationSummary]:
    """``sample_rows`` plus what it kept and dropped (``PopulationSummary``)."""
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
    n_matching = len(matching)
    zero_weight = 0
    weights = None
    if population.weight:
        weights = _row_weights(matching, population)
        zero_weight = int((weights == 0).sum())
    drawable = n_matching - zero_weight
    size = population.size
    if size is not None and size > drawable:
        raise PlanError(
            f"population {population.name!r} asks for {size} rows but only {drawable} match"
            + (f" for country {country}" if country else "")
            + (f" ({zero_weight} more have weight 0)" if zero_weight else "")
        )
    weighted = False
    if size is not None and size == drawable and zero_weight:
        matching = [row for row, w in zip(matching, weights) if w > 0]  # every drawable row: no draw
    elif size is not None and size < n_matching:
        seed = population.seed if population.seed is not None else spec.study.seed
        rng = rng_for("rows", seed, population.name, country or "")
        p = None
        if weights is not None:
            p = weights / weights.sum()
            weighted = len(set(weights[weights > 0].tolist())) > 1  # equal weights draw uniformly
        chosen = sorted(rng.choice(n_matching, size=size, replace=False, p=p).tolist())
        matching = [matching[i] for i in chosen]
    elif weights is not None and zero_weight:
        matching = [row for row, w in zip(matching, weights) if w > 0]
    sets = [spec.descriptors[name] for name in descriptor_names(population) if name in spec.descriptors]
    tally = {d.name: _Tally() for d in sets}
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
        texts = {d.name: descriptor_text(d, row, tally[d.name], _subset(d, descriptor_items)) for d in sets}
        personas.append(
            Persona(
                id=persona_id,
                attributes=attributes,
                country=row_country or country,
                text=texts[sets[0].name] if sets else None,
                texts=texts,
            )
        )
    summary = PopulationSummary(
        population=population.name,
        country=country,
        source=rows_source(population),
        rows=len(rows),
        matching=n_matching,
        sampled=len(personas),
        weight=population.weight,
        zero_weight=zero_weight,
        weighted=weighted,
        missing={name: dict(t.missing) for name, t in tally.items()},
        undescribed={name: {item: dict(sorted(codes.items())) for item, codes in t.undescribed.items()}
                     for name, t in tally.items() if t.undescribed},
        empty={name: t.empty for name, t in tally.items()},
    )
    return personas, summary


def _row_weights(rows: list[dict[str, str]], population: Population) -> np.ndarray:
    """Each row's weight; a blank, non-number or negative weight is an error naming the row."""
    weights = np.empty(len(rows))
    for n, row in enumerate(rows):
        raw = (row.get(population.weight) or "").strip()
        try:
            weights[n] = float(raw)
        except ValueError:
            weights[n] = np.nan
        if not np.isfinite(weights[n]) or weights[n] < 0:
            ident = f" (id {row.get(population.id_column)})" if population.id_column else ""
            raise PlanError(
                f"population {population.name!r}: weight {population.weight!r} of a matching row{ident} "
                f"is {raw!r}, not a non-negative number"
            )
    if weights.sum() <= 0:
        raise PlanError(f"population {population.name!r}: weights cannot draw {population.size} rows (all 0)")
    return weights


class _Tally:
    """Missing and undescribed answers of one descriptor set over the sampled personas."""

    def __init__(self) -> None:
        self.missing: dict[str, int] = {}
        self.undescribed: dict[str, dict[str, int]] = {}
        self.empty = 0


def _subset(descriptors: Descriptors, items: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """An ablation's subset applies to the descriptor set whose items it names (not to another
    set of the same population, e.g. sociodemographic sentences)."""
    if items is None or not any(item in descriptors.sentences for item in items) and items:
        return None
    return items


def descriptor_text(descriptors: Descriptors, row: dict[str, str], tally: _Tally | None = None,
                    items: tuple[str, ...] | None = None) -> str:
    """One sentence per item the row answered with a described code, joined by the set's
    separator. A blank cell or a declared missing code gives no sentence and counts as missing;
    a code the table does not describe gives none and counts as undescribed (``tally``).
    ``items``: only those descriptor items (an ablation's subset); None = every item."""
    sentences = []
    for item_code, by_code in descriptors.sentences.items():
        if items is not None and item_code not in items:
            continue
        raw = (row.get(item_code) or "").strip()
        if tally is not None:
            tally.missing.setdefault(item_code, 0)
        try:
            value = float(raw)
            code = int(value) if value.is_integer() else None
        except ValueError:
            code = None
        sentence = by_code.get(code) if code is not None else None
        if sentence:
            sentences.append(sentence)
        elif tally is not None:
            if not raw or descriptors.is_missing(item_code, code):
                tally.missing[item_code] += 1
            else:
                shown = str(code) if code is not None else raw
                per_code = tally.undescribed.setdefault(item_code, {})
                per_code[shown] = per_code.get(shown, 0) + 1
    if tally is not None and not sentences:
        tally.empty += 1
    return descriptors.separator.join(sentences)
