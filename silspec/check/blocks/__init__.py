"""AST -> ``Spec``, one module per `.sil` block keyword, built in dependency order by ``build``.

Each module reads the blocks of its keyword (``scale.py`` reads ``scale NAME { ... }``) into
the spec model's objects and reports what it finds wrong through the ``Context``; rules that
look across blocks (benchmark coverage, template rendering, answer modes) are in
``silspec.check.rules``. ``benchmark.py`` holds what ``survey`` items use to read benchmarks.
"""

from __future__ import annotations

import os

from silspec.check.blocks.ablation import build_ablations
from silspec.check.blocks.analysis import build_analysis
from silspec.check.blocks.calibration import build_calibrations
from silspec.check.blocks.condition import build_conditions
from silspec.check.blocks.descriptors import build_descriptors
from silspec.check.blocks.finetune import build_finetunes
from silspec.check.blocks.group import build_groups
from silspec.check.blocks.model import build_models, link_adapters
from silspec.check.blocks.parser import build_parsers
from silspec.check.blocks.persona import build_personas
from silspec.check.blocks.pilot import build_pilot
from silspec.check.blocks.population import build_populations
from silspec.check.blocks.scale import build_scales
from silspec.check.blocks.study import build_study
from silspec.check.blocks.survey import build_surveys
from silspec.check.blocks.template import build_templates
from silspec.check.context import Context
from silspec.spec.model import Spec


__all__ = ["build"]


def build(ctx: Context) -> Spec:
    study = build_study(ctx)
    scales = build_scales(ctx)
    surveys = build_surveys(ctx, scales)
    personas = build_personas(ctx)
    descriptors = build_descriptors(ctx, surveys)
    populations = build_populations(ctx, personas, set(descriptors),
                                    {n: tuple(d.sentences) for n, d in descriptors.items()})
    templates = build_templates(ctx)
    parsers = build_parsers(ctx)
    models = build_models(ctx)
    groups = build_groups(ctx)
    parts = dict(models=models, parsers=parsers, populations=populations, surveys=surveys, groups=groups,
                 templates=templates)
    conditions = build_conditions(ctx, parts)
    ablations, generated = build_ablations(ctx, conditions, populations, descriptors, study.seed)
    conditions = {**conditions, **generated}
    calibrations = build_calibrations(ctx)
    finetunes = build_finetunes(ctx, models, templates, groups)
    models = link_adapters(ctx, models, finetunes, study.seed)  # `adapter = finetune.NAME`
    analysis = build_analysis(ctx, surveys)
    pilot = build_pilot(ctx, populations, conditions)
    rel = os.path.relpath(ctx.path, ctx.root).replace(os.sep, "/")
    return Spec(
        path=rel, root=ctx.root, study=study, scales=scales, surveys=surveys, personas=personas,
        populations=populations, descriptors=descriptors, templates=templates, parsers=parsers,
        models=models, conditions=conditions, calibrations=calibrations, finetunes=finetunes,
        groups=groups, analysis=analysis, pilot=pilot, files=tuple(sorted(set(ctx.files.values()), key=lambda f: f.path)),
        externals=tuple(ctx.externals.values()), ablations=ablations,
    )
