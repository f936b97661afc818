"""A small fine-tuning project in a temporary folder: silspec.toml, a tiny random GPT-2 and a
spec with a ``finetune`` block, a base model and an adapter model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.helpers.tiny_model import build_tiny_model  # noqa: E402

SPEC = '''silspec 1

study tiny_ft { seed = 3  countries = { "AAA": "Aland", "BBB": "Borduria", "CCC": "Carpania" } }

scale four { 1 = "Very"  2 = "Rather"  3 = "Not very"  4 = "Not at all" }
scale two { 1 = "Yes"  2 = "No" }
scale ten { range = 1..10  low = "Never"  high = "Always" }

survey s {
  item Q1 {
    text = "Family?"  scale = four
    benchmark a { country = "AAA"  values = [0.7, 0.2, 0.05, 0.05] }
    benchmark b { country = "BBB"  values = [0.1, 0.2, 0.3, 0.4] }
    benchmark c { country = "CCC"  values = [0.25, 0.25, 0.25, 0.25] }
  }
  item Q2 {
    text = "Trust?"  scale = two
    benchmark a { country = "AAA"  values = [0.9, 0.1] }
    benchmark b { country = "BBB"  values = [0.2, 0.8] }
  }
  item Q3 {
    text = "Cheat?"  scale = ten
    benchmark a { country = "AAA"  values = [50, 10, 10, 5, 5, 5, 5, 4, 3, 3] }
    benchmark b { country = "BBB"  values = [10, 10, 10, 10, 10, 10, 10, 10, 10, 10] }
    benchmark c { country = "CCC"  values = [5, 5, 5, 5, 5, 5, 10, 10, 20, 30] }
  }
}

group C1 = ["AAA", "BBB", "CCC"]
group QA = [s.Q1, s.Q2, s.Q3]

template ask = "{{ country_name }}: {{ item.text }} {% for label in item.labels %}({{ item.options[loop.index0] }}){{ label }} {% endfor %}Answer: ("

parser letter { extract = regex("([A-J])") }

model tiny { backend = hf  name = "tiny-gpt2"  path = env("SILSPEC_TEST_TINY_MODEL")  dtype = "float32"  batch_size = 4 }
model tiny_ft { backend = hf  name = "tiny-gpt2"  path = env("SILSPEC_TEST_TINY_MODEL")  dtype = "float32"  batch_size = 4  adapter = finetune.align }

finetune align {
  base = tiny
  prompt = ask
  option_labels = letters
  train { countries = group(C1)  items = group(QA) }
  valid { countries = group(C1)  items = group(QA) }
  test { countries = ["CCC"]  items = [s.Q1] }
  loss = LOSS
  lora { rank = 4  alpha = 16  dropout = 0.0 }
  optimiser adamw { lr = 0.02 }
  batch = 4
  epochs = 3
  seed = 11
}

condition zs {
  model = tiny  countries = group(C1)  items = group(QA)  prompt = ask  parser = letter
  answers = option_probs  option_labels = letters
}
condition ft extends zs { model = tiny_ft }

analysis {
  metric js { log = e }
  compare ft vs zs on js by country
}
'''


def write_project(folder: Path, *, loss: str = "kl", spec_text: str | None = None) -> Path:
    """The project folder with the tiny model under ``tiny/``; returns the spec path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "silspec.toml").write_text("", encoding="utf-8")
    if not (folder / "tiny").exists():
        build_tiny_model(folder / "tiny")
    os.environ["SILSPEC_TEST_TINY_MODEL"] = str(folder / "tiny")  # external: never bundled into runs
    spec = folder / "spec.sil"
    spec.write_text((spec_text or SPEC).replace("LOSS", loss), encoding="utf-8")
    return spec


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("ft-project"))


def load(path: Path, overrides: tuple[str, ...] = ()):
    from silspec.spec.load import load_spec

    result = load_spec(str(path), overrides)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert result.spec is not None, errors
    return result.spec
