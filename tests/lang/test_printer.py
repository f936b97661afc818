"""The canonical printer (`silspec fmt`): meaning, comments and trees survive; printing twice
changes nothing; golden fixtures pin the layout rules of docs/language.md "Canonical form"."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silspec.lang import ast
from silspec.lang.parser import parse
from silspec.lang.printer import MAX_WIDTH, format_document, format_text
from silspec.plan.spec_hash import spec_hash
from silspec.spec.load import load_text
from silspec.spec.model import Span

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "fmt"
CORPUS = sorted(
    [*ROOT.glob("specs/*.sil"), *ROOT.glob("examples/*.sil"), *ROOT.glob("tests/fixtures/sil/valid/*.sil"),
     *GOLDEN.glob("*.in.sil")]
)
GOLDEN_NAMES = sorted(p.name[: -len(".in.sil")] for p in GOLDEN.glob("*.in.sil"))

# Fields that say where or how something was written, not what: ignored by `structure`.
_LAYOUT_FIELDS = frozenset({
    "span", "key_span", "kind_span", "name_span", "extends_span", "version_span", "name_spans",
    "leading", "trailing", "inner", "header_comments", "comments", "file",
})


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def structure(node):
    """A syntax tree as plain tuples, spans and comment placement left out."""
    if attrs.has(type(node)):
        return (type(node).__name__,) + tuple(
            (f.name, structure(getattr(node, f.name))) for f in attrs.fields(type(node)) if f.name not in _LAYOUT_FIELDS
        )
    if isinstance(node, (tuple, list)):
        return tuple(structure(x) for x in node)
    return node


def tree(text: str) -> ast.Document:
    result = parse(text, "t.sil")
    assert result.ok, result.diagnostics
    return result.ast


def fmt(text: str, file: str = "t.sil") -> str:
    result = format_text(text, file)
    assert result.ok, result.diagnostics
    return result.text


def comment_texts(text: str) -> Counter:
    return Counter(c.text for c in tree(text).comments)


def test_structure_helper_sees_values_but_not_layout():
    assert structure(tree("silspec 1\nx = [1, 2]\n")) == structure(tree("silspec 1   // c\n\n  x=[ 1 ,\n2, ]"))
    assert structure(tree("silspec 1\nx = [1, 2]\n")) != structure(tree("silspec 1\nx = [1, 3]\n"))
    assert structure(tree("silspec 1\nx = 0.50\n")) != structure(tree("silspec 1\nx = 0.5\n"))  # as written


# ------------------------------------------------------------------- corpus: shipped specs


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip_keeps_spec_hash_tree_and_comments(path):
    text = path.read_text(encoding="utf-8")
    formatted = fmt(text, str(path))
    before, after = load_text(text, str(path)), load_text(formatted, str(path))
    assert before.spec is not None, before.diagnostics
    assert after.spec is not None, after.diagnostics
    assert spec_hash(after.spec) == spec_hash(before.spec)
    assert structure(tree(formatted)) == structure(tree(text))
    assert comment_texts(formatted) == comment_texts(text)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_fmt_is_idempotent_on_corpus(path):
    once = fmt(path.read_text(encoding="utf-8"), str(path))
    assert fmt(once, str(path)) == once


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_pairs(name):
    expected = (GOLDEN / f"{name}.out.sil").read_text(encoding="utf-8")
    assert fmt((GOLDEN / f"{name}.in.sil").read_text(encoding="utf-8")) == expected
    assert fmt(expected) == expected


def test_identity_fixture_is_already_canonical():
    text = (GOLDEN / "identity.in.sil").read_text(encoding="utf-8")
    assert fmt(text) == text


def test_golden_fixtures_cover_the_rules():
    assert {"layout", "comments", "literals", "identity"} <= set(GOLDEN_NAMES)


# ------------------------------------------------------------------------------ layout rules


def test_header_blocks_indentation_and_one_entry_per_line():
    out = fmt("silspec 1 study s { title = \"t\"  seed = 1 } model m { backend = openai }")
    assert out == 'silspec 1\n\nstudy s {\n  title = "t"\n  seed = 1\n}\n\nmodel m {\n  backend = openai\n}\n'


def test_small_nested_block_stays_on_one_line_but_four_entries_do_not():
    out = fmt("silspec 1\nanalysis {\n bootstrap {resamples=10 level=0.9 seed=1}\n metric js {\n}\n}")
    assert "  bootstrap { resamples = 10  level = 0.9  seed = 1 }\n  metric js {}\n" in out
    out = fmt("silspec 1\nx { y { a = 1 b = 2 c = 3 d = 4 } }")
    assert "  y {\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n  }\n" in out


def test_blank_lines_group_one_line_declarations_of_one_kind():
    out = fmt('silspec 1\ntemplate a = "x"\ntemplate b = "y"\ngroup g = [a]\ngroup h = [b]\nstudy s {}\n')
    assert out == 'silspec 1\n\ntemplate a = "x"\ntemplate b = "y"\n\ngroup g = [a]\ngroup h = [b]\n\nstudy s {}\n'


def test_multi_line_nested_blocks_get_a_blank_line_but_assignments_do_not():
    out = fmt("silspec 1\nsurvey s { n = 1 source = \"x\" item A { a = 1 b = 2 c = 3 d = 4 } item B { a = 1 } }")
    assert out.startswith('silspec 1\n\nsurvey s {\n  n = 1\n  source = "x"\n\n  item A {\n')
    assert "  }\n\n  item B { a = 1 }\n}\n" in out


def test_long_list_breaks_one_element_per_line_with_trailing_commas():
    elements = [f'"element number {i}"' for i in range(8)]
    out = fmt(f"silspec 1\nx {{ values = [{', '.join(elements)}] }}")
    assert "  values = [\n" + "".join(f"    {e},\n" for e in elements) + "  ]\n" in out
    short = fmt("silspec 1\nx { values = [\n1,\n2,\n] }")
    assert "values = [1, 2]" in short


def test_long_map_and_call_break_like_lists():
    pairs = ", ".join(f'"key number {i}": {i}' for i in range(8))
    out = fmt(f"silspec 1\nx {{ shares = {{{pairs}}} }}")
    assert '  shares = {\n    "key number 0": 0,\n' in out and '    "key number 7": 7,\n  }\n' in out
    out = fmt('silspec 1\nx { rows = table("data/some/rather/long/path/to/a/table.csv", item = "CONFINAN", benchmark = "codebook") }')
    assert 'rows = table(\n    "data/some/rather/long/path/to/a/table.csv",\n    item = "CONFINAN",\n' in out


def test_call_with_a_long_last_map_hugs_it():
    inner = ", ".join(f'"group {i}": choices(["a", "b"])' for i in range(5))
    out = fmt(f"silspec 1\npersona p {{ job = by([age, sex], {{{inner}}}) }}")
    assert '  job = by([age, sex], {\n    "group 0": choices(["a", "b"]),\n' in out
    assert out.endswith('    "group 4": choices(["a", "b"]),\n  })\n}\n')


def test_width_counts_korean_characters_twice():
    korean = ", ".join(['"매우 신뢰한다고 말할 수 있다"'] * 4)  # 83 code points, 135 columns
    assert len(f"  v = [{korean}]") <= MAX_WIDTH
    assert "  v = [\n" in fmt(f"silspec 1\nx {{ v = [{korean}] }}")


def test_strings_are_re_escaped_canonically():
    out = fmt('silspec 1\nx = "a\\"b \\\\ \\u00e9 \\t tab \\u0001 \\n 한국어"\n')
    assert out == 'silspec 1\n\nx = "a\\"b \\\\ é \\t tab \\u0001 \\n 한국어"\n'


def test_numbers_are_printed_as_written():
    out = fmt("silspec 1\nx { a = 0.5s  b = 500ms  c = 2m  d = 17.3%  e = 1e-4  f = -8  g = 0.50  r = -1..10 }")
    for written in ("a = 0.5s", "b = 500ms", "c = 2m", "d = 17.3%", "e = 1e-4", "f = -8", "g = 0.50", "r = -1..10"):
        assert written in out


def test_long_strings_stay_multi_line_and_keep_their_value():
    text = 'silspec 1\nx {\n  t = """\n          first\n            indented \\""" quote\n\n          last"""\n}\n'
    out = fmt(text)
    assert out == 'silspec 1\n\nx {\n  t = """\n    first\n      indented \\""" quote\n\n    last"""\n}\n'
    assert tree(out).entries[0].entries[0].value.value == 'first\n  indented """ quote\n\nlast'


