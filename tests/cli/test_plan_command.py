"""`silspec plan` against a stand-in loader (the real ``silspec.spec.load`` may not exist yet)."""

import json
import sys
import types

import pytest
from tests.plan.conftest import make_spec

from silspec.cli.main import main
from silspec.lang.diagnostics import error, warning
from silspec.plan import compile_plan
from silspec.plan.serialize import read_plan_json
from silspec.spec.model import Span, Template, evolve


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "kgss.sil"
    path.write_text("silspec 1\nstudy kgss_test {\n  seed = 42\n}\n", encoding="utf-8")
    return path


def _install_loader(monkeypatch, spec=None, diagnostics=(), ok=True):
    calls = []

    def load_spec(path, overrides=(), env=None):
        calls.append((path, tuple(overrides)))
        the_spec = (spec or make_spec())
        if overrides:
            pairs = tuple(tuple(o.split("=", 1)) for o in overrides)
            the_spec = evolve(the_spec, overrides=pairs)
        source = {"kgss.sil": "silspec 1\nstudy kgss_test {\n  seed = 42\n}\n"}
        return types.SimpleNamespace(
            spec=the_spec if ok else None, diagnostics=list(diagnostics), ok=ok,
            sources=lambda: source,
        )

    module = types.ModuleType("silspec.spec.load")
    module.load_spec = load_spec
    monkeypatch.setitem(sys.modules, "silspec.spec.load", module)
    return calls


def test_text_summary_shows_counts_and_an_example_prompt(monkeypatch, capsys, spec_file):
    _install_loader(monkeypatch)
    assert main(["plan", str(spec_file)]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "indigenous" in out and "by_country" in out
    assert "53" in out  # total requests
    assert "금융기관을 얼마나 신뢰하십니까?" in out  # the rendered example prompt
    assert compile_plan(make_spec()).plan_hash in out


def test_json_output_parses_and_round_trips(monkeypatch, capsys, spec_file):
    _install_loader(monkeypatch)
    assert main(["plan", str(spec_file), "--format", "json"]) == 0
    text = capsys.readouterr().out
    data = json.loads(text)
    assert len(data["requests"]) == 53
    import io

    assert read_plan_json(io.StringIO(text)) == compile_plan(make_spec())


def test_out_file_condition_and_limit(monkeypatch, capsys, spec_file, tmp_path):
    _install_loader(monkeypatch)
    out = tmp_path / "plan.json"
    code = main(["plan", str(spec_file), "--condition", "indigenous", "--limit", "3",
                 "--out", str(out)])
    assert code == 0
    assert "plan written to" in capsys.readouterr().out
    plan = read_plan_json(out.open(encoding="utf-8"))
    assert [r.condition for r in plan.requests] == ["indigenous"] * 3
    assert list(plan.header.conditions) == ["indigenous"]


def test_overrides_reach_the_loader_and_the_plan(monkeypatch, capsys, spec_file):
    calls = _install_loader(monkeypatch)
    assert main(["plan", str(spec_file), "--set", "model.gpt52.temperature=1.0", "--format", "json"]) == 0
    assert calls[0][1] == ("model.gpt52.temperature=1.0",)
    assert json.loads(capsys.readouterr().out)["header"]["overrides"] == [["model.gpt52.temperature", "1.0"]]


def test_lint_errors_print_diagnostics_and_exit_1(monkeypatch, capsys, spec_file):
    bad = error("SIL101", "unknown key `temprature`", Span("kgss.sil", 3, 3, 3, 7),
                hint="did you mean `temperature`?")
    _install_loader(monkeypatch, diagnostics=[bad], ok=False)
    assert main(["plan", str(spec_file)]) == 1
    err = capsys.readouterr().err
    assert "kgss.sil:3:3" in err and "SIL101" in err and "temperature" in err


def test_warnings_do_not_stop_planning(monkeypatch, capsys, spec_file):
    _install_loader(monkeypatch, diagnostics=[warning("SIL406", "labels differ")])
    assert main(["plan", str(spec_file), "--limit", "1"]) == 0
    assert "1 lint warning(s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--condition", "nope"], "unknown condition 'nope'"),
        (["--set", "no_equals_sign"], "KEY=VALUE"),
        (["--limit", "-1"], "zero or more"),
    ],
)
def test_usage_errors_exit_2_without_traceback(monkeypatch, capsys, spec_file, argv, message):
    _install_loader(monkeypatch)
    assert main(["plan", str(spec_file), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_file_is_a_usage_error(monkeypatch, capsys, tmp_path):
    _install_loader(monkeypatch)
    assert main(["plan", str(tmp_path / "absent.sil")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_plan_error_is_printed_without_traceback(monkeypatch, capsys, spec_file):
    spec = make_spec()
    bad = evolve(spec.conditions["baseline"], prompt=Template("evil", "{{ ''.__class__.__mro__ }}"))
    _install_loader(monkeypatch, spec=evolve(spec, conditions={**spec.conditions, "baseline": bad}))
    assert main(["plan", str(spec_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: prompt of condition 'baseline', item 'kgss.CONFINAN'") and "Traceback" not in err
    assert "template 'evil' tried something the sandbox forbids" in err


def test_memory_error_is_one_line_not_a_traceback(monkeypatch, capsys, spec_file):
    _install_loader(monkeypatch)
    from silspec.plan import compile as compile_module

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(compile_module, "iter_requests", exhausted)
    assert main(["plan", str(spec_file)]) == 1
    err = capsys.readouterr().err
    assert "out of memory" in err and "Traceback" not in err


def test_oversized_population_is_a_plan_error(monkeypatch, capsys, spec_file):
    spec = make_spec()
    name = spec.conditions["baseline"].population
    spec = evolve(spec, populations={**spec.populations, name: evolve(spec.populations[name], size=10**29)})
    _install_loader(monkeypatch, spec=spec)
    assert main(["plan", str(spec_file)]) == 1
    err = capsys.readouterr().err
    assert "personas" in err and "Traceback" not in err


def test_real_spec_with_huge_size_fails_lint_not_plan(capsys, tmp_path):
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "fixtures" / "sil" / "valid" / "kgss_like.sil"
    assert main(["plan", str(source), "--set", "population.sample.size=99999999999999999999999999999"]) == 1
    err = capsys.readouterr().err
    assert "SIL203" in err and "Traceback" not in err
