"""Build the whole ``Spec`` in dependency order (scales before items, models before conditions)."""

from __future__ import annotations

import os

from silspec.check.build.core import build_scales, build_study, build_surveys
from silspec.check.build.pilot import build_pilot
from silspec.check.build.people import build_descriptors, build_personas, build_populations
from silspec.check.build.runs import build_conditions, build_models, build_parsers, build_templates, link_adapters
from silspec.check.build.study_design import build_analysis, build_calibrations, build_finetunes, build_groups
from silspec.check.context import Context
from silspec.spec.model import Spec


def build(ctx: Context) -> Spec:
    study = build_study(ctx)
    scales = build_scales(ctx)
    surveys = build_surveys(ctx, scales)
    personas = build_personas(ctx)
    descriptors = build_descriptors(ctx)
    populations = build_populations(ctx, personas, set(descriptors))
    templates = build_templates(ctx)
    parsers = build_parsers(ctx)
    models = build_models(ctx)
    groups = build_groups(ctx)
    parts = dict(models=models, parsers=parsers, populations=populations, surveys=surveys, groups=groups,
                 templates=templates)
    conditions = build_conditions(ctx, parts)
    calibrations = build_calibrations(ctx)
    finetunes = build_finetunes(ctx, models, templates, groups)
    models = link_adapters(ctx, models, finetunes, study.seed)  # `adapter = finetune.NAME`
    analysis = build_analysis(ctx)
    pilot = build_pilot(ctx, populations, conditions)
    rel = os.path.relpath(ctx.path, ctx.root).replace(os.sep, "/")
    return Spec(
        path=rel, root=ctx.root, study=study, scales=scales, surveys=surveys, personas=personas,
        populations=populations, descriptors=descriptors, templates=templates, parsers=parsers,
        models=models, conditions=conditions, calibrations=calibrations, finetunes=finetunes,
        groups=groups, analysis=analysis, pilot=pilot, files=tuple(sorted(set(ctx.files.values()), key=lambda f: f.path)),
        externals=tuple(ctx.externals.values()),
    )