def test_long_string_without_representation_falls_back_to_escaped():
    span = Span("t.sil", 1, 1, 1, 2)
    doc = ast.Document("t.sil", 1, (ast.Assignment("t", ast.String("  margin\n  kept", span, long=True), span, span),),
                       span, version_span=span, version_text="1")
    out = format_document(doc)
    assert out == 'silspec 1\n\nt = "  margin\\n  kept"\n'


def test_analysis_statements_print_in_their_own_syntax():
    out = fmt("silspec 1\nanalysis {\ncompare   b vs a on js ,wasserstein without UNIFI , X by country\ncalibrate b   with t }")
    assert "  compare b vs a on js, wasserstein without UNIFI, X by country\n  calibrate b with t\n" in out


def test_block_headers_with_names_extends_and_integer_names():
    out = fmt("silspec 1\ncondition b extends a { model = m }\ndescriptors d { item 7 { 1 = \"x\" } }")
    assert "condition b extends a {\n  model = m\n}\n" in out and '  item 7 { 1 = "x" }\n' in out


def test_positional_arguments_print_before_keyword_arguments():
    assert "x = f(1, 2, a = 3)" in fmt("silspec 1\nx = f(1, a = 3, 2,)")


# ------------------------------------------------------------------------------------ comments


def test_comments_inside_values_stay_next_to_their_element():
    text = "silspec 1\nx = [\n  1,  // one\n  /* before two */\n  2\n  // dangling\n]\n"
    assert fmt(text) == "silspec 1\n\nx = [\n  1,  // one\n  /* before two */\n  2,\n  // dangling\n]\n"


