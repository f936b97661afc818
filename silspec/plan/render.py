"""Jinja rendering for plans: sandboxed, strict, compiled once, shared parts rendered once.

A plan of 720,000 requests cannot afford one full Jinja render per request (a bare sandboxed
render alone runs at ~17k/s here). Most of a prompt depends on the persona *or* on the item,
rarely on both in the same expression, so a template is split at its top level into
*segments*: runs of output nodes that reference the same top-level variables
(``jinja2.meta.find_undeclared_variables``). Each segment is compiled once and its output
cached by the variables it references: the persona block renders once per persona (up to
``CACHE_LIMIT`` personas at a time), the question once per item, and a request is a concatenation of cached strings. Templates that
define names (``{% set %}``, macros, imports, blocks) are never split; they render whole.
Segments that reference both persona and item are not cached (there is one per request).
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping

from jinja2 import TemplateError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from silspec.plan.errors import PlanError
from silspec.templating.context import TOP_LEVEL as CONTEXT_NAMES  # one list for lint and plan
from silspec.templating.context import make_environment as bounded
from silspec.templating.sandbox import MAX_RENDERED_CHARS, TemplateLimitError

# Top-level statements that define names later nodes can see: splitting would break scoping.
_NAME_DEFINING = (
    nodes.Assign,
    nodes.AssignBlock,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Import,
    nodes.FromImport,
    nodes.Include,
    nodes.Extends,
    nodes.Block,
)

# Caching a segment that varies per request would only grow memory.
_UNCACHED = frozenset({"persona", "item"})
# Entries a segment cache holds before it starts over. Shipped designs (thousands of personas)
# never reach it; a million-persona plan, which meets each persona once per item, keeps flat
# memory instead of a rendered persona block per persona.
CACHE_LIMIT = 65_536


def make_environment() -> SandboxedEnvironment:
    """The only Jinja environment silspec renders spec templates with: the checker's bounded
    sandbox (``silspec.templating.sandbox``), without keeping a template's trailing newline."""
    return bounded(keep_trailing_newline=False)


class _Segment:
    __slots__ = ("render", "names", "cache", "single", "fields")

    def __init__(self, render: Callable[[Mapping[str, Any]], str], names: tuple[str, ...],
                 fields: tuple[str, ...] | None = None):
        self.render = render
        self.names = names
        self.cache: dict[Hashable, str] | None = None if _UNCACHED <= set(names) else {}
        self.single = names[0] if len(names) == 1 else None  # the common case: one key, no tuple
        # The persona fields the segment reads (``persona.age_group``), when it reads nothing
        # else of the persona: it is then cached by their values, not by persona id, so a
        # million personas drawn from a few hundred attribute combinations render a few hundred
        # times. None: cached by the persona's key.
        self.fields = fields if "persona" in names else None


class CompiledTemplate:
    """A spec template compiled once; ``render(context, keys)`` reuses shared segment output.

    ``keys`` maps each context name to a hashable identity of its value (persona id, item id
    plus presented options, ...): two contexts with equal keys must render equally.
    """

    def __init__(self, env: SandboxedEnvironment, name: str, source: str):
        self.name = name
        self.source = source
        try:
            tree = env.parse(source)
        except TemplateError as exc:
            raise PlanError(f"template {name!r} does not parse: {exc}") from None
        self.names = tuple(sorted(meta.find_undeclared_variables(tree)))
        unknown = [n for n in self.names if n not in CONTEXT_NAMES]
        if unknown:
            raise PlanError(
                f"template {name!r} uses undefined variable {unknown[0]!r}; "
                f"available: {', '.join(CONTEXT_NAMES)}"
            )
        self._segments = [
            _Segment(env.from_string(part).render, names, persona_fields(part))
            for part, names in _split(env, tree)
        ]

    def render(self, context: Mapping[str, Any], keys: Mapping[str, Hashable]) -> str:
        try:
            text = "".join([self._render_segment(s, context, keys) for s in self._segments])
        except PlanError:
            raise
        except TemplateLimitError as exc:
            raise PlanError(f"template {self.name!r} exceeds a resource limit: {exc}") from None
        except MemoryError:
            raise PlanError(f"template {self.name!r} ran out of memory while rendering") from None
        except SecurityError as exc:
            raise PlanError(
                f"template {self.name!r} tried something the sandbox forbids: {exc}"
            ) from None
        except UndefinedError as exc:
            raise PlanError(f"template {self.name!r}: undefined variable: {exc}") from None
        except Exception as exc:  # any other rendering failure (filters, arithmetic, ...)
            raise PlanError(f"template {self.name!r} failed to render: {exc}") from None
        if len(text) > MAX_RENDERED_CHARS:  # segments are bounded one by one; the prompt as a whole too
            raise PlanError(
                f"template {self.name!r} exceeds a resource limit: the rendered text has {len(text):,} "
                f"characters (limit {MAX_RENDERED_CHARS:,})"
            )
        return text

    @staticmethod
    def _render_segment(
        segment: _Segment, context: Mapping[str, Any], keys: Mapping[str, Hashable]
    ) -> str:
        cache = segment.cache
        if cache is None:
            return segment.render({n: context[n] for n in segment.names})
        single = segment.single
        fields = segment.fields
        if fields is not None:
            persona = context["persona"]
            values = tuple([_hashable(persona.get(f, _ABSENT)) for f in fields])
            key = values if single is not None else tuple(
                [values if n == "persona" else keys[n] for n in segment.names])
        else:
            key = keys[single] if single is not None else tuple([keys[n] for n in segment.names])
        text = cache.get(key)
        if text is None:
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            text = cache[key] = segment.render({n: context[n] for n in segment.names})
        return text


