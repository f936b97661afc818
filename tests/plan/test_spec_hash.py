import shutil

from conftest import make_spec

from silspec.plan.spec_hash import canonical_spec, spec_hash
from silspec.spec.model import Span, evolve


def test_spec_hash_is_stable_and_location_independent(spec, tmp_path):
    assert spec_hash(spec) == spec_hash(make_spec())
    moved_root = tmp_path / "elsewhere"
    shutil.copytree(spec.root, moved_root, ignore=shutil.ignore_patterns("__pycache__"))
    assert spec_hash(make_spec(moved_root)) == spec_hash(spec)


def test_spans_and_override_list_do_not_count(spec):
    model = evolve(spec.models["gpt52"], span=Span("x.sil", 3, 1))
    spanned = evolve(spec, models={**spec.models, "gpt52": model}, overrides=(("a", "b"),))
    assert spec_hash(spanned) == spec_hash(spec)


def test_meaning_and_referenced_file_content_count(spec):
    hotter = evolve(spec.models["gpt52"], params={"temperature": 1.0})
    assert spec_hash(evolve(spec, models={**spec.models, "gpt52": hotter})) != spec_hash(spec)
    edited = evolve(spec, files=(evolve(spec.files[0], sha256="0" * 64),))
    assert spec_hash(edited) != spec_hash(spec)


def test_canonical_text_is_optional_and_counted_when_given(spec):
    assert spec_hash(spec, "silspec 1\n") != spec_hash(spec)
    assert spec_hash(spec, "silspec 1\n") == spec_hash(spec, "silspec 1\n")


def test_non_string_keys_become_sorted_pairs(spec):
    data = canonical_spec(spec)
    table = data["personas"]["kgss_quota"]["attributes"][1]["table"]
    assert table[0] == [["20대"], [2.0, 1.0]]
    assert "root" not in data and "absolute" not in str(data)


def test_renaming_the_spec_keeps_its_hash(spec):
    assert spec_hash(evolve(spec, path="specs/renamed.sil")) == spec_hash(spec)
    assert "path" not in canonical_spec(spec)


def test_transport_settings_do_not_count(spec):
    model = spec.models["gpt52"]
    for changes in (
        {"concurrency": 5}, {"base_url": "http://127.0.0.1:8000/v1"}, {"api_key_env": "OTHER_KEY"},
        {"delay_s": 2.0}, {"rpm": 10}, {"tpm": 1000}, {"retries": 9}, {"timeout_s": 5.0},
        {"options": {**model.options, "price_input_per_mtok": 1.75, "price_output_per_mtok": 14.0}},
    ):
        changed = evolve(spec, models={**spec.models, "gpt52": evolve(model, **changes)})
        assert spec_hash(changed) == spec_hash(spec), changes


def test_answer_changing_settings_still_count(spec):
    model = spec.models["gpt52"]
    for changes in ({"params": {**model.params, "temperature": 1.3}}, {"model_id": "other"},
                    {"options": {**model.options, "dtype": "float16"}}):
        changed = evolve(spec, models={**spec.models, "gpt52": evolve(model, **changes)})
        assert spec_hash(changed) != spec_hash(spec), changes


def test_set_of_transport_keeps_hash_and_temperature_changes_it():
    from pathlib import Path

    from silspec.spec.load import load_spec

    path = str(Path(__file__).resolve().parents[1] / "fixtures" / "sil" / "valid" / "kgss_like.sil")
    env = {"HF_HUB_OFFLINE": "1"}
    base = spec_hash(load_spec(path, env=env).spec)
    transport = load_spec(path, ["model.gpt52.concurrency=5", "model.gpt52.base_url=http://127.0.0.1:8000/v1",
                                 "model.gpt52.price_input_per_mtok=1.75"], env=env)
    assert transport.ok and spec_hash(transport.spec) == base
    hotter = load_spec(path, ["model.gpt52.temperature=1.3"], env=env)
    assert hotter.ok and spec_hash(hotter.spec) != base