def test_comments_without_a_place_in_a_value_move_above_the_entry():
    text = "silspec 1\nx {\n  r = 1 /* a */ .. 10\n  k = { \"a\" /* b */ : 1 }\n  compare p vs /* c */ q on js\n}\n"
    out = fmt(text)
    assert out == ('silspec 1\n\nx {\n  /* a */\n  r = 1..10\n  /* b */\n  k = { "a": 1 }\n  /* c */\n'
                   "  compare p vs q on js\n}\n")


def test_trailing_comment_continuation_stays_aligned():
    text = "silspec 1\nm {\n  a = 1     // starts here\n            // and goes on\n  b = 2\n}\n"
    out = fmt(text)
    assert out == "silspec 1\n\nm {\n  a = 1  // starts here\n         // and goes on\n  b = 2\n}\n"


def test_comment_on_the_block_header_line_stays_there():
    assert fmt("silspec 1\nx { // why\n a = 1 }\n") == "silspec 1\n\nx {  // why\n  a = 1\n}\n"


def test_paragraph_breaks_between_comments_are_kept_but_collapsed():
    out = fmt("silspec 1\n\n\n// one\n\n\n\n// two\n\n\nx = 1\n// end\n")
    assert out == "silspec 1\n\n// one\n\n// two\n\nx = 1\n// end\n"


def test_file_without_header_or_entries():
    assert fmt("") == ""
    assert fmt("// only a comment\n") == "// only a comment\n"
    assert fmt("x=1") == "x = 1\n"  # a missing header is the checker's business (SIL004), not fmt's


# ---------------------------------------------------------------------------------- bad input


def test_syntax_error_gives_diagnostics_and_no_text():
    result = format_text("silspec 1\nstudy s {\n  seed = = 1\n}\n", "bad.sil")
    assert result.text is None and not result.ok
    (d,) = result.diagnostics
    assert d.code == "SIL001" and (d.span.file, d.span.line, d.span.col) == ("bad.sil", 3, 10)


def test_unknown_escape_is_not_formatted_away():
    result = format_text('silspec 1\nx = "a\\qb"\n', "bad.sil")
    assert result.text is None and result.diagnostics[0].code == "SIL006"


