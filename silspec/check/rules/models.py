"""SIL8xx: models and how conditions use them — backends, answer modes, option tokens, defaults."""

from __future__ import annotations

from silspec.check.context import Context
from silspec.lang.diagnostics import did_you_mean
from silspec.spec import backends as catalogue
from silspec.spec.model import Spec

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# A verbalised answer states one share per code ("3: 25%,"): about this many tokens each, plus
# a little framing. A budget below it truncates the distribution, which then fails to parse.
VERBALISED_TOKENS_PER_CODE = 6
VERBALISED_OVERHEAD_TOKENS = 10


def option_tokens(codes: tuple[int, ...], labels: str) -> tuple[str, ...] | None:
    """The single-token label of each code: digits, or letters when first tokens would collide.

    Returns None when ``labels = codes`` is asked for but two codes share a first character
    (1 and 10): the first-token probabilities could not tell them apart.
    """
    as_codes = tuple(str(c) for c in codes)
    collide = len({t[0] for t in as_codes}) < len(as_codes)
    if labels == "letters" or (labels == "auto" and collide):
        return tuple(LETTERS[i] for i in range(len(codes))) if len(codes) <= len(LETTERS) else None
    return None if collide else as_codes


def check(spec: Spec, ctx: Context) -> None:
    known = catalogue.known_backends()
    for model in spec.models.values():
        if model.backend not in known:
            ctx.report("SIL802", f"unknown backend `{model.backend}`", ctx.span("model", model.name, "backend"),
                      did_you_mean(model.backend, known) or f"known backends: {', '.join(known)}")
    midpoint_parsers = set()
    for cond in spec.conditions.values():
        model = spec.models.get(cond.model)
        span = ctx.span("condition", cond.name, "answers") or cond.span
        if model is not None and model.backend in known:
            modes = catalogue.answer_modes(model.backend)
            if modes is not None and cond.answers not in modes:
                ctx.report("SIL803", f"backend `{model.backend}` (model `{model.name}`) cannot serve `answers = {cond.answers}`",
                          span, f"it serves: {', '.join(sorted(modes))}")
        if cond.answers == "option_probs":
            for item_id in cond.items:
                item = spec.item(item_id)
                # `codes` that share a first character are scored as full strings (SIL821 in
                # rules/options.py refuses the backends that cannot)
                if option_tokens(item.scale.codes, cond.option_labels) is None and cond.option_labels != "codes":
                    ctx.report("SIL804", f"option tokens of `{item.code}` collide under `option_labels = {cond.option_labels}` "
                                        f"(codes {list(item.scale.codes)} share first characters)",
                              ctx.span("condition", cond.name, "option_labels") or span,
                              "use `option_labels = auto` (letters A-J when codes collide) or `letters`")
                    break
            if cond.samples > 1:
                ctx.report("SIL808", f"condition `{cond.name}`: option probabilities are exact; `samples = {cond.samples}` repeats identical calls",
                            ctx.span("condition", cond.name, "samples"), "use `samples = 1` with `answers = option_probs`")
        if model is not None and cond.answers == "verbalised":
            _verbalised_budget(ctx, spec, cond, model)
        parser = spec.parsers.get(cond.parser)
        if parser is not None and cond.answers != "option_probs":
            if parser.on_invalid == "midpoint" or parser.on_error == "midpoint":
                midpoint_parsers.add(parser.name)
    for name in sorted(midpoint_parsers):
        parser = spec.parsers[name]
        scales = {}
        for cond in spec.conditions.values():
            if cond.parser == name:
                for item_id in cond.items:
                    s = spec.item(item_id).scale
                    scales[s.name] = s
        shown = ", ".join(f"{s.name}: {s.midpoint}" for s in scales.values())
        if parser.on_invalid == "midpoint":
            ctx.report("SIL805", f"parser `{name}`: invalid answers default to the scale midpoint codes[len // 2] ({shown})",
                     ctx.span("parser", name, "on_invalid"), "the defaults are recorded and counted in the report")
        if parser.on_error == "midpoint":
            ctx.report("SIL806", f"parser `{name}`: failed requests (no answer at all) are filled with the midpoint ({shown})",
                        ctx.span("parser", name, "on_error"),
                        "this invents answers for errors; use `on_error = none` unless reproducing a study that did it")


def _verbalised_budget(ctx: Context, spec: Spec, cond, model) -> None:
    """SIL809: ``max_tokens`` too small for a stated distribution over the largest scale."""
    key = next((k for k in ("max_completion_tokens", "max_tokens") if k in model.params), None)
    budgets = {item_id: cond.params_for(item_id, model.params).get(key) for item_id in cond.items} if key else {}
    widest = max((len(spec.item(i).scale.codes) for i in cond.items), default=0)
    needed = widest * VERBALISED_TOKENS_PER_CODE + VERBALISED_OVERHEAD_TOKENS
    short = sorted({b for b in budgets.values() if b is not None and b < needed})
    if not short:
        return
    ctx.report("SIL809", f"condition `{cond.name}` asks for verbalised distributions over up to {widest} codes, "
                          f"but model `{model.name}` allows only {key} = {short[0]}",
                ctx.span("model", model.name, key) or ctx.span("condition", cond.name, "answers") or cond.span,
                f"allow at least {needed} tokens ({VERBALISED_TOKENS_PER_CODE} per code + {VERBALISED_OVERHEAD_TOKENS}), "
                "more for reasoning models")