def _hashable(value: Any) -> Hashable:
    """A persona field as a cache key: ``persona.texts`` (one text per descriptor set) is a dict."""
    return tuple(sorted(value.items())) if isinstance(value, dict) else value


def _split(
    env: SandboxedEnvironment, tree: nodes.Template
) -> list[tuple[nodes.Template, tuple[str, ...]]]:
    """Cut a parsed template into consecutive parts that reference the same variables."""
    whole = [(tree, tuple(sorted(meta.find_undeclared_variables(tree))))]
    if any(True for _ in tree.find_all(_NAME_DEFINING)):
        return whole
    units: list[nodes.Node] = []
    for node in tree.body:
        if isinstance(node, nodes.Output):
            units.extend(_output(env, [child]) for child in node.nodes)
        else:
            units.append(node)
    parts: list[tuple[list[nodes.Node], tuple[str, ...]]] = []
    for unit in units:
        names = tuple(sorted(meta.find_undeclared_variables(_template(env, [unit]))))
        if parts and (not names or parts[-1][1] == names):
            parts[-1][0].append(unit)  # constant text joins whatever precedes it
        elif parts and not parts[-1][1]:
            parts[-1] = (parts[-1][0] + [unit], names)  # leading constant text joins the first
        else:
            parts.append(([unit], names))
    if len(parts) <= 1:
        return whole
    return [(_template(env, body), names) for body, names in parts]


_ABSENT = object()  # a field the persona lacks: renders an error, never shares a key with a value


def persona_fields(template: nodes.Template) -> tuple[str, ...] | None:
    """The persona fields ``template`` reads, when it reads the persona only as
    ``persona.NAME`` / ``persona["NAME"]``; None when it uses the persona any other way (whole,
    through a filter, a loop, a dict method such as ``persona.items()``)."""
    fields: set[str] = set()

    def visit(node: nodes.Node, parent: nodes.Node | None) -> bool:
        if isinstance(node, nodes.Name) and node.name == "persona":
            if isinstance(parent, nodes.Getattr) and parent.node is node:
                name = parent.attr
            elif isinstance(parent, nodes.Getitem) and parent.node is node \
                    and isinstance(parent.arg, nodes.Const) and isinstance(parent.arg.value, str):
                name = parent.arg.value
            else:
                return False
            if hasattr(dict, name) or name.startswith("_"):
                return False  # a dict method or attribute, not a field
            fields.add(name)
            return True
        return all(visit(child, node) for child in node.iter_child_nodes())

    return tuple(sorted(fields)) if visit(template, None) else None


def _output(env: SandboxedEnvironment, children: list[nodes.Node]) -> nodes.Output:
    out = nodes.Output(children, lineno=getattr(children[0], "lineno", 1))
    out.set_environment(env)
    return out


def _template(env: SandboxedEnvironment, body: list[nodes.Node]) -> nodes.Template:
    template = nodes.Template(body, lineno=1)
    template.set_environment(env)
    return template
