"""The bounded Jinja sandbox every spec template renders in (lint and plan alike).

Jinja's ``SandboxedEnvironment`` stops templates from reaching Python internals, but not from
asking for memory: ``{{ 'a' * 10**10 }}`` allocates gigabytes and ``{{ "a"|center(10**9) }}``
builds a 1 GB prompt. Templates come from strangers, so this environment also bounds what an
expression may build:

- ``*``, ``**``, ``+``, ``%`` and ``~`` refuse results over ``MAX_ITEMS`` items (strings, lists,
  nested lists counted deeply), integers over ``MAX_INT_BITS`` bits, and ``%`` padding wider
  than ``MAX_ITEMS``;
- filters and string methods that take a width or count (``center``, ``indent``, ``wordwrap``,
  ``truncate``, ``format``, ``batch``, ``slice``, ``join``, ``replace``, ``ljust`` ...) refuse
  widths over ``MAX_ITEMS`` and results over ``MAX_RENDERED_CHARS``;
- every render has a work budget that covers everything a template can repeat: characters
  built, items of every ``for`` loop (over a range, a string, a list, a filter's result), the
  operands of every comparison and ``in`` test, slices, and the input and output of every
  filter (``upper``, ``lower``, ``title``, ``trim``, ``e``, ``striptags``, ``join``, ... turn a
  value into a string, so a nested list doubled twenty times costs what it prints as). The
  rendered output (and every buffered block) is at most ``MAX_RENDERED_CHARS`` characters,
  counted while streaming.

Mutating methods (``list.append``...) are refused (``ImmutableSandboxedEnvironment``): a
prompt never needs them, and a loop of ``l.extend(l)`` doubles memory per iteration.
Exceeding a bound raises ``TemplateLimitError`` (lint: SIL606, plan: ``PlanError``).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from typing import Any, Callable, Iterable

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.environment import Template
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_ITEMS = 100_000  # characters of a string / items of a list an expression may build
MAX_RENDERED_CHARS = 200_000  # characters of one rendered prompt (or any buffered block)
MAX_INT_BITS = 100_000  # integers from * and ** (2 ** 10**9 takes minutes)
MAX_WORK = 20 * MAX_RENDERED_CHARS  # characters built + range items iterated, per render

_CONTAINERS = (list, tuple, dict, set, frozenset)
_FLAT = (str, bytes, bytearray)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")  # '{:>{}}': the width is an argument


class TemplateLimitError(TemplateRuntimeError):
    """A template asked for more memory or work than a prompt can need."""


# ------------------------------------------------------------------------------ accounting

_budget = threading.local()


def _charge(amount: int) -> None:
    remaining = getattr(_budget, "remaining", None)
    if remaining is None:
        return  # not inside a render (a constant folded at compile time)
    remaining -= amount
    _budget.remaining = remaining
    if remaining < 0:
        raise TemplateLimitError(
            f"the template does too much work (over {MAX_WORK:,} characters built or items iterated)"
        )


def _remaining() -> int | None:
    return getattr(_budget, "remaining", None)


def _charge_value(value: Any) -> None:
    """Charge what walking ``value`` costs: its length, or for a container its printed size
    (counted only up to the budget left, so the count itself stays bounded)."""
    remaining = _remaining()
    if remaining is None:
        return
    if isinstance(value, _FLAT):
        _charge(len(value))
    elif isinstance(value, _CONTAINERS):
        _charge(deep_size(value, max(remaining, 0) + 1))
    else:
        _charge(1)


def charged(value: Any) -> Any:
    """``for x in VALUE`` / ``a in VALUE`` / ``a == VALUE``: charge the walk, pass the value on.

    A sized value is charged up front; an iterator (``map``, ``select``...) per item taken.
    """
    if _remaining() is None:
        return value
    if isinstance(value, (*_FLAT, *_CONTAINERS)):
        _charge_value(value)
        return value
    if hasattr(value, "__len__"):
        try:
            _charge(len(value))
        except TypeError:
            _charge(1)
        return value
    if hasattr(value, "__iter__") or hasattr(value, "__next__"):
        return _charged_iterator(value)
    _charge(1)
    return value


def _charged_iterator(value: Any) -> Iterable[Any]:
    for element in value:
        _charge(1)
        yield element


def deep_size(value: Any, limit: int = MAX_ITEMS) -> int:
    """Characters + items a value prints as, counting shared nested lists once per use.

    ``[[x] * 1000] * 1000`` holds 1,000 pointers but prints a million elements; counting
    per use (memoised by identity, so the count itself stays cheap) sees that. Stops early
    once over ``limit``.
    """
    if isinstance(value, _FLAT):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    memo: dict[int, int] = {}

    def size(v: Any) -> int:
        if isinstance(v, _FLAT):
            return len(v)
        if not isinstance(v, _CONTAINERS):
            return 1
        key = id(v)
        if key in memo:
            return memo[key]
        memo[key] = 0  # a cycle counts once
        total = len(v)
        for element in (v.items() if isinstance(v, dict) else v):
            total += size(element)
            if total > limit:
                break
        memo[key] = total
        return total

    return size(value)


def _shown(number: int) -> str:
    """``1,000,000``, or ``about 10^5000`` where Python would refuse to print the digits."""
    if number.bit_length() <= 96:
        return f"{number:,}"
    return f"about 10^{int(number.bit_length() * math.log10(2))}"


def _refuse_size(size: int, what: str, limit: int = MAX_ITEMS) -> None:
    if size > limit:
        raise TemplateLimitError(f"{what} would have {_shown(size)} items/characters (limit {limit:,})")


def _refuse_digits(number: str, what: str) -> None:
    """A width written in a format string: refuse by its length before converting it."""
    if len(number) > len(str(MAX_ITEMS)):
        raise TemplateLimitError(f"{what} with a {len(number)}-digit width (limit {MAX_ITEMS:,})")
    _refuse_width(int(number), what)


def _refuse_width(width: Any, what: str) -> None:
    if isinstance(width, int) and not isinstance(width, bool) and abs(width) > MAX_ITEMS:
        raise TemplateLimitError(f"{what} with width/count {_shown(abs(width))} (limit {MAX_ITEMS:,})")
    if isinstance(width, float) and math.isfinite(width) and abs(width) > MAX_ITEMS:
        raise TemplateLimitError(f"{what} with width/count {width:,.0f} (limit {MAX_ITEMS:,})")


def _check_format_spec(fmt: Any, args: Iterable[Any], what: str) -> None:
    """``'%1000000000d' % 1`` / ``'{:>1000000000}'.format(1)``: padding is a width too."""
    if not isinstance(fmt, str):
        return
    if "%" in fmt:
        for match in _PERCENT_SPEC.finditer(fmt):
            for number in match.groups():
                if number and number != "*":
                    _refuse_digits(number, what)
    if "{" in fmt:
        for match in _BRACE_SPEC.finditer(fmt):
            for number in _DIGITS.findall(match.group(1)):
                _refuse_digits(number, what)
    widths_in_args = "*" in fmt or bool(_NESTED_SPEC.search(fmt))
    for arg in args:
        if widths_in_args and _is_int(arg):
            _refuse_width(arg, f"{what} (width given as an argument)")
        _refuse_size(deep_size(arg, MAX_RENDERED_CHARS), f"{what} argument", MAX_RENDERED_CHARS)


def _as_sized(value: Any) -> Any:
    return value if isinstance(value, (*_FLAT, *_CONTAINERS)) else None


# --------------------------------------------------------------------------------- operators


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and _as_sized(seq) is not None:
                _refuse_size(max(times, 0) * deep_size(seq), "`*`")
        if _is_int(left) and _is_int(right):
            _refuse_bits(left.bit_length() + right.bit_length(), "`*`")
    elif operator == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            _refuse_bits(right * max(abs(left).bit_length() - 1, 1), "`**`")
    elif operator == "+":
        if _as_sized(left) is not None and _as_sized(right) is not None:
            _refuse_size(deep_size(left) + deep_size(right), "`+`", MAX_RENDERED_CHARS)
    elif operator == "%":
        if isinstance(left, str):
            args = right if isinstance(right, tuple) else (right,)
            _check_format_spec(left, args, "`%` formatting")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(f"{what} would build an integer of about {bits:,} bits (limit {MAX_INT_BITS:,})")


def _bounded_join(parts: Iterable[Any]) -> str:
    """``a ~ b``: like Jinja's ``str_join``, refusing what would print too large."""
    out = []
    total = 0
    for part in parts:
        total += deep_size(part, MAX_RENDERED_CHARS)
        if total > MAX_RENDERED_CHARS:
            raise TemplateLimitError(f"`~` would build over {MAX_RENDERED_CHARS:,} characters")
        out.append(str(part))
    _charge(total)
    return "".join(out)