# ---------------------------------------------------------------------- property: generated specs

_KEYWORDS = {"silspec", "compare", "calibrate", "vs", "on", "without", "by", "with", "extends", "true", "false", "none"}
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in _KEYWORDS)
comment_words = st.text(alphabet="abc XYZ 한국 -_.,:;=#()", max_size=12)
string_chars = st.text(alphabet='ab Z09 "\\\n\t{}한국어é/*', max_size=12)


@st.composite
def separators(draw) -> str:
    """Whitespace between two tokens, sometimes with a comment in it."""
    kind = draw(st.sampled_from(["space", "space", "space", "newline", "line", "block"]))
    if kind == "space":
        return draw(st.sampled_from([" ", "  ", " \t"]))
    if kind == "newline":
        return draw(st.sampled_from(["\n", "\n\n  ", "\n    "]))
    if kind == "line":
        return draw(st.sampled_from([" ", "  ", "\n"])) + "//" + draw(comment_words) + "\n" + draw(st.sampled_from(["", "  "]))
    return " /*" + draw(comment_words) + draw(st.sampled_from(["", "\n  more"])) + "*/ "


@st.composite
def short_strings(draw) -> str:
    out = ['"']
    for ch in draw(string_chars):
        escaped = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif draw(st.booleans()) and ch.isascii():
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


@st.composite
def long_strings(draw) -> str:
    lines = draw(st.lists(st.text(alphabet="ab Z09{}한국어.", max_size=10), min_size=1, max_size=4))
    margin = draw(st.sampled_from(["", "  ", "      "]))
    body = "\n".join(margin + line.strip() if line.strip() else "" for line in lines)
    closing = draw(st.sampled_from(["", "\n" + margin]))
    return '"""\n' + body + closing + '"""'


numbers = st.one_of(
    st.integers(-1000, 10**6).map(str),
    st.sampled_from(["0.7", "-0.25", "1e-4", "2E+3", "0.5s", "500ms", "2m", "1h", "17.3%", "0.50", "-3.0%"]),
)
refs = st.one_of(
    names, st.tuples(names, names).map(".".join), names.map(lambda n: n + ".*"),
)
scalars = st.one_of(
    short_strings(), long_strings(), numbers, refs, st.sampled_from(["true", "false", "none"]),
    st.tuples(st.integers(-5, 5), st.integers(0, 20)).map(lambda r: f"{r[0]}..{r[1]}"),
)


def _join(draw, parts: list[str], comma: bool = True) -> str:
    out = ""
    for i, part in enumerate(parts):
        if i:
            out += ("," if comma else "") + draw(separators())
        out += part
    if comma and parts and draw(st.booleans()):
        out += ","
    return out


@st.composite
def containers(draw, inner) -> str:
    kind = draw(st.sampled_from(["list", "map", "call", "concat"]))
    values = draw(st.lists(inner, max_size=4))
    sep = draw(separators())
    if kind == "list":
        return "[" + sep + _join(draw, values) + draw(separators()) + "]"
    if kind == "map":
        keys = draw(st.lists(st.one_of(short_strings(), numbers, names), min_size=len(values), max_size=len(values)))
        pairs = [f"{k}{draw(separators())}:{draw(separators())}{v}" for k, v in zip(keys, values)]
        return "{" + sep + _join(draw, pairs) + draw(separators()) + "}"
    if kind == "call":
        args = [v if not draw(st.booleans()) else f"{draw(names)} = {v}" for v in values]
        return draw(names) + "(" + sep + _join(draw, args) + ")"
    atoms = draw(st.lists(st.one_of(scalars, inner.filter(lambda v: not _is_concat(v))), min_size=2, max_size=3))
    return (draw(separators()) + "+" + draw(separators())).join(atoms)


def _is_concat(text: str) -> bool:
    """Whether a generated value is a bare `a + b` (which cannot be an operand of `+` itself)."""
    depth, i = 0, 0
    while i < len(text):
        if text.startswith('"""', i):
            i = text.index('"""', i + 3) + 3
            continue
        if text[i] == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif text.startswith("//", i):
            i = text.index("\n", i)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 1
        elif text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
        elif text[i] == "+" and depth == 0:
            return True
        i += 1
    return False


