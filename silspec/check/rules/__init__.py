"""Semantic rules over the built spec, one module per diagnostic family, run in this order.

Each rule is ``rule(spec, ctx) -> None`` and reports through ``ctx``. The structure rule
(``structure.check``) runs earlier, on the syntax tree.

| codes   | family                                    | module        |
| ------- | ----------------------------------------- | ------------- |
| SIL0xx  | syntax, header                            | lang.parser, structure |
| SIL1xx  | unknown/duplicate/missing blocks and keys | structure (+ check.blocks) |
| SIL2xx  | types, values, units; design size (SIL205)| check.values, limits |
| SIL3xx  | references, `extends`                     | check.blocks, coverage |
| SIL4xx  | scales and benchmarks                     | benchmarks, coverage (SIL413); subgroups (SIL46x) |
| SIL5xx  | persona marginals                         | marginals     |
| SIL6xx  | templates                                 | templates     |
| SIL7xx  | files, tables, external inputs            | check.files, check.tables |
| SIL8xx  | models, backends, answer modes, parsers   | models; options (SIL82x: option labels) |
| SIL9xx  | analysis; SIL93x: `batch = true`          | analysis, batch |
"""

from __future__ import annotations

from silspec.check.rules import (
    analysis, batch, benchmarks, coverage, limits, marginals, models, options, subgroups, templates,
)

RULES = (
    benchmarks.check,
    coverage.check,
    marginals.check,
    models.check,
    limits.check,
    templates.check,
    options.check,
    batch.check,
    analysis.check,
    subgroups.check,
)
