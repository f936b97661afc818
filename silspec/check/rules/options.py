"""SIL82x: option probabilities must score what the prompt shows, in a way the backend can.

``answers = option_probs`` reads the probability of each option *label* as the reply. That is
only the probability of an answer when (a) the prompt shows those labels — a 1-10 item scored on
letters A-J that its prompt never shows measures the chance a reply starts with "I" or "A" —
and (b) the backend can score every label, including labels that share a prefix ("1", "10")
or span several tokens: the hf backend scores those as full strings, an openai endpoint only
with ``prompt_logprobs = true`` (vLLM); replayed answers carry their probabilities.

- SIL820 (error): an option_probs prompt, rendered per item in the lint sandbox exactly as the
  plan renders it (``item.scale_labels`` / ``item.options`` with the scored labels), does not
  show every scored label (a numeric label also counts as shown inside a range such as
  ``(1-10)``; a letter only as an option marker: ``A)``, ``(A)``, ``A.``, ``A:``, ``A =`` or a
  range ``A-J``).
- SIL821 (error): labels that need full-string scoring through a backend that reads first
  tokens only (``openai`` without ``prompt_logprobs = true``).
- SIL822 (error): ``prompt_logprobs`` that is not true/false, or on a backend that ignores it.
- SIL823 (error): ``option_order = shuffled`` (or ``reversed``) whose prompt reads the same whatever
  the order: it lists the options in scale order (``item.labels`` by position) instead of the order
  shown (``item.shown_labels``, ``item.scale_labels``). The shuffle never reaches the model, and
  under letters each letter sits beside another option's label while the answer is scored as the
  code at that position: a plausible, wrong distribution. Any answer mode, found by rendering each
  item in scale order and reversed.
"""

from __future__ import annotations

import re
from typing import Any

from silspec.check.context import Context
from silspec.check.rules.templates import sample_persona
from silspec.templating.context import country_name, item_context, make_environment
from silspec.spec.model import Condition, Item, Model, Spec

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FULL_STRING_BACKENDS = frozenset({"hf", "replay"})  # score (or carry) whole option strings
PROMPT_LOGPROBS_BACKENDS = frozenset({"openai"})
_RANGE = re.compile(r"(-?\d+)\s*(?:-|–|—|to)\s*(-?\d+)")
_LETTER_RANGE = re.compile(r"(?<![A-Za-z])([A-Z])\s*(?:-|–|—|to)\s*([A-Z])(?![A-Za-z])")


def scored_labels(codes: tuple[int, ...], option_labels: str) -> tuple[str, ...]:
    """The labels whose probabilities are read, as the plan makes them (``plan.options``):
    letters by position under ``letters``, or under ``auto`` when codes share a first character."""
    as_codes = tuple(str(code) for code in codes)
    collide = len({label[0] for label in as_codes}) < len(as_codes)
    if option_labels == "letters" or (option_labels == "auto" and collide):
        return tuple(LETTERS[: len(codes)])
    return as_codes


def needs_full_strings(labels: tuple[str, ...]) -> bool:
    """A label that is a prefix of another ("1", "10"): first tokens cannot tell them apart."""
    return any(a != b and b.startswith(a) for a in labels for b in labels)


def label_shown(label: str, text: str) -> bool:
    """Does the rendered prompt show this option label to the model?"""
    if re.fullmatch(r"-?\d+", label):
        if re.search(rf"(?<![\w.]){re.escape(label)}(?![\w])", text):
            return True
        value = int(label)
        return any(int(low) <= value <= int(high) for low, high in _RANGE.findall(text))
    if len(label) == 1 and label in LETTERS:
        if re.search(rf"(?<![A-Za-z])\(?{label}\s*[).:=]", text):
            return True
        return any(low <= label <= high for low, high in _LETTER_RANGE.findall(text))
    return label in text


def check(spec: Spec, ctx: Context) -> None:
    _prompt_logprobs_settings(spec, ctx)
    env = make_environment()
    for cond in spec.conditions.values():
        if cond.option_order != "fixed" and cond.items:
            _order_shown(spec, ctx, env, cond)
        if cond.answers != "option_probs" or not cond.items:
            continue
        _labels_shown(spec, ctx, env, cond)
        _backend_can_score(spec, ctx, cond)


def bool_option(ctx: Context, model: Model, key: str, code: str, hint: str) -> tuple[bool | None, Any]:
    """A model option that is true or false: (its value, its span), or (None, span) after
    reporting ``code`` for any other value."""
    value = model.options[key]
    span = ctx.span("model", model.name, key) or model.span
    if isinstance(value, bool):
        return value, span
    ctx.report(code, f"model `{model.name}`: `{key}` is true or false, got {value!r}", span, hint)
    return None, span


