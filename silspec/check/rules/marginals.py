"""SIL5xx: persona marginals — shares sum to 1, quotas add up, conditional tables are complete."""

from __future__ import annotations

import itertools

from silspec.check.context import Context
from silspec.spec.model import Spec

TOLERANCE = 0.01


def check(spec: Spec, ctx: Context) -> None:
    for schema in spec.personas.values():
        values_of = {}
        for attr in schema.attributes:
            span = ctx.span("persona", schema.name, attr.name)
            values_of[attr.name] = attr.values
            if attr.kind == "shares":
                for key, weights in attr.table.items():
                    total = sum(weights)
                    if abs(total - 1.0) > TOLERANCE:
                        where = f" given {'/'.join(key)}" if key else ""
                        ctx.report("SIL501", f"shares of `{attr.name}`{where} sum to {total:.4g}, not 1", span,
                                  "shares are probabilities; use counts(...) for exact quotas")
            if attr.given:
                known = [values_of.get(g, ()) for g in attr.given]
                for key in attr.table:
                    for g, val, vals in zip(attr.given, key, known):
                        if vals and val not in vals:
                            ctx.report("SIL503", f"`{attr.name}` has a row for `{g}` = `{val}`, which `{g}` never takes",
                                      span, f"values of `{g}`: {', '.join(vals)}")
                if all(known):
                    absent = [k for k in itertools.product(*known) if k not in attr.table]
                    if absent:
                        shown = ", ".join("/".join(k) for k in absent[:5]) + (" ..." if len(absent) > 5 else "")
                        ctx.report("SIL503", f"`{attr.name}` has no distribution for {shown}", span,
                                  "every combination of the conditioning values needs one")
    for pop in spec.populations.values():
        schema = spec.personas.get(pop.schema or "")
        if schema is None or pop.size is None:
            continue
        for attr in schema.attributes:
            if attr.kind != "counts":
                continue
            total = sum(sum(w) for w in attr.table.values())
            if pop.sampling == "quota" and abs(total - pop.size) > 1e-9:
                ctx.error("SIL504", f"quota counts of `{attr.name}` add up to {total:g}, but population `{pop.name}` has size {pop.size}",
                          ctx.span("population", pop.name, "size"), "make the counts sum to the size")
            elif pop.sampling != "quota":
                ctx.warning("SIL504", f"`{attr.name}` gives counts but population `{pop.name}` samples `{pop.sampling}`",
                            ctx.span("population", pop.name, "sampling"), "counts are exact only with `sampling = quota`")
