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