def _prompt_logprobs_settings(spec: Spec, ctx: Context) -> None:
    for model in spec.models.values():
        if "prompt_logprobs" not in model.options:
            continue
        value, span = bool_option(ctx, model, "prompt_logprobs", "SIL822",
                                  "write `prompt_logprobs = true` for a vLLM server that returns prompt log-probabilities")
        if value is None:
            continue
        if model.backend not in PROMPT_LOGPROBS_BACKENDS:
            ctx.report("SIL822", f"model `{model.name}`: `prompt_logprobs` is an `openai` backend setting; "
                                f"backend `{model.backend}` would ignore it", span,
                      "remove it (the hf backend scores full option strings itself)")


def _unchecked(ctx: Context, cond: Condition, item: Item | None, exc: Exception) -> None:
    """A prompt that does not render cannot be searched for its labels. The templates rule has
    usually reported why (SIL60x, an error); if it has not, say it here, so the label check is
    never skipped without a word."""
    if any(d.code.startswith("SIL60") and d.severity == "error" for d in ctx.diagnostics):
        return
    where = f" for item `{item.code}`" if item is not None else ""
    ctx.report("SIL604", f"condition `{cond.name}`: its prompt does not render{where} "
                         f"({type(exc).__name__}: {exc}), so its scored option labels cannot be checked",
               cond.prompt.span if cond.prompt is not None else cond.span)


def _labels_shown(spec: Spec, ctx: Context, env: Any, cond: Condition) -> None:
    """SIL820: render system + prompt per item and look for every scored label."""
    templates = []
    for role in ("system", "prompt"):
        template = getattr(cond, role)
        if template is None:
            continue
        try:
            templates.append(env.from_string(template.source))
        except Exception as exc:  # noqa: BLE001 - shown: SIL602 from the templates rule, else SIL604 here
            _unchecked(ctx, cond, None, exc)
            return
    variables = _variables(spec, ctx, cond)
    unshown: list[tuple[Item, tuple[str, ...], str]] = []
    for item_id in cond.items:
        item = spec.item(item_id)
        labels = scored_labels(item.scale.codes, cond.option_labels)
        variables["item"] = _plan_item_context(item, labels)
        try:
            text = "\n".join(template.render(variables) for template in templates)
        except Exception as exc:  # noqa: BLE001 - shown: SIL60x from the templates rule, else SIL604 here
            _unchecked(ctx, cond, item, exc)
            return
        missing = tuple(label for label in labels if not label_shown(label, text))
        if missing:
            unshown.append((item, missing, text))
    if not unshown:
        return
    item, missing, text = unshown[0]
    names = ", ".join(i.code for i, _, _ in unshown[:8]) + (f" (+{len(unshown) - 8} more)" if len(unshown) > 8 else "")
    tail = " ".join(text.split())[-90:]
    letters = all(label in LETTERS for label in missing)
    hint = (
        "show the labels (`{{ item.scale_labels }}` renders `A=…, B=…`), or score the codes the prompt asks for with "
        "`option_labels = codes` (the hf backend scores multi-token codes such as 10 as full strings; docs/backends.md)"
        if letters else "show every option label in the prompt (`{{ item.scale_labels }}`), or choose labels it shows"
    )
    ctx.report(
        "SIL820",
        f"condition `{cond.name}` reads the probabilities of option labels its prompt never shows, on "
        f"{len(unshown)} of {len(cond.items)} items ({names}); `{item.code}` scores {', '.join(missing)} "
        f"(under `option_labels = {cond.option_labels}`) but its prompt reads \"…{tail}\"",
        ctx.span("condition", cond.name, "option_labels") or ctx.span("condition", cond.name, "prompt") or cond.span,
        hint,
    )


