"""A run whose hf model folder lives inside the project: the bundle stands the folder in, and
`silspec report RUN_DIR` still works from the run directory alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from silspec.cli.main import main
from silspec.run.runner import BUNDLE_DIR, NOT_BUNDLED_NOTE
from tests.helpers.tiny_model import build_tiny_model

SPEC = """silspec 1

study folder_model { seed = 1 }

scale two { 1 = "Yes"  2 = "No" }

survey s {
  item Q1 {
    text = "Trust?"
    scale = two
    benchmark = [60, 40]
  }
}

template ask = "{{ country }}: {{ item.text }} {{ item.scale_labels }} Answer:"

parser first { extract = first_integer }

model tiny {
  backend = hf
  name = "tiny-gpt2"
  path = file("models/tiny")
  dtype = "float32"
}

condition probs {
  model = tiny
  countries = ["AAA", "BBB"]
  items = s.*
  prompt = ask
  parser = first
  answers = option_probs
}
"""


def test_model_folder_is_not_copied_and_the_report_still_loads(tmp_path: Path, capsys) -> None:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "silspec.toml").write_text("# root\n", encoding="utf-8")
    build_tiny_model(project / "models" / "tiny")
    spec = project / "specs" / "folder_model.sil"
    spec.write_text(SPEC, encoding="utf-8")
    run_dir = tmp_path / "run"

    assert main(["run", str(spec), "--out", str(run_dir), "--no-report", "--quiet"]) == 0
    stand_in = run_dir / BUNDLE_DIR / "models" / "tiny"
    assert (stand_in / NOT_BUNDLED_NOTE).is_file()
    assert not any(p.suffix == ".safetensors" for p in stand_in.iterdir())
    assert str(project / "models" / "tiny") in (stand_in / NOT_BUNDLED_NOTE).read_text(encoding="utf-8")

    shutil.rmtree(project)  # the report needs nothing but the run directory
    capsys.readouterr()
    assert main(["report", str(run_dir), "--format", "json"]) == 0
    assert '"probs"' in capsys.readouterr().out
