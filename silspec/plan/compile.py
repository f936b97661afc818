"""Spec -> Plan: personas sampled, prompts rendered, one content-addressed request per
(condition, item, persona-or-country, replicate), in that fixed order.

Two entry points, so that 720,000 requests never need to sit in memory at once:
``compile_header(spec)`` samples personas and describes the plan; ``iter_requests(spec,
header)`` streams the requests it describes. ``compile_plan`` does both and keeps the
requests (fine for the 1,200 of the KGSS study).

Speed (``bench/lint_plan.py``): shared template parts render once (``silspec.plan.render``),
and the request id's canonical JSON is assembled from pieces cached per condition and item,
hashing exactly the bytes ``silspec.plan.hashing.request_id`` would (a test holds them equal).
"""

from __future__ import annotations

import os
from hashlib import sha256
from json.encoder import encode_basestring as encode_string  # = json.dumps(str, ensure_ascii=False)
from typing import Any, Iterator, Sequence

from silspec.templating.context import country_name
from silspec.plan import options as opt
from silspec.plan.errors import PlanError
from silspec.plan.hashing import canonical_json, plan_hash, sha256_text
from silspec.plan.model import (
    Message,
    Persona,
    Plan,
    PlanCondition,
    PlanHeader,
    PlanItem,
    PlanModel,
    PopulationSummary,
    Request,
)
from silspec.plan.persona_table import (
    ListPersonas,
    PersonaGroup,
    PersonaIds,
    PersonaTable,
    condition_personas,
)
from silspec.plan.personas import (
    derive_seed,
    needed_columns,
    read_rows,
    rows_path,
    sample_rows_summarised,
    sample_schema_columns,
)
from silspec.plan.replicates import replicate_prefix, replicate_spec
from silspec.plan.render import CACHE_LIMIT, CompiledTemplate, make_environment
from silspec.plan.spec_hash import spec_hash
from silspec.spec.model import Condition, Item, Model, Spec, Template, evolve

CHARS_PER_TOKEN = 3.5  # a heuristic for mixed Korean/English prompts; estimates, not counts
ESTIMATE_SAMPLE = 64  # rendered prompts per condition behind the token estimate


def compile_plan(
    spec: Spec, *, conditions: Sequence[str] | None = None, limit: int | None = None
) -> Plan:
    """The whole plan in memory. Raises ``PlanError`` on anything that cannot be compiled."""
    header = compile_header(spec, conditions=conditions, limit=limit)
    requests = tuple(iter_requests(spec, header))
    return Plan(header=header, requests=requests, plan_hash=plan_hash(r.id for r in requests))


# ----------------------------------------------------------------------------------- header


def compile_header(
    spec: Spec, *, conditions: Sequence[str] | None = None, limit: int | None = None
) -> PlanHeader:
    """Everything about the plan except its requests: models, personas, items, counts."""
    if limit is not None and limit < 0:
        raise PlanError("--limit must be zero or more")
    _refuse_oversized(spec, _select(spec, conditions))
    try:
        return _compile_header(spec, conditions, limit)
    except MemoryError:  # a design the checker's bounds let through but this machine cannot hold
        raise PlanError(
            "out of memory while sampling personas and building the plan header; "
            "shrink the populations or plan fewer conditions (--condition)"
        ) from None


def _refuse_oversized(spec: Spec, selected: list[Condition]) -> None:
    """The checker's size bounds, again: a Spec built in Python skips lint, and sampling 10**29
    personas is not a MemoryError but the kernel killing the process."""
    from silspec.check.limits import MAX_POPULATION_SIZE, MAX_TOTAL_REQUESTS
    from silspec.check.rules.limits import estimated_requests

    total = 0
    for condition in selected:
        population = spec.populations.get(condition.population or "")
        if population is not None and population.size is not None and population.size > MAX_POPULATION_SIZE:
            raise PlanError(
                f"population {population.name!r} asks for {population.size:,} personas "
                f"(at most {MAX_POPULATION_SIZE:,})"
            )
        total += estimated_requests(spec, condition) or 0
    if total > MAX_TOTAL_REQUESTS:
        raise PlanError(f"the plan would have about {total:,} requests (at most {MAX_TOTAL_REQUESTS:,})")


