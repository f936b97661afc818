"""Hostile and broken inputs reach the user as findings, bounded in time and memory.

Each test here failed on the main branch before the front-end hardening: a FIFO blocked lint
forever, ``--set`` skipped the parser's checks, a bare number was silently seconds, a ragged
CSV was an internal error, a template that lint passed failed at ``plan`` with no location,
``lint | head -1`` printed a traceback, and Rich wrapped messages into pipes.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from silspec.templating import sandbox
from silspec.cli.common import make_console
from silspec.cli.main import main
from silspec.lang.parser import MAX_SPEC_CHARS, MAX_STRING_CHARS
from silspec.spec.load import load_spec, load_text
from silspec.spec.overrides import OVERRIDE_FILE

from .golden import ENV, FIXTURES

ROOT = FIXTURES.parent.parent.parent
BASE = """silspec 1
study s { title = "t"  seed = 1 }
scale s3 { 1 = "a"  2 = "b"  3 = "c" }
survey sv { item Q1 { text = "q?"  scale = s3  benchmark = [20, 50, 30] } }
persona p { gender = { "m": 0.5, "f": 0.5 } }
population pop { persona = p  size = 10  sampling = stratified }
template tp = "{{ persona.gender }}: {{ item.text }}"
parser fi { extract = first_integer  valid = scale  on_invalid = drop }
model m { backend = openai  name = "gpt-x"  api_key = env("OPENAI_API_KEY") }
condition a { model = m  population = pop  items = sv.*  prompt = tp  parser = fi }
analysis { metric js {} }
"""


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "silspec.toml").write_text("", encoding="utf-8")
    return tmp_path


def _codes(result) -> list[tuple[str, str]]:
    return sorted((d.code, f"{d.span.file}:{d.span.line}:{d.span.col}" if d.span else "-") for d in result.diagnostics)


def _decided_within(seconds: float, call):
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it blocks."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked: the input was read although it is not a regular file"
    return box["value"]


# ------------------------------------------------------------------------ only regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_template_and_table_are_findings_not_a_hang(tree: Path):
    os.mkfifo(tree / "prompt.j2")
    os.mkfifo(tree / "bench.csv")
    text = BASE.replace('template tp = "{{ persona.gender }}: {{ item.text }}"', 'template tp = file("prompt.j2")')
    text = text.replace("benchmark = [20, 50, 30]", 'benchmark = table("bench.csv", item = "Q1")')
    spec = tree / "s.sil"
    spec.write_text(text, encoding="utf-8")
    result = _decided_within(30, lambda: load_spec(str(spec), env=ENV))
    messages = [d.message for d in result.diagnostics if d.code == "SIL704"]
    assert any("prompt.j2" in m and "named pipe (FIFO)" in m for m in messages), messages
    assert any("bench.csv" in m and "named pipe (FIFO)" in m for m in messages), messages


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_spec_is_sil008_for_lint_and_a_message_for_fmt(tree: Path, capsys):
    os.mkfifo(tree / "s.sil")
    assert _decided_within(30, lambda: main(["lint", str(tree / "s.sil")])) == 1
    assert "error[SIL008]" in capsys.readouterr().out
    assert _decided_within(30, lambda: main(["fmt", "--check", str(tree / "s.sil")])) == 1
    assert "not a regular file" in capsys.readouterr().err


def test_device_as_a_table_is_refused_before_reading(tree: Path):
    """A link to a device resolves outside the tree (SIL702); either way it is never read."""
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (tree / "zero.csv").symlink_to("/dev/zero")
    spec = tree / "s.sil"
    spec.write_text(BASE.replace("benchmark = [20, 50, 30]", 'benchmark = table("zero.csv", item = "Q1")'), encoding="utf-8")
    result = _decided_within(30, lambda: load_spec(str(spec), env=ENV))
    assert any(d.code in ("SIL702", "SIL704") and "zero.csv" in d.message for d in result.diagnostics)


# ----------------------------------------------------------------------------- size limits


def test_a_ten_megabyte_string_is_refused_before_parsing(tree: Path, capsys):
    spec = tree / "big.sil"
    spec.write_text(BASE.replace('text = "q?"', 'text = "' + "x" * 10_000_000 + '"'), encoding="utf-8")
    assert main(["fmt", "--check", str(spec)]) == 1
    assert main(["lint", str(spec)]) == 1
    out = capsys.readouterr().out
    assert "error[SIL008]" in out and f"{MAX_SPEC_CHARS:,} characters" in out


def test_a_string_literal_over_the_limit_is_sil203_at_the_string(tree: Path):
    text = BASE.replace('text = "q?"', 'text = "' + "x" * (MAX_STRING_CHARS + 1) + '"')
    result = load_text(text, str(tree / "s.sil"), env=ENV)
    found = [d for d in result.diagnostics if d.code == "SIL203"]
    assert found and found[0].span.line == 4 and "characters" in found[0].message
    long = BASE.replace('text = "q?"', 'text = """' + "y" * (MAX_STRING_CHARS + 1) + '"""')
    assert any(d.code == "SIL203" for d in load_text(long, str(tree / "s.sil"), env=ENV).diagnostics)


def test_too_many_items_is_sil203(tree: Path, monkeypatch):
    from silspec.check.rules import limits

    monkeypatch.setattr(limits, "MAX_ITEMS_PER_SPEC", 1)
    text = BASE.replace('benchmark = [20, 50, 30] }', 'benchmark = [20, 50, 30] }  item Q2 { text = "r?"  scale = s3  benchmark = [20, 50, 30] }')
    result = load_text(text, str(tree / "s.sil"), env=ENV)
    assert any(d.code == "SIL203" and "2 items (limit 1)" in d.message for d in result.diagnostics)


def test_table_rows_are_bounded(tree: Path, monkeypatch):
    from silspec.check import tables

    monkeypatch.setattr(tables, "MAX_TABLE_ROWS", 2)
    (tree / "b.csv").write_text("item,code,value\nQ1,1,20\nQ1,2,50\nQ1,3,30\n", encoding="utf-8")
    text = BASE.replace("benchmark = [20, 50, 30]", 'benchmark = table("b.csv", item = "Q1")')
    result = load_text(text, str(tree / "s.sil"), env=ENV)
    assert any(d.code == "SIL704" and "over 2 rows" in d.message for d in result.diagnostics)


# ------------------------------------------------------------------------------ --set values


@pytest.mark.parametrize(
    ("override", "code", "col"),
    [
        ("study.s.seed=" + "9" * 5000, "SIL203", 14),
        ('survey.sv.item.Q1.text="a\\qb"', "SIL006", 24),
        ("model.m.timeout=0s", "SIL203", 17),
        ('model.m.api_key=env("PATH")', "SIL801", 17),
        ("model.m.delay=500", "SIL204", 15),
    ],
)
def test_set_values_get_the_checks_of_a_spec(tree: Path, override: str, code: str, col: int):
    spec = tree / "s.sil"
    spec.write_text(BASE, encoding="utf-8")
    result = load_spec(str(spec), [override], env=ENV)
    assert not result.ok
    assert (code, f"{OVERRIDE_FILE}:1:{col}") in _codes(result)


def test_durations_with_units_still_pass(tree: Path):
    spec = tree / "s.sil"
    spec.write_text(BASE, encoding="utf-8")
    result = load_spec(str(spec), ["model.m.delay=500ms", "model.m.timeout=30s"], env=ENV)
    assert result.ok
    model = result.spec.models["m"]
    assert (model.delay_s, model.timeout_s) == (0.5, 30.0)


# ------------------------------------------------------------------- lint renders what plan renders


def test_lint_renders_with_the_plans_item_context(tree: Path, capsys):
    spec = tree / "s.sil"
    spec.write_text(BASE.replace(
        'template tp = "{{ persona.gender }}: {{ item.text }}"',
        'template tp = "{{ item.text }} {% for c, l in item.options %}{{ c }}={{ l }} {% endfor %}"'), encoding="utf-8")
    assert main(["lint", str(spec)]) == 1
    out = capsys.readouterr().out
    assert "s.sil:7:10: error[SIL604]" in out and "item `sv.Q1`" in out and "not enough values to unpack" in out


def test_plan_errors_carry_file_line_condition_and_item(tree: Path, capsys):
    spec = tree / "s.sil"
    spec.write_text(BASE.replace(
        'template tp = "{{ persona.gender }}: {{ item.text }}"',
        'template tp = "{{ item.text }} {% for c, l in item.options %}{{ c }}={{ l }} {% endfor %}"'), encoding="utf-8")
    assert main(["plan", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:7:10: prompt of condition 'a', item 'sv.Q1', persona 'P001'" in err.replace("\n", "")


def test_shipped_specs_pass_the_plan_render_pass():
    from silspec.plan.render_check import render_diagnostics

    for name in ("kgss_paper_replay", "kgss_indigenous", "wvs_value_personas"):
        result = load_spec(str(ROOT / "specs" / f"{name}.sil"), env=ENV)
        assert result.spec is not None, name
        assert render_diagnostics(result.spec) == [], name


# ------------------------------------------------------------------------ template work budget


@pytest.mark.parametrize(
    "source",
    [
        "{% set s = 'x' * 99999 %}{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}",
        "{% set a = ['x' * 1000] %}" + "{% set a = [a, a] %}" * 20 + "{{ (a|upper)|length }}",
        "{% set a = ['x' * 1000] %}" + "{% set a = [a, a] %}" * 20 + "{{ (a|title)|length }}",
        "{% set a = ['x' * 1000] %}" + "{% set a = [a, a] %}" * 20 + "{{ (a|striptags)|length }}",
        "{% set a = ['x' * 1000] %}" + "{% set a = [a, a] %}" * 20 + "{{ (a|e)|length }}",
        "{% set s = [1] * 40000 %}{% for x in s %}{% if 2 in s %}{% endif %}{% endfor %}",
        "{% set s = 'x' * 99999 %}{% for c in s %}{% set t = s[1:] %}{% endfor %}",
        "{% set s = 'x' * 99999 %}{% for c in s %}{{ s|unique|list|length }}{% endfor %}",
    ],
)
def test_work_budget_covers_loops_filters_and_comparisons(source: str):
    env = sandbox.make_sandbox(keep_trailing_newline=False)
    outcome = _decided_within(30, lambda: _render_or_error(env, source))
    assert isinstance(outcome, sandbox.TemplateLimitError) and "too much work" in str(outcome)


def _render_or_error(env, source):
    try:
        return env.from_string(source).render()
    except sandbox.TemplateLimitError as exc:
        return exc


def test_ordinary_templates_still_render():
    env = sandbox.make_sandbox(keep_trailing_newline=False)
    out = env.from_string(
        "{% for o in options %}{{ o|upper }}{% if o in ['a', 'b'] %}!{% endif %}{% endfor %} {{ text[:3]|title }}"
    ).render(options=["a", "b", "c"], text="hello")
    assert out == "A!B!C Hel"


# ----------------------------------------------------------------------- pipes and consoles


def test_lint_json_into_a_closed_pipe_prints_no_traceback():
    files = [str(p) for p in sorted((FIXTURES / "invalid").glob("*.sil"))] * 3
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "silspec.cli.main", "lint", "--format", "json", *files],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code in (0, 1)


def test_console_into_a_pipe_never_wraps_a_message():
    buffer = io.StringIO()
    console = make_console(file=buffer)
    message = "silspec run: " + "/tmp/" + "x" * 150 + "/spec.sil has errors; fix them and run again"
    console.print(message, markup=False)
    assert buffer.getvalue() == message + "\n"


def test_a_hint_names_a_few_candidates_not_the_whole_survey(tree: Path):
    """2,000 typos each listing 2,000 item names printed 24 MB; a hint names 12 (+N more)."""
    items = "  ".join(f'item Q{i} {{ text = "q{i}?"  scale = s3  benchmark = [20, 50, 30] }}' for i in range(50))
    text = BASE.replace('item Q1 { text = "q?"  scale = s3  benchmark = [20, 50, 30] }', items)
    text = text.replace("items = sv.*", "items = [sv.ZZZZZZZZ]")
    result = load_text(text, str(tree / "s.sil"), env=ENV)
    hints = [d.hint for d in result.diagnostics if d.code == "SIL301"]
    assert hints and "(+38 more)" in hints[0] and len(hints[0]) < 200, hints
