"""SIL820's label search needs the prompt rendered; when it cannot render, the skip is said.

The templates rule usually reports why (SIL60x); when it has not, the options rule reports SIL604
itself, so "no SIL820" never means "not looked at" without a word.
"""

from __future__ import annotations

from silspec.check.context import Context
from silspec.check.rules.options import _unchecked
from silspec.lang.diagnostics import Diagnostic
from silspec.lang.parser import parse
from silspec.spec.model import Condition, Template


def _ctx() -> Context:
    document = parse('silspec 1\nstudy s { title = "t" }\n', "x.sil").ast
    return Context(path="/x.sil", root="/", env={}, document=document)


def _condition() -> Condition:
    return Condition(name="c", model="m", items=("sv.Q1",), parser="p", prompt=Template("t", "{{ x }}"))


def test_an_unrendered_prompt_is_sil604_when_nothing_said_why():
    ctx = _ctx()
    _unchecked(ctx, _condition(), None, ValueError("too many values to unpack"))
    (found,) = ctx.diagnostics
    assert found.code == "SIL604" and found.severity == "error"
    assert "cannot be checked" in found.message and "ValueError" in found.message


def test_no_second_report_when_the_templates_rule_already_gave_the_error():
    ctx = _ctx()
    ctx.diagnostics.append(Diagnostic("SIL602", "error", "template syntax error", None, None))
    _unchecked(ctx, _condition(), None, ValueError("x"))
    assert [d.code for d in ctx.diagnostics] == ["SIL602"]