def _compile_header(spec: Spec, conditions: Sequence[str] | None, limit: int | None) -> PlanHeader:
    selected = _select(spec, conditions)
    sampler = _PersonaSampler(spec)
    renderer = _Renderer(spec)
    personas = PersonaTable()
    items: dict[str, PlanItem] = {}
    plan_conditions: dict[str, PlanCondition] = {}
    templates: dict[str, str] = {}
    remaining = limit
    for condition in selected:
        if condition.model not in spec.models:
            raise PlanError(f"condition {condition.name!r} uses unknown model {condition.model!r}")
        if condition.parser not in spec.parsers:
            raise PlanError(f"condition {condition.name!r} uses unknown parser {condition.parser!r}")
        groups = sampler.personas_for(condition)
        for group in groups:
            personas.add(group, where=f"condition {condition.name!r}")
        condition_personas = PersonaIds(groups)
        for item_id in condition.items:
            items.setdefault(item_id, build_plan_item(_item(spec, item_id)))
        for role, template in (("system", condition.system), ("prompt", condition.prompt)):
            if template is not None:
                templates[_template_name(condition, role, template)] = sha256_text(template.source)
        full = len(condition.items) * len(condition_personas) * condition.samples
        n_requests = full if remaining is None else min(full, remaining)
        if remaining is not None:
            remaining -= n_requests
        plan_conditions[condition.name] = PlanCondition(
            name=condition.name,
            model=condition.model,
            parser=spec.parsers[condition.parser],
            answers=condition.answers,
            items=tuple(condition.items),
            persona_ids=condition_personas,
            samples=condition.samples,
            item_params={k: dict(v) for k, v in condition.item_params.items()},
            n_requests=n_requests,
            estimated_prompt_tokens=_estimate_tokens(
                spec, renderer, condition, condition_personas, items, n_requests
            ),
        )
    used_models = {c.model for c in selected}
    return PlanHeader(
        silspec_version=_version(),
        study=spec.study.name,
        seed=spec.study.seed,
        spec_hash=spec_hash(spec),
        spec_path=spec.path,
        overrides=tuple(spec.overrides),
        models={n: plan_model(m, spec) for n, m in spec.models.items() if n in used_models},
        conditions=plan_conditions,
        items=items,
        personas=personas,
        templates=dict(sorted(templates.items())),
        limit=limit,
        populations=dict(sampler.summaries),
    )


def plan_model(model: Model, spec: Spec | None = None) -> PlanModel:
    """The runner's view of a model: absolute local path, no spans, no secrets.

    A model with ``adapter = finetune.NAME`` gets the model id ``<base>+lora:<NAME>:<hash12>``
    (so its request ids change with the fine-tuning config) and, given the ``spec``, the
    absolute adapter folder in ``options["adapter"]["dir"]``.
    """
    path = model.path.absolute if model.path is not None else None
    if path is None and model.external is not None:
        path = model.external.path
    model_id = model.model_id
    options = dict(model.options)
    adapter = options.get("adapter")
    if isinstance(adapter, dict) and adapter.get("config_hash"):
        from silspec.spec.finetune import adapter_dir, adapter_model_id

        model_id = adapter_model_id(model.model_id, adapter["finetune"], adapter["config_hash"])
        if spec is not None:
            folder = (
                os.path.join(spec.root, adapter["dir"]) if adapter.get("dir")
                else adapter_dir(spec.root, spec.study.name, adapter["finetune"])
            )
            options["adapter"] = {**adapter, "dir": os.path.abspath(folder)}
    shared = model.endpoint_fields()
    shared.update(model_id=model_id, params=dict(model.params), options=options)
    return PlanModel(**shared, path=path)


def _select(spec: Spec, names: Sequence[str] | None) -> list[Condition]:
    if not names:
        return list(spec.conditions.values())
    unknown = [n for n in names if n not in spec.conditions]
    if unknown:
        raise PlanError(
            f"unknown condition {unknown[0]!r}; the spec has: {', '.join(spec.conditions)}"
        )
    wanted = set(names)
    return [c for c in spec.conditions.values() if c.name in wanted]  # spec order, always