def _order_shown(spec: Spec, ctx: Context, env: Any, cond: Condition) -> None:
    """SIL823: render each item with its options in scale order and reversed; the same text twice
    means the prompt never shows the order the request scores."""
    try:
        templates = [env.from_string(t.source) for t in (cond.system, cond.prompt) if t is not None]
    except Exception as exc:  # noqa: BLE001 - shown: SIL602 from the templates rule, else SIL604 here
        _unchecked(ctx, cond, None, exc)
        return
    if not templates:
        return
    variables = _variables(spec, ctx, cond)
    for item_id in cond.items:
        item = spec.item(item_id)
        codes = tuple(item.scale.codes)
        labels = [c.label for c in item.scale.substantive]
        if len(codes) < 2 or len(set(labels)) < len(labels):
            continue  # no order to show (one option, or labels that cannot tell options apart: a bare range)
        texts = []
        for presented in (codes, codes[::-1]):
            variables["item"] = _presented_item_context(item, presented, cond.option_labels)
            try:
                texts.append("\n".join(template.render(variables) for template in templates))
            except Exception as exc:  # noqa: BLE001 - shown: SIL60x from the templates rule, else SIL604 here
                _unchecked(ctx, cond, item, exc)
                return
        if texts[0] == texts[1]:
            ctx.report(
                "SIL823",
                f"condition `{cond.name}` sets `option_order = {cond.option_order}`, but its prompt reads the same"
                f" whatever the order (item `{item.code}` rendered in scale order and reversed): it lists the"
                " options in scale order, so the order never reaches the model"
                + (", and each letter is shown beside another option's label while the answer is scored as"
                   " the code at the letter's position" if _letters(codes, cond.option_labels) else ""),
                ctx.span("condition", cond.name, "option_order") or cond.span,
                "list the options in the order shown: `{% for label in item.shown_labels %}"
                "({{ item.options[loop.index0] }}){{ label }} {% endfor %}`, or `{{ item.scale_labels }}`"
                " (`item.labels` and `item.codes` keep scale order)",
            )
            return


def _letters(codes: tuple[int, ...], option_labels: str) -> bool:
    return any(label in LETTERS for label in scored_labels(codes, option_labels))


def _variables(spec: Spec, ctx: Context, cond: Condition) -> dict[str, Any]:
    """What a condition's templates see besides the item (a sample persona, the first country)."""
    variables: dict[str, Any] = {
        "study": {"name": spec.study.name, "title": spec.study.title, "language": spec.study.language},
        "condition": {"name": cond.name},
    }
    persona = sample_persona(spec, cond, ctx)
    if persona is not None:
        variables["persona"] = persona
    if cond.countries:
        variables["country"] = cond.countries[0]
        variables["country_name"] = country_name(spec.study.countries, cond.countries[0])
    return variables


def _presented_item_context(item: Item, presented: tuple[int, ...], option_labels: str) -> dict[str, Any]:
    """The item as the plan renders it for a request that shows its codes in ``presented`` order."""
    context = item_context(item)
    label_of = {c.code: c.label for c in item.scale.substantive}
    tokens = scored_labels(presented, option_labels)
    context.update(options=list(tokens), shown_labels=[label_of[c] for c in presented],
                   scale_labels=", ".join(f"{t}={label_of[c]}" for t, c in zip(tokens, presented)))
    return context


def _plan_item_context(item: Item, labels: tuple[str, ...]) -> dict[str, Any]:
    """The item as the plan renders it: ``scale_labels`` and ``options`` carry the scored labels."""
    context = item_context(item)
    shown = [f"{label}={c.label}" for label, c in zip(labels, item.scale.substantive)]
    context.update(scale_labels=", ".join(shown), options=list(labels))
    return context


def _backend_can_score(spec: Spec, ctx: Context, cond: Condition) -> None:
    """SIL821: labels that need full strings, through a backend that reads first tokens only."""
    model = spec.models.get(cond.model)
    if model is None or model.backend in FULL_STRING_BACKENDS:
        return
    if model.options.get("batch") is True:
        return  # the Batch API: SIL932 (rules/batch.py), where prompt_logprobs does not help
    if model.backend in PROMPT_LOGPROBS_BACKENDS and model.options.get("prompt_logprobs") is True:
        return
    if model.backend not in PROMPT_LOGPROBS_BACKENDS:
        return  # other backends: SIL803 says whether they serve option_probs at all
    items = [
        spec.item(item_id).code for item_id in cond.items
        if needs_full_strings(scored_labels(spec.item(item_id).scale.codes, cond.option_labels))
    ]
    if not items:
        return
    shown = ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")
    ctx.report(
        "SIL821",
        f"condition `{cond.name}`: option labels of {shown} share a prefix (1 and 10), and model `{model.name}` "
        "reads first-token log-probabilities only, so `1` would take the mass of `10`",
        ctx.span("condition", cond.name, "option_labels") or ctx.span("condition", cond.name, "answers") or cond.span,
        f"on a vLLM server set `prompt_logprobs = true` in model `{model.name}` (each option is then scored as a "
        "full string from prompt log-probabilities); otherwise use `option_labels = letters` and show the letters",
    )