values = st.recursive(scalars, lambda inner: containers(inner), max_leaves=8)


@st.composite
def entries(draw, depth: int) -> str:
    kinds = ["assignment", "assignment", "named", "compare", "calibrate"] + (["block", "block"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    s = lambda: draw(separators())  # noqa: E731
    if kind == "assignment":
        key = draw(st.one_of(names, st.integers(-9, 99).map(str)))
        return f"{key}{s()}={s()}{draw(values)}"
    if kind == "named":
        return f"{draw(names)}{s()}{draw(names)}{s()}={s()}{draw(values)}"
    if kind == "compare":
        metrics = ("," + s()).join(draw(st.lists(names, min_size=1, max_size=3)))
        text = f"compare{s()}{draw(names)}{s()}vs{s()}{draw(names)}{s()}on{s()}{metrics}"
        if draw(st.booleans()):
            text += f"{s()}without{s()}" + ("," + s()).join(draw(st.lists(names, min_size=1, max_size=2)))
        if draw(st.booleans()):
            text += f"{s()}by{s()}{draw(names)}"
        return text
    if kind == "calibrate":
        return f"calibrate{s()}{draw(names)}{s()}with{s()}{draw(names)}"
    head = draw(names)
    name = draw(st.one_of(st.none(), names, st.integers(-3, 30).map(str)))
    if name is not None:
        head += s() + name
        if draw(st.booleans()):
            head += f"{s()}extends{s()}{draw(names)}"
    body = [draw(entries(depth + 1)) for _ in range(draw(st.integers(0, 4)))]
    return head + s() + "{" + s() + "".join(b + s() for b in body) + "}"


@st.composite
def documents(draw) -> str:
    text = ""
    if draw(st.booleans()):
        text += "// " + draw(comment_words) + "\n"
    if draw(st.integers(0, 4)):
        text += "silspec" + draw(separators()) + "1" + draw(separators())
    for _ in range(draw(st.integers(0, 5))):
        text += draw(entries(0)) + draw(separators())
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_property_fmt_keeps_tree_and_comments_and_is_idempotent(text):
    original = parse(text, "t.sil")
    assert original.ok, (text, original.diagnostics)
    once = fmt(text)
    reparsed = parse(once, "t.sil")
    assert reparsed.ok, (once, reparsed.diagnostics)
    assert structure(reparsed.ast) == structure(original.ast)
    assert Counter(c.text for c in reparsed.ast.comments) == Counter(c.text for c in original.ast.comments)
    assert fmt(once) == once


def test_crlf_line_endings_become_lf_and_comments_lose_the_carriage_return():
    out = fmt("silspec 1\r\nx = 1  // note\r\ny = 2\r\n")
    assert out == "silspec 1\n\nx = 1  // note\ny = 2\n"


def test_continuation_after_wide_characters_is_aligned_in_characters_and_stable():
    text = 'silspec 1\nx = "한국"     // a\n' + " " * 13 + '// b\ny = 1\n'
    out = fmt(text)
    assert out == 'silspec 1\n\nx = "한국"  // a\n          // b\ny = 1\n'
    assert fmt(out) == out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, short_strings(), st.integers(1, 6), st.integers(0, 2)), min_size=1, max_size=4))
def test_property_trailing_comment_continuations_stay_attached(rows):
    lines = ["silspec 1", "b {"]
    for key, value, gap, extra in rows:
        line = f"  {key} = {value}"
        lines.append(line + " " * gap + "// t")
        lines += [" " * (len(line) + gap) + f"// c{i}" for i in range(extra)]
    lines.append("}")
    text = "\n".join(lines) + "\n"
    once = fmt(text)
    assert fmt(once) == once
    assert comment_texts(once) == comment_texts(text)
    out_lines = once.splitlines()
    for i, line in enumerate(out_lines):
        if line.lstrip().startswith("// c"):  # a continuation follows its trailing comment directly
            above = out_lines[i - 1]
            assert above.rstrip().endswith(("// t", "// c0")), once
            assert line.index("//") == above.index("// t" if above.endswith("// t") else "// c0")