def _item(spec: Spec, item_id: str) -> Item:
    try:
        return spec.item(item_id)
    except KeyError:
        raise PlanError(f"unknown item {item_id!r}") from None


def build_plan_item(item: Item) -> PlanItem:
    """The runner's view of an item: what prompts show and what the scorer needs."""
    codes = item.scale.codes
    missing = item.scale.missing_codes
    return PlanItem(
        id=item.id,
        code=item.code,
        text=item.text,
        codes=codes,
        labels=tuple(item.scale.label(c) for c in codes),
        midpoint=item.scale.midpoint,
        ordered=item.scale.ordered,
        missing=missing,
        missing_labels=tuple(item.scale.label(c) for c in missing),
    )


def _template_name(condition: Condition, role: str, template: Template) -> str:
    return template.name or f"{condition.name}.{role}"


def _estimate_tokens(spec, renderer, condition, personas, items, n_requests) -> int:
    """chars / 3.5 of a spread sample of rendered prompts, scaled to the request count."""
    pairs = len(condition.items) * len(personas)
    if not pairs or not n_requests:
        return 0
    k = min(ESTIMATE_SAMPLE, pairs)
    chars = 0
    for index in (i * pairs // k for i in range(k)):
        item_id = condition.items[index // len(personas)]
        persona = personas.persona_at(index % len(personas))
        plan_item = items[item_id]
        codes = opt.presented_codes(plan_item.codes, condition.option_order, shuffle_key="estimate")
        messages = renderer.messages(condition, _item(spec, item_id), plan_item, persona, codes)
        chars += sum(len(m.content) for m in messages)
    return round(chars / k * n_requests / CHARS_PER_TOKEN)


def _version() -> str:
    from silspec import __version__

    return __version__


# --------------------------------------------------------------------------------- personas


class _PersonaSampler:
    """Personas per (population, country), sampled once and shared by every condition."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self._cache: dict[tuple[str, str | None], PersonaGroup] = {}
        self._rows: dict[tuple[str, tuple[str, ...] | None], list[dict[str, str]]] = {}
        self.summaries: dict[str, PopulationSummary] = {}  # "population/country" -> what was kept
        self._filter_env = make_environment()
        numbered = {
            name
            for name in (c.population for c in spec.conditions.values())
            if name in spec.populations and not spec.populations[name].id_column
        }
        # Two populations would both number their personas P001...: keep the ids apart.
        self._prefix_ids = len(numbered) > 1
        self._replicates: dict[tuple[str, int], _PersonaSampler] = {}
        self._prefixed_groups: dict[tuple[int, str], tuple[PersonaGroup, PersonaGroup]] = {}

    def personas_for(self, condition: Condition) -> list[PersonaGroup]:
        """The condition's persona groups, in order (one per country); shared groups are the
        same object, so the header holds each once. With ``replicates = N`` (N >= 2): the groups
        of each replicate run in turn, drawn under that replicate's seed, ids ``rep{r}/...``."""
        replicates = self.spec.replicates_of(condition)
        if replicates < 2:
            return self._groups_for(condition)
        groups: list[PersonaGroup] = []
        for replicate in range(1, replicates + 1):
            key = ("replicate", replicate)
            if key not in self._replicates:
                self._replicates[key] = _PersonaSampler(replicate_spec(self.spec, replicate))
            sampler = self._replicates[key]
            groups += [sampler._prefixed(group, replicate_prefix(replicate)) for group in sampler._groups_for(condition)]
        return groups

    def _prefixed(self, group: PersonaGroup, prefix: str) -> PersonaGroup:
        """``group`` with ``prefix`` before every id, made once per group (shared by conditions)."""
        key = (id(group), prefix)
        if key not in self._prefixed_groups:
            if isinstance(group, ListPersonas):
                renamed = ListPersonas([evolve(p, id=prefix + p.id) for p in group.items])
                self._prefixed_groups[key] = (group, renamed)
            else:
                self._prefixed_groups[key] = (group, group.with_prefix(prefix))
        return self._prefixed_groups[key][1]

    def _groups_for(self, condition: Condition) -> list[PersonaGroup]:
        if condition.population is None:
            if not condition.countries:
                raise PlanError(
                    f"condition {condition.name!r} has neither a population nor countries"
                )
            return [ListPersonas([Persona(id=country, country=country) for country in condition.countries])]
        population = self.spec.populations.get(condition.population)
        if population is None:
            raise PlanError(
                f"condition {condition.name!r} uses unknown population {condition.population!r}"
            )
        groups: list[PersonaGroup] = []
        for country in condition.countries or (None,):
            key = (population.name, country)
            if key not in self._cache:
                self._cache[key] = self._sample(population, country)
            if condition.descriptor_items is not None:
                key = (population.name, country, condition.descriptor_items)
                if key not in self._cache:
                    self._cache[key] = self._sample(population, country, condition.descriptor_items)
            groups.append(self._cache[key])
        return groups

    def _sample(self, population, country, descriptor_items: tuple[str, ...] | None = None) -> PersonaGroup:
        """``descriptor_items`` (an ablation's subset): the same rows as the population's own
        sample, each persona's text built from those items only and its id marked with them
        (``~Q164.Y003``; ``~none`` for no item), so that it never collides with the full persona."""
        prefix = self._prefix_ids and not population.id_column
        if population.sampling != "rows":
            group = sample_schema_columns(self.spec, population, country)
            return group.with_prefix(f"{population.name}/") if prefix else group
        path = rows_path(self.spec, population)
        columns = needed_columns(self.spec, population)
        key = (path, tuple(columns) if columns is not None else None)
        if key not in self._rows:
            self._rows[key] = read_rows(path, columns)
        personas, summary = sample_rows_summarised(self.spec, population, country, self._rows[key], self._fill,
                                                   descriptor_items)
        if descriptor_items is None:  # an ablation's subset draws the same rows: one summary
            self.summaries[f"{population.name}/{country}" if country else population.name] = summary
        if prefix:
            personas = [evolve(p, id=f"{population.name}/{p.id}") for p in personas]
        if descriptor_items is not None:
            mark = "~" + (".".join(descriptor_items) or "none")
            personas = [evolve(p, id=p.id + mark) for p in personas]
        return ListPersonas(personas)

    def _fill(self, value: str, country: str | None) -> str:
        if "{" not in value:
            return value
        try:
            return self._filter_env.from_string(value).render(country=country)
        except Exception as exc:
            raise PlanError(f"row filter {value!r} cannot be filled: {exc}") from None


# -------------------------------------------------------------------------------- rendering


class _Renderer:
    """Compiled templates plus the cached context pieces they render from."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self._env = make_environment()
        self._templates: dict[tuple[str, str], CompiledTemplate] = {}
        self.study = {
            "name": spec.study.name,
            "title": spec.study.title,
            "language": spec.study.language,
        }
        self._persona_ctx: dict[str, dict[str, Any]] = {}
        self._item_ctx: dict[tuple[str, tuple[int, ...], bool], dict[str, Any]] = {}

    def template(self, condition: Condition, role: str, template: Template) -> CompiledTemplate:
        name = _template_name(condition, role, template)
        key = (name, template.source)
        if key not in self._templates:
            self._templates[key] = CompiledTemplate(self._env, name, template.source)
        return self._templates[key]

    def persona_context(self, persona: Persona) -> dict[str, Any]:
        ctx = self._persona_ctx.get(persona.id)
        if ctx is None:
            if len(self._persona_ctx) >= CACHE_LIMIT:  # a million personas: memory stays flat
                self._persona_ctx.clear()
            ctx = self._persona_ctx[persona.id] = {
                **persona.attributes,
                "id": persona.id,
                "text": persona.text,
                "texts": persona.texts,
            }
        return ctx

    def item_context(
        self, item: Item, plan_item: PlanItem, presented: tuple[int, ...], letters: bool, answers: str
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        key = (item.id, presented, letters)
        ctx = self._item_ctx.get(key)
        if ctx is None:
            tokens = opt.option_tokens(presented, letters=letters, answers=answers)
            label_of = dict(zip(plan_item.codes, plan_item.labels))
            ctx = self._item_ctx[key] = {
                **item.fields,
                "id": item.id,
                "code": item.code,
                "text": item.text,
                "codes": list(plan_item.codes),
                "labels": list(plan_item.labels),
                "min": min(plan_item.codes),
                "max": max(plan_item.codes),
                "scale_labels": opt.scale_labels(tokens, [label_of[c] for c in presented]),
                "options": list(tokens),
                "shown_labels": [label_of[c] for c in presented],  # labels in the order shown
            }
        return ctx, tuple(ctx["options"])

    def messages(
        self,
        condition: Condition,
        item: Item,
        plan_item: PlanItem,
        persona: Persona,
        presented: tuple[int, ...],
    ) -> tuple[Message, ...]:
        letters = opt.uses_letters(plan_item.codes, condition.option_labels)
        item_ctx, _ = self.item_context(item, plan_item, presented, letters, condition.answers)
        context, keys = self.context(condition, item, presented, persona, item_ctx)
        out = []
        for role, template in (("system", condition.system), ("prompt", condition.prompt)):
            if template is None:
                continue
            try:
                text = self.template(condition, role, template).render(context, keys)
            except PlanError as exc:
                raise _located(exc, condition, role, item.id, persona) from None
            out.append(Message("system" if role == "system" else "user", text))
        return tuple(out)

    def context(self, condition, item, presented, persona, item_ctx):
        country = persona.country
        context = {
            "persona": self.persona_context(persona),
            "item": item_ctx,
            "country": country,
            "country_name": country_name(self.spec.study.countries, country),
            "study": self.study,
            "condition": {"name": condition.name},
        }
        keys = {
            "persona": persona.id,
            "item": (item.id, presented),
            "country": country,
            "country_name": country,
            "study": 0,
            "condition": condition.name,
        }
        return context, keys


# --------------------------------------------------------------------------------- requests


def iter_requests(spec: Spec, header: PlanHeader) -> Iterator[Request]:
    """The requests ``header`` describes, in plan order, one at a time."""
    renderer = _Renderer(spec)
    for name, plan_condition in header.conditions.items():
        yield from _condition_requests(spec, header, renderer, spec.conditions[name], plan_condition)


def _condition_requests(
    spec: Spec,
    header: PlanHeader,
    renderer: _Renderer,
    condition: Condition,
    plan_condition: PlanCondition,
) -> Iterator[Request]:
    """One condition's requests. The inner loop is the plan's hot path: keep it flat."""
    name = condition.name
    model = header.models[condition.model]
    persona_ids, header_personas = plan_condition.persona_ids, header.personas
    system = renderer.template(condition, "system", condition.system) if condition.system else None
    prompt = renderer.template(condition, "prompt", condition.prompt)
    # Canonical JSON of the request id payload, keys in sorted order (hashing.request_id).
    id_head = (
        '{"answers":' + canonical_json(condition.answers)
        + ',"backend":' + canonical_json(model.backend) + ',"codes":'
    )
    id_model = ',"model":' + canonical_json(model.model_id) + ',"params":'
    shuffled = condition.option_order == "shuffled"
    samples = condition.samples
    answers = condition.answers
    system_cache: dict[str, tuple[Message, str]] = {}
    system_constant = system.render({}, {}) if system is not None and not system.names else None
    context = {"study": renderer.study, "condition": {"name": name}}
    keys: dict[str, Any] = {"study": 0, "condition": name}
    left = plan_condition.n_requests
    country_names = spec.study.countries
    for item_id in plan_condition.items:
        if left <= 0:
            return
        item = spec.item(item_id)
        plan_item = header.items[item_id]
        override = plan_condition.item_params.get(item_id)
        params = {**model.params, **override} if override else None
        sent = model.params if params is None else params
        id_middle = id_model + canonical_json(sent) + ',"replicate":'
        seeded = "seed" in sent or model.backend == "hf"
        letters = opt.uses_letters(plan_item.codes, condition.option_labels)
        fixed = None
        if not shuffled:
            fixed = _option_view(renderer, item, plan_item, condition, letters,
                                 opt.presented_codes(plan_item.codes, condition.option_order))
            context["item"], keys["item"] = fixed[0], fixed[1]
        for persona in condition_personas(persona_ids, header_personas):
            if left <= 0:
                return
            context["persona"] = renderer.persona_context(persona)
            keys["persona"] = persona.id
            context["country"] = keys["country"] = keys["country_name"] = persona.country
            context["country_name"] = country_name(country_names, persona.country)
            for replicate in range(samples):
                if left <= 0:
                    return
                left -= 1
                coordinates = (header.seed, name, item_id, persona.id, replicate)
                if fixed is None:
                    presented = opt.presented_codes(
                        plan_item.codes, "shuffled", "\x1f".join(map(str, coordinates))
                    )
                    view = _option_view(renderer, item, plan_item, condition, letters, presented)
                    context["item"], keys["item"] = view[0], view[1]
                else:
                    view = fixed
                _, _, presented, tokens, codes_json, tokens_json = view
                try:
                    user = prompt.render(context, keys)
                except PlanError as exc:
                    raise _located(exc, condition, "prompt", item_id, persona) from None
                try:
                    system_text = system_constant or (system.render(context, keys) if system is not None else "")
                except PlanError as exc:
                    raise _located(exc, condition, "system", item_id, persona) from None
                if system is not None:
                    cached = system_cache.get(system_text)
                    if cached is None:
                        if len(system_cache) >= CACHE_LIMIT:  # a per-persona system prompt
                            system_cache.clear()
                        cached = system_cache[system_text] = (
                            Message("system", system_text),
                            '["system",' + encode_string(system_text) + "],",
                        )
                    messages = (cached[0], Message("user", user))
                    system_json = cached[1]
                else:
                    messages = (Message("user", user),)
                    system_json = ""
                seed = derive_seed("replicate", *coordinates) % 2**31 if seeded else None
                payload = (
                    id_head + codes_json
                    + ',"key":' + canonical_json([name, item_id, persona.id])
                    + ',"messages":[' + system_json + '["user",' + encode_string(user) + "]]"
                    + id_middle + str(replicate)
                    + ',"seed":' + ("null" if seed is None else str(seed))
                    + ',"tokens":' + tokens_json + "}"
                )
                yield Request(
                    id=sha256(payload.encode("utf-8")).hexdigest(),
                    condition=name,
                    model=condition.model,
                    item=item_id,
                    persona=persona.id,
                    replicate=replicate,
                    answers=answers,
                    messages=messages,
                    option_codes=presented,
                    option_tokens=tokens,
                    seed=seed,
                    country=persona.country,
                    params=params,
                )


def _located(exc: PlanError, condition: Condition, role: str, item_id: str, persona: Persona) -> PlanError:
    """A render failure with where it happened: file, line, condition, item (and persona)."""
    template = getattr(condition, role)
    span = (template.span if template is not None else None) or condition.span
    where = f"{span.file}:{span.line}:{span.col}: " if span is not None else ""
    who = f", persona {persona.id!r}" if condition.population is not None else ""
    country = f", country {persona.country!r}" if persona.country else ""
    return PlanError(f"{where}{role} of condition {condition.name!r}, item {item_id!r}{who}{country}: {exc}")


def _option_view(renderer, item, plan_item, condition, letters, presented):
    """(item context, item cache key, codes, tokens, codes JSON, tokens JSON) for one order."""
    try:
        item_ctx, tokens = renderer.item_context(item, plan_item, presented, letters, condition.answers)
    except PlanError as exc:  # e.g. more options than letters: say where
        span = condition.span
        where = f"{span.file}:{span.line}:{span.col}: " if span is not None else ""
        raise PlanError(f"{where}condition {condition.name!r}, item {item.id!r}: {exc}") from None
    return (item_ctx, (item.id, presented), presented, tokens,
            canonical_json(presented), canonical_json(tokens))
