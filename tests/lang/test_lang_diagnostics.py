"""Diagnostics render as Rich text (location, source line, caret, hint), JSON and GitHub."""

from __future__ import annotations

import io

from rich.console import Console

from silspec.lang.diagnostics import Diagnostic, did_you_mean, render_github, render_text, to_json
from silspec.spec.model import Span

SOURCE = 'silspec 1\nmodel m { temprature = 0.7 }\n'
DIAG = Diagnostic("SIL102", "error", "unknown key `temprature` in `model`", Span("a.sil", 2, 11, 2, 21),
                  "did you mean `temperature`?")


def rendered(diags, sources):
    buffer = io.StringIO()
    render_text(diags, sources, Console(file=buffer, width=200, color_system=None))
    return buffer.getvalue()


def test_text_has_location_source_caret_and_hint():
    lines = rendered([DIAG], {"a.sil": SOURCE}).splitlines()
    assert lines[0] == "a.sil:2:11: error[SIL102]: unknown key `temprature` in `model`"
    assert lines[1].endswith("| model m { temprature = 0.7 }")
    caret = lines[2]
    source_start = lines[1].index("model")
    assert caret.index("^") == source_start + 10 and caret.count("^") == 10
    assert "hint: did you mean `temperature`?" in lines[3]


def test_text_without_source_or_span_still_renders():
    out = rendered([Diagnostic("SIL008", "error", "no such file: x.sil", None, None)], {})
    assert out.strip() == "<spec>: error[SIL008]: no such file: x.sil"


def test_markup_in_messages_is_not_interpreted():
    out = rendered([Diagnostic("SIL001", "error", "unexpected `[bold]`", Span("a.sil", 1, 1, 1, 2))], {})
    assert "[bold]" in out


def test_json_and_github():
    (record,) = to_json([DIAG])
    assert record == {"code": "SIL102", "severity": "error", "message": DIAG.message, "hint": DIAG.hint,
                      "file": "a.sil", "line": 2, "col": 11, "end_line": 2, "end_col": 21}
    line = render_github([DIAG, Diagnostic("SIL403", "warning", "sums to 99 %\nx", Span("b,c.sil", 3, 4))])
    first, second = line.splitlines()
    assert first.startswith("::error file=a.sil,line=2,col=11,") and "title=SIL102::unknown key" in first
    assert second.startswith("::warning file=b%2Cc.sil,line=3,col=4") and "99 %25%0Ax" in second


def test_did_you_mean():
    assert did_you_mean("temprature", ["temperature", "top_p"]) == "did you mean `temperature`?"
    assert did_you_mean("zzz", ["temperature"]) is None
