"""SIL93x: ``batch = true`` (the OpenAI Batch API, ``silspec.run.batch``), caught at lint time.

Without these the run finds out per request, hours later: a ``batch = "yes"`` or a batch model on
a backend without a batch API stops the model at its first request, and option labels sharing a
prefix come back as one error per request.

- SIL930 (error): ``batch`` is not true or false.
- SIL931 (error): ``batch = true`` on a backend without a batch API (anything but ``openai``;
  ``hf`` and ``vllm`` batch on their own, ``options.batch_size``).
- SIL932 (error): ``batch = true`` for an ``option_probs`` condition whose option labels share a
  prefix (1 and 10): that needs full-string scoring, which a Batch API line cannot ask for
  (``prompt_logprobs = true`` is a live vLLM-server path and does not help here).
- SIL933 (warning): ``batch = true`` with ``rpm``, ``tpm`` or ``delay``: the provider's batch
  queue paces the requests, so these do not apply (the run says so too).
"""

from __future__ import annotations

from silspec.check.context import Context
from silspec.check.rules.options import bool_option, needs_full_strings, scored_labels
from silspec.spec.model import Model, Spec

BATCH_BACKENDS = frozenset({"openai"})
LIVE_ONLY = (("rpm", "rpm"), ("tpm", "tpm"), ("delay_s", "delay"))  # (field, spec key)


def check(spec: Spec, ctx: Context) -> None:
    for model in spec.models.values():
        if "batch" not in model.options:
            continue
        value, span = bool_option(ctx, model, "batch", "SIL930",
                                  "write `batch = true` to run this model through the provider's Batch API")
        if not value:
            continue
        if model.backend not in BATCH_BACKENDS:
            ctx.report("SIL931", f"model `{model.name}`: `batch = true` needs a backend with a batch API"
                                 f" (`openai`), not `{model.backend}`", span,
                       "remove `batch` (hf and vllm batch on their own: `batch_size`), or use backend = openai")
            continue
        _live_only_settings(ctx, model)
        _full_string_labels(spec, ctx, model)


def _live_only_settings(ctx: Context, model: Model) -> None:
    given = [key for attr, key in LIVE_ONLY if getattr(model, attr)]
    if given:
        ctx.report("SIL933", f"model `{model.name}`: `batch = true`, so {', '.join(f'`{k}`' for k in given)}"
                             " do not apply (the Batch API queues the requests itself)",
                   ctx.span("model", model.name, given[0]) or model.span,
                   f"remove {', '.join(given)} from model `{model.name}`, or set `batch = false` to ask live")


def _full_string_labels(spec: Spec, ctx: Context, model: Model) -> None:
    for cond in spec.conditions.values():
        if cond.model != model.name or cond.answers != "option_probs":
            continue
        items = [spec.item(item_id).code for item_id in cond.items
                 if needs_full_strings(scored_labels(spec.item(item_id).scale.codes, cond.option_labels))]
        if not items:
            continue
        shown = ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")
        ctx.report(
            "SIL932",
            f"condition `{cond.name}`: option labels of {shown} share a prefix (1 and 10), and model"
            f" `{model.name}` has `batch = true`: a Batch API line cannot score full option strings, so"
            " every such request would end as an error",
            ctx.span("condition", cond.name, "option_labels") or ctx.span("condition", cond.name, "answers")
            or cond.span,
            "use `option_labels = letters` (and show the letters), or ask this condition live (`batch = false`)",
        )
