"""`adapter = finetune.NAME` in the checker and the plan: lint errors, config hash, model ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from silspec.spec.finetune import config_hash
from tests.finetune.conftest import SPEC, load, write_project


def diagnostics(folder: Path, spec_text: str, overrides: tuple[str, ...] = ()):
    from silspec.spec.load import load_spec

    path = write_project(folder, spec_text=spec_text)
    result = load_spec(str(path), overrides)
    return result, [d for d in result.diagnostics if d.severity == "error"]


def with_ft_model(line: str) -> str:
    old = 'model tiny_ft { backend = hf  name = "tiny-gpt2"  path = env("SILSPEC_TEST_TINY_MODEL")  dtype = "float32"  batch_size = 4  adapter = finetune.align }'
    assert old in SPEC
    return SPEC.replace(old, line)


def test_adapter_on_a_non_hf_backend_is_an_error(tmp_path):
    text = with_ft_model('model tiny_ft { backend = openai  name = "gpt-x"  adapter = finetune.align }')
    result, errors = diagnostics(tmp_path, text)
    assert [e.code for e in errors] == ["SIL810"]
    assert "needs `backend = hf`" in errors[0].message
    assert (errors[0].span.line, errors[0].span.col) == _position(text, "finetune.align }")


def test_unknown_finetune_name_suggests_the_right_one(tmp_path):
    text = with_ft_model('model tiny_ft { backend = hf  name = "tiny-gpt2"  path = env("SILSPEC_TEST_TINY_MODEL")  adapter = finetune.algn }')
    result, errors = diagnostics(tmp_path, text)
    assert [e.code for e in errors] == ["SIL301"]
    assert "undefined finetune `algn`" in errors[0].message and "align" in errors[0].hint


def test_adapter_must_name_a_finetune(tmp_path):
    text = with_ft_model('model tiny_ft { backend = hf  name = "tiny-gpt2"  path = env("SILSPEC_TEST_TINY_MODEL")  adapter = tiny }')
    _, errors = diagnostics(tmp_path, text)
    assert [e.code for e in errors] == ["SIL201"]


def test_adapter_dir_must_stay_inside_the_spec_tree(tmp_path):
    text = with_ft_model('model tiny_ft { backend = hf  name = "tiny-gpt2"  path = env("SILSPEC_TEST_TINY_MODEL")  '
                         'adapter = finetune.align  adapter_dir = "../../elsewhere" }')
    _, errors = diagnostics(tmp_path, text)
    assert [e.code for e in errors] == ["SIL702"]


def test_a_finetune_cannot_start_from_an_adapter_model(tmp_path):
    text = SPEC.replace("base = tiny\n", "base = tiny_ft\n")
    _, errors = diagnostics(tmp_path, text)
    assert "SIL811" in [e.code for e in errors]


def test_model_options_carry_the_config_hash(tiny_project):
    spec = load(tiny_project)
    adapter = spec.models["tiny_ft"].options["adapter"]
    ft = spec.finetunes["align"]
    assert adapter == {"finetune": "align", "config_hash": config_hash(ft, spec.models["tiny"], spec.study.seed)}
    assert ft.seed == 11 and ft.option_labels == "letters"
    assert "adapter" not in spec.models["tiny"].options


def test_plan_model_id_and_adapter_folder(tiny_project):
    from silspec.plan.compile import compile_plan

    spec = load(tiny_project)
    header = compile_plan(spec).header
    model = header.models["tiny_ft"]
    adapter = spec.models["tiny_ft"].options["adapter"]
    assert model.model_id == f"tiny-gpt2+lora:align:{adapter['config_hash'][:12]}"
    assert model.options["adapter"]["dir"] == str(tiny_project.parent / "runs" / "tiny_ft" / "finetune" / "align" / "adapter")
    assert header.models["tiny"].model_id == "tiny-gpt2"


def _ids(spec, condition):
    from silspec.plan.compile import compile_plan

    return [r.id for r in compile_plan(spec, conditions=[condition]).requests]


def test_request_ids_change_with_the_adapter_and_its_config(tiny_project):
    base = load(tiny_project, ("condition.ft.model=tiny",))
    adapted = load(tiny_project)
    retrained = load(tiny_project, ("finetune.align.epochs=5",))
    assert set(_ids(base, "ft")).isdisjoint(_ids(adapted, "ft"))
    assert set(_ids(adapted, "ft")).isdisjoint(_ids(retrained, "ft"))
    assert _ids(adapted, "zs") == _ids(retrained, "zs")  # the base model's answers are reused


def test_transport_settings_keep_the_config_hash(tiny_project):
    a = load(tiny_project).models["tiny_ft"].options["adapter"]["config_hash"]
    b = load(tiny_project, ("model.tiny.batch_size=2",)).models["tiny_ft"].options["adapter"]["config_hash"]
    c = load(tiny_project, ("finetune.align.lora.rank=2",)).models["tiny_ft"].options["adapter"]["config_hash"]
    assert a == b and a != c


def _position(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def test_adapter_model_on_other_weights_is_a_warning(tmp_path):
    from silspec.spec.load import load_spec

    text = with_ft_model('model tiny_ft { backend = hf  name = "other-model"  path = env("SILSPEC_TEST_TINY_MODEL")  '
                         'adapter = finetune.align }')
    path = write_project(tmp_path, spec_text=text)
    result = load_spec(str(path))
    assert result.ok
    warnings = [d for d in result.diagnostics if d.code == "SIL812"]
    assert len(warnings) == 1 and "trained on `tiny`" in warnings[0].message


def test_every_loss_in_loss_py_is_nameable_in_a_spec():
    from silspec.check.blocks.finetune import PAPER_LOSSES, TEXTBOOK_LOSSES
    from silspec.finetune.loss import EXTRA_LOSSES, LOSSES

    assert (PAPER_LOSSES, TEXTBOOK_LOSSES) == (LOSSES, EXTRA_LOSSES)


@pytest.mark.parametrize("loss", ["kl_sum", "soft_ce", "js_divergence", "ordinal_w1"])
def test_textbook_losses_lint_clean_and_change_the_config_hash(tmp_path, loss):
    result, errors = diagnostics(tmp_path, SPEC.replace("LOSS", loss))
    assert errors == []
    assert result.spec.finetunes["align"].loss == loss
    kl, _ = diagnostics(tmp_path / "kl", SPEC.replace("LOSS", "kl"))
    def hash_of(spec):
        return config_hash(spec.finetunes["align"], spec.models["tiny"])

    assert hash_of(result.spec) != hash_of(kl.spec)


def test_an_unknown_loss_lists_the_textbook_names(tmp_path):
    _, errors = diagnostics(tmp_path, SPEC.replace("LOSS", "emd"))
    assert len(errors) == 1 and "ordinal_w1" in errors[0].message + (errors[0].hint or "")


def test_paper_emd_metric_and_diversity_report_lint_clean(tmp_path):
    text = SPEC.replace("LOSS", "kl").replace(
        "  metric js { log = e }\n",
        "  metric js { log = e  form = one_minus_distance }\n  metric emd_values_paper {}\n  metric accuracy {}\n"
        "  report { diversity = true }\n")
    result, errors = diagnostics(tmp_path, text)
    assert errors == []
    assert [m.name for m in result.spec.analysis.metrics] == ["js", "emd_values_paper", "accuracy"]
    assert result.spec.analysis.report["diversity"] is True


def test_unseen_names_a_dimension_and_an_honest_split_passes(tmp_path):
    # the conftest spec's test split is CCC x Q1: Q1 is trained on, CCC too (train = C1)
    text = SPEC.replace("LOSS", "kl").replace('test { countries = ["CCC"]  items = [s.Q1] }',
                                              'test { countries = ["CCC"]  items = [s.Q1]  unseen = [questions] }')
    _, errors = diagnostics(tmp_path, text)
    assert [e.code for e in errors] == ["SIL202"] and "countries" in errors[0].hint
    leaky = text.replace("unseen = [questions]", "unseen = [items]")
    _, errors = diagnostics(tmp_path / "leaky", leaky)
    assert [e.code for e in errors] == ["SIL830"] and "(Q1)" in errors[0].message
    honest = leaky.replace("train { countries = group(C1)  items = group(QA) }",
                           "train { countries = group(C1)  items = [s.Q2, s.Q3] }")
    _, errors = diagnostics(tmp_path / "honest", honest)
    assert errors == []