# ----------------------------------------------------------------------------------- filters


def _width_check(name: str) -> Callable[..., None]:
    """A bound on the width argument of ``name`` (``center``, ``ljust``, ``rjust``, ``zfill``)."""

    def check(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
        _refuse_width(width, f"`{name}`")

    return check


_check_center = _width_check("center")


def _check_indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    lines = str(s).count("\n") + 1 if isinstance(s, str) else 1
    pad = len(width) if isinstance(width, str) else width
    _refuse_width(pad, "`indent`")
    if _is_int(pad):
        _refuse_size(len(str(s)) + pad * lines, "`indent`", MAX_RENDERED_CHARS)


def _check_width(name: str) -> Callable[..., None]:
    def check(value: Any, width: Any = None, *_: Any, **__: Any) -> None:
        _refuse_width(width, f"`{name}`")

    return check


def _check_wordwrap(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None,
                    *_: Any, **__: Any) -> None:
    _refuse_width(width, "`wordwrap`")
    if isinstance(s, str) and isinstance(wrapstring, str) and _is_int(width):
        breaks = len(s) // max(width, 1) + s.count("\n") + 1
        _refuse_size(len(s) + breaks * len(wrapstring), "`wordwrap`", MAX_RENDERED_CHARS)


def _check_fill(name: str) -> Callable[..., None]:
    def check(value: Any, count: Any = None, fill_with: Any = None, *_: Any, **__: Any) -> None:
        _refuse_width(count, f"`{name}`")

    return check


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_format_spec(value, (*args, *kwargs.values()), "`format`")


def _check_replace(s: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        hits = s.count(old) if old else len(s) + 1
        if _is_int(count) and count >= 0:
            hits = min(hits, count)
        _refuse_size(len(s) + hits * (len(new) - len(old)), "`replace`", MAX_RENDERED_CHARS)


def _check_printed(value: Any, *_: Any, **__: Any) -> None:
    _refuse_size(deep_size(value, MAX_RENDERED_CHARS), "printing a value", MAX_RENDERED_CHARS)


def _check_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    if attribute is None and _as_sized(start) is not None and isinstance(iterable, (list, tuple)):
        _refuse_size(sum(deep_size(x) for x in iterable) + deep_size(start), "`sum`", MAX_RENDERED_CHARS)


def _check_lipsum(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> None:
    if _is_int(n) and _is_int(max):
        _refuse_size(n * max, "`lipsum`")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "truncate": _check_width("truncate"),
    "format": _check_format,
    "batch": _check_fill("batch"),
    "slice": _check_fill("slice"),
    "replace": _check_replace,
    "sum": _check_sum,
    "tojson": _check_printed,
    "pprint": _check_printed,
    "string": _check_printed,
}

# str methods a template may call through the sandbox, and what bounds them
_STR_METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "ljust": _width_check("ljust"),
    "rjust": _width_check("rjust"),
    "zfill": _width_check("zfill"),
    "expandtabs": lambda s, tabsize=8: _refuse_size(max(tabsize, 0) * s.count("\t") + len(s), "`expandtabs`")
    if _is_int(tabsize) else None,
    "replace": _check_replace,
    "format": lambda s, *a, **k: _check_format_spec(s, (*a, *k.values()), "`format`"),
    "format_map": lambda s, m=None: _check_format_spec(s, (), "`format_map`"),
}


def _guard(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """Run ``check`` on a filter's own arguments (after any context Jinja passes first)."""
    passes_first = getattr(original, "jinja_pass_arg", None) is not None

    if passes_first:
        def guarded(first: Any, *args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return original(first, *args, **kwargs)
    else:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return original(*args, **kwargs)

    return functools.update_wrapper(guarded, original)


def _charging(original: Callable[..., Any]) -> Callable[..., Any]:
    """Any filter: charge its input (a filter walks or prints it) and its output's length."""
    passes_first = getattr(original, "jinja_pass_arg", None) is not None
    position = 1 if passes_first else 0

    def charging(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position:
            value = args[position]
            if _remaining() is not None and not hasattr(value, "__len__") and hasattr(value, "__next__"):
                args = (*args[:position], _charged_iterator(value), *args[position + 1:])  # `map`, `unique`...
            else:
                _charge_value(value)
        result = original(*args, **kwargs)
        if isinstance(result, (*_FLAT, list, tuple)):
            _charge(len(result))
        return result

    return functools.update_wrapper(charging, original)


def _guard_join(original: Callable[..., Any]) -> Callable[..., Any]:
    """``join`` may be handed a generator: materialise it once, then size it."""

    def guarded(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value) if not isinstance(value, (list, tuple, str)) else value
        if attribute is None:
            total = sum(deep_size(x, MAX_RENDERED_CHARS) for x in items) + len(str(d)) * max(len(items) - 1, 0)
            _refuse_size(total, "`join`", MAX_RENDERED_CHARS)
        return original(eval_ctx, items, d, attribute)

    return functools.update_wrapper(guarded, original)


# ------------------------------------------------------------------------------ environment


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a bounded join (Jinja's ``str_join`` cannot be intercepted)."""

    def visit_Concat(self, node: Any, frame: Any) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedTemplate(Template):
    """Gives every render a fresh work budget."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        outer = getattr(_budget, "remaining", None)
        _budget.remaining = MAX_WORK
        try:
            return super().render(*args, **kwargs)
        finally:
            _budget.remaining = outer


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` plus size and work bounds (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate

    def __init__(self, **options: Any) -> None:
        options.setdefault("undefined", StrictUndefined)
        options.setdefault("autoescape", False)
        super().__init__(finalize=_finalize, **options)
        for name, check in _FILTER_CHECKS.items():
            if name in self.filters:
                self.filters[name] = _guard(self.filters[name], check)
        self.filters["join"] = _guard_join(self.filters["join"])
        for name in list(self.filters):
            self.filters[name] = _charging(self.filters[name])
        if "lipsum" in self.globals:
            self.globals["lipsum"] = _guard(self.globals["lipsum"], _check_lipsum)
        self.globals["range"] = _budgeted_range(self.globals["range"])

    def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
        """Route every loop's iterable and every comparison's operands through ``charged``:
        neither goes through any hook Jinja offers, and a nested loop over a 99,999-character
        string is 10^10 steps."""
        tree = super()._parse(source, name, filename)
        for node in list(tree.find_all(nodes.For)):
            node.iter = _charged_node(node.iter)
        for node in list(tree.find_all(nodes.Getitem)):
            if isinstance(node.arg, nodes.Slice):  # compiled to plain Python slicing: `s[1:]` copies
                node.node = _charged_node(node.node)
        for node in list(tree.find_all(nodes.Compare)):
            node.expr = _charged_node(node.expr)
            for operand in node.ops:
                operand.expr = _charged_node(operand.expr)
        return tree

    def getitem(self, obj: Any, argument: Any) -> Any:
        result = super().getitem(obj, argument)
        if isinstance(argument, slice) and isinstance(result, (*_FLAT, list, tuple)):
            _charge(len(result))  # `s[1:]` copies
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (*_FLAT, list, tuple)):
            _charge(len(result))
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            check = _STR_METHOD_CHECKS.get(name)
            if check is not None:
                check(owner, *args, **kwargs)
            elif name == "join" and args:
                items = list(args[0])
                total = sum(deep_size(x, MAX_RENDERED_CHARS) for x in items) + len(owner) * max(len(items) - 1, 0)
                _refuse_size(total, "`join`", MAX_RENDERED_CHARS)
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, (*_FLAT, list, tuple)):
            _charge(len(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` reaches templates through this wrapper: check its widths first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        owner, check = value.__self__, _STR_METHOD_CHECKS[value.__name__]

        def checked(*args: Any, **kwargs: Any) -> str:
            check(owner, *args, **kwargs)
            return wrapped(*args, **kwargs)

        return checked

    @staticmethod
    def charged(value: Any) -> Any:
        return charged(value)

    @staticmethod
    def bounded_join(parts: Iterable[Any]) -> str:
        return _bounded_join(parts)

    @staticmethod
    def concat(parts: Iterable[str]) -> str:  # type: ignore[override]
        """Every render and every buffered block: stop as soon as the output is too long."""
        out = []
        total = 0
        for part in parts:
            total += len(part)
            if total > MAX_RENDERED_CHARS:
                raise TemplateLimitError(
                    f"the rendered text would exceed {MAX_RENDERED_CHARS:,} characters"
                )
            out.append(part)
        _charge(total)
        return "".join(out)


def _finalize(value: Any) -> Any:
    """``{{ value }}``: refuse printing a container whose text would be huge."""
    if isinstance(value, _CONTAINERS):
        _refuse_size(deep_size(value, MAX_RENDERED_CHARS), "printing a value", MAX_RENDERED_CHARS)
    return value


def _charged_node(expr: Any) -> Any:
    return nodes.Call(nodes.EnvironmentAttribute("charged", lineno=expr.lineno), [expr], [], None, None,
                      lineno=expr.lineno)


def _budgeted_range(original: Callable[..., Any]) -> Callable[..., Any]:
    def budgeted_range(*args: Any) -> Any:
        rng = original(*args)
        _charge(len(rng))
        return rng

    return functools.update_wrapper(budgeted_range, original)


def make_sandbox(*, keep_trailing_newline: bool) -> BoundedSandbox:
    return BoundedSandbox(keep_trailing_newline=keep_trailing_newline)
