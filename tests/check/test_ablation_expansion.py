"""`ablation` expands at check time into one condition per subset of descriptor items: exact
(all 2^k subsets, the full one being the base condition) or the prefixes of seeded orders."""

from __future__ import annotations

import itertools
from pathlib import Path

from silspec.spec.load import load_spec

HEAD = """silspec 1
study s { title = "t"  seed = 4 }
scale s2 { 1 = "a"  2 = "b" }
survey sv { item Q1 { text = "q?"  scale = s2  benchmark = [0.5, 0.5] } }
descriptors iw {
  item V1 { 1 = "One."  2 = "Not one." }
  item V2 { 1 = "Two."  2 = "Not two." }
  item V3 { 1 = "Three."  2 = "Not three." }
  item V4 { 1 = "Four."  2 = "Not four." }
  item V5 { 1 = "Five."  2 = "Not five." }
}
population people { sampling = rows  rows = table("people.csv")  id = "id"  descriptors = iw }
template tp = "{{ item.text }} ({{ item.scale_labels }})"
template persona = "{{ persona.text }}"
parser fi { extract = first_integer }
model m { backend = openai  name = "gpt-x"  api_key = env("OPENAI_API_KEY") }
condition personas { model = m  population = people  items = sv.*  prompt = tp  system = persona  parser = fi }
analysis { metric mae {} }
"""


def _spec(tmp_path: Path, ablation: str):
    (tmp_path / "silspec.toml").write_text("# root\n", encoding="utf-8")
    (tmp_path / "people.csv").write_text("id,V1,V2,V3,V4,V5\nr1,1,2,1,2,1\nr2,2,1,2,1,2\n", encoding="utf-8")
    path = tmp_path / "a.sil"
    path.write_text(HEAD + ablation, encoding="utf-8")
    result = load_spec(str(path), env={"OPENAI_API_KEY": "x"})
    assert result.spec is not None, result.diagnostics
    return result.spec


def test_exact_ablation_generates_every_subset_but_the_full_one(tmp_path):
    spec = _spec(tmp_path, "ablation ab { condition = personas  items = [V4, V2, V1] }\n")
    ablation = spec.ablations["ab"]
    assert ablation.items == ("V1", "V2", "V4")  # the descriptor table's order
    assert len(ablation.subsets) == 8 and ablation.method == "exact"
    names = dict(ablation.subsets)
    assert names[("V1", "V2", "V4")] == "personas"
    assert names[()] == "ab__000" and names[("V2",)] == "ab__010"
    # the items not ablated (V3, V5) stay in every subset's persona text
    assert spec.conditions["ab__010"].descriptor_items == ("V2", "V3", "V5")
    assert spec.conditions["ab__000"].descriptor_items == ("V3", "V5")
    assert spec.conditions["personas"].descriptor_items is None
    assert len([c for c in spec.conditions.values() if c.descriptor_items is not None]) == 7


def test_sampled_orders_are_seeded_and_only_their_prefixes_are_asked(tmp_path):
    text = "ablation ab { condition = personas  permutations = 3  seed = 9 }\n"
    spec = _spec(tmp_path, text)
    (tmp_path / "again").mkdir()
    again = _spec(tmp_path / "again", text)
    ablation = spec.ablations["ab"]
    assert ablation.method == "permutations" and len(ablation.orders) == 3
    assert ablation.orders == again.ablations["ab"].orders  # deterministic
    prefixes = {frozenset(order[:j]) for order in ablation.orders for j in range(6)}
    assert {frozenset(s) for s, _ in ablation.subsets} == prefixes
    assert all(sorted(order) == sorted(ablation.items) for order in ablation.orders)
    other = _spec(tmp_path, text.replace("seed = 9", "seed = 10")).ablations["ab"]
    assert other.orders != ablation.orders


def test_an_ablation_is_part_of_the_spec_hash_and_enumerates_subsets_smallest_first(tmp_path):
    from silspec.plan.spec_hash import spec_hash

    spec = _spec(tmp_path, "")
    assert spec.ablations == {} and spec.analysis.curves == ()
    with_one = _spec(tmp_path, "ablation ab { condition = personas  items = [V1, V2] }\n")
    assert spec_hash(spec) != spec_hash(with_one)
    # exact subsets enumerated smallest first, each in item order
    assert [s for s, _ in with_one.ablations["ab"].subsets] == [
        s for n in range(3) for s in itertools.combinations(("V1", "V2"), n)
    ]
