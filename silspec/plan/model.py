"""The execution plan: everything a runner needs, nothing it does not.

A plan is a header (study, models, conditions, personas, items) plus a stream of requests in a
fixed order. The runner imports this module and never the syntax tree or the checker. Requests
are content-addressed: ``Request.id`` is the sha256 of the canonical JSON of exactly what
changes the answer (see ``silspec.plan.hashing.request_id``), so a transport ``--set`` (base URL,
concurrency) keeps ids and reuses stored answers, while a temperature change does not.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal, Mapping, Sequence

from attrs import field, frozen

from silspec.spec.model import Endpoint, Parser

AnswerMode = Literal["sampled", "option_probs", "verbalised"]


@frozen
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@frozen
class PlanModel(Endpoint):
    """A model as the runner sees it: the spec's ``Endpoint`` with its local path made absolute.
    No secrets: ``api_key_env`` is a variable *name*."""

    path: str | None = None  # absolute path of a local folder/file (hf weights, replay CSV)


@frozen
class PlanItem:
    id: str  # qualified "survey.ITEM"
    code: str  # "ITEM"
    text: str
    codes: tuple[int, ...]  # substantive codes, scale order
    labels: tuple[str, ...]  # aligned with codes
    midpoint: int
    ordered: bool = True
    # Non-substantive codes (don't know, refused) and their labels: never an answer, but a
    # stated distribution may put mass on them (dropped, then renormalised). The scorer
    # (``silspec.answers``) reads them here so that the runner scores without the spec.
    missing: tuple[int, ...] = ()
    missing_labels: tuple[str, ...] = ()  # aligned with ``missing``


@frozen
class Persona:
    id: str  # "P001" or a row id; for country-level conditions the country code
    attributes: dict[str, str] = field(factory=dict)
    country: str | None = None
    text: str | None = None  # descriptor-built persona text (value personas)
    # every descriptor set's text by its name (``persona.texts.sociodemographic``); omitted from
    # the plan JSON while empty, so plans without descriptor populations keep their bytes
    texts: dict[str, str] = field(factory=dict)


@frozen
class PopulationSummary:
    """What sampling one population for one country kept and dropped (never silent).

    ``matching`` rows pass the country and ``where`` filters; ``zero_weight`` of them have
    weight 0 and can never be drawn; ``weighted`` says whether the draw used the weights (it does
    not when every matching row is taken: then each persona counts once). Per descriptor set and
    item: how many sampled personas gave a missing code (no sentence) and how many a code the
    table does not describe (no sentence either); ``empty`` personas got no sentence at all.
    """

    population: str
    country: str | None
    source: str  # the rows file's name, or the environment variable that names it
    rows: int
    matching: int
    sampled: int
    weight: str | None = None  # the weight column, if any
    zero_weight: int = 0
    weighted: bool = False
    missing: dict[str, dict[str, int]] = field(factory=dict)
    undescribed: dict[str, dict[str, dict[str, int]]] = field(factory=dict)  # set -> item -> code -> n
    empty: dict[str, int] = field(factory=dict)

    def lines(self) -> list[str]:
        """Human-readable notes for `silspec plan` and the report; [] when nothing was lost."""
        where = f"{self.population}" + (f" / {self.country}" if self.country else "")
        out = []
        if self.zero_weight:
            out.append(f"{where}: {self.zero_weight} of {self.matching} matching rows have weight 0 and are never drawn")
        if self.weight and self.sampled == self.matching - self.zero_weight and not self.weighted:
            out.append(f"{where}: all {self.sampled} matching rows taken; each counts once ({self.weight} not applied)")
        for name, per_item in self.missing.items():
            counts = ", ".join(f"{item} {n}" for item, n in per_item.items() if n)
            if counts:
                out.append(f"{where}: {name}: missing answers (no sentence) of {self.sampled} personas: {counts}")
        for name, per_item in self.undescribed.items():
            for item, codes in per_item.items():
                shown = ", ".join(f"{code} ({n})" for code, n in codes.items())
                out.append(f"{where}: {name}: {item} codes with no sentence and not declared missing: {shown}")
        for name, n in self.empty.items():
            if n:
                out.append(f"{where}: {name}: {n} of {self.sampled} personas have no sentence at all")
        return out


@frozen
class PlanCondition:
    name: str
    model: str
    parser: Parser
    answers: AnswerMode
    items: tuple[str, ...]
    # Personas (or countries) asked, in order. A compiled plan holds a lazy ``PersonaIds``
    # (silspec.plan.persona_table), one read from JSON a tuple: index and iterate, nothing more.
    persona_ids: Sequence[str]
    samples: int = 1
    n_requests: int = 0
    estimated_prompt_tokens: int = 0
    # Per-item overrides of the model's params (`params ITEM { ... }` in the condition):
    # qualified item id -> the keys it overrides. Requests of those items carry the merge.
    item_params: dict[str, dict[str, Any]] = field(factory=dict)


@frozen
class Request:
    """One question to one model: (condition, item, persona-or-country, replicate)."""

    id: str  # sha256 hex of the canonical answer-changing content
    condition: str
    model: str
    item: str  # qualified item id
    persona: str
    replicate: int
    answers: AnswerMode
    messages: tuple[Message, ...]
    option_codes: tuple[int, ...]  # codes in the order presented
    option_tokens: tuple[str, ...]  # what the model answers with for each code ("1".."5" or "A"..)
    seed: int | None = None  # per-replicate seed derived from the study seed
    country: str | None = None
    # The parameters to send when they differ from the model's (a per-item override of the
    # condition); None = the model's ``params``. Use ``request_params`` to read them.
    params: dict[str, Any] | None = None

    @property
    def prompt_hash(self) -> str:
        from silspec.plan.hashing import messages_hash

        return messages_hash(self.messages)


def request_params(request: Request, model: PlanModel) -> dict[str, Any]:
    """The answer-changing parameters to send for ``request`` (the model's, or its override)."""
    return dict(model.params) if request.params is None else dict(request.params)


@frozen
class PlanHeader:
    silspec_version: str
    study: str
    seed: int
    spec_hash: str
    spec_path: str
    overrides: tuple[tuple[str, str], ...]
    models: dict[str, PlanModel]
    conditions: dict[str, PlanCondition]
    items: dict[str, PlanItem]
    # id -> persona. A compiled plan holds a ``PersonaTable`` that builds each persona when asked
    # (a million personas are a few MB of codes, not a GB of objects); one read from JSON a dict.
    personas: Mapping[str, Persona]
    templates: dict[str, str]  # template name -> sha256 of its source
    limit: int | None = None  # --limit N: only the first N requests, in plan order
    # Row populations: what sampling kept and dropped, per "population/country" (omitted from
    # the plan JSON while empty, so plans without row populations keep their bytes).
    populations: dict[str, PopulationSummary] = field(factory=dict)


@frozen
class Plan:
    """Header plus requests. ``requests`` is a tuple for small plans; large plans stream via
    ``silspec.plan.compile.iter_requests`` and ``Plan`` holds them only when asked to."""

    header: PlanHeader
    requests: tuple[Request, ...]
    plan_hash: str  # sha256 over the ordered request ids

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)
