"""Examples built from a finetune block: prompts as plans render them, targets, skips, limits."""

from __future__ import annotations

import pytest

from silspec.finetune.errors import FinetuneError
from silspec.finetune.examples import build_examples, counts, get_finetune
from tests.finetune.conftest import load


def test_examples_per_split_skip_cells_without_benchmark(tiny_project):
    splits = build_examples(load(tiny_project), "align")
    assert list(splits) == ["train", "valid", "test"]
    train = splits["train"]
    assert train.cells == 9 and len(train.examples) == 8
    assert train.without_benchmark == (("CCC", "s.Q2"),)
    assert counts(splits.values())["test"] == {"examples": 1, "cells": 1, "without_benchmark": 0}
    # items in split order, then countries in split order
    assert [(e.item, e.country) for e in train.examples[:4]] == [
        ("s.Q1", "AAA"), ("s.Q1", "BBB"), ("s.Q1", "CCC"), ("s.Q2", "AAA")]


def test_example_prompt_tokens_and_target(tiny_project):
    example = build_examples(load(tiny_project), "align")["train"].examples[1]  # BBB, Q1
    assert example.messages[-1].content == (
        "Borduria: Family? (A)Very (B)Rather (C)Not very (D)Not at all Answer: (")
    assert example.option_tokens == ("A", "B", "C", "D")
    assert example.option_codes == (1, 2, 3, 4)
    assert example.target == pytest.approx((0.1, 0.2, 0.3, 0.4))


def test_percent_benchmarks_become_shares(tiny_project):
    q3 = [e for e in build_examples(load(tiny_project), "align")["train"].examples if e.item == "s.Q3"]
    assert q3[0].target[0] == pytest.approx(0.5) and sum(q3[0].target) == pytest.approx(1.0)
    assert q3[0].option_tokens == tuple("ABCDEFGHIJ")


def test_prompts_are_byte_identical_to_the_plan_of_a_matching_condition(tiny_project):
    from silspec.plan.compile import compile_plan

    spec = load(tiny_project)
    plan = {(r.item, r.country): r for r in compile_plan(spec, conditions=["zs"]).requests}
    for example in build_examples(spec, "align")["train"].examples:
        request = plan[(example.item, example.country)]
        assert example.messages == request.messages
        assert example.option_tokens == request.option_tokens


def test_limit_keeps_a_seeded_ordered_subsample(tiny_project):
    spec = load(tiny_project)
    full = build_examples(spec, "align")["train"].examples
    first = build_examples(spec, "align", limit=3)["train"]
    again = build_examples(spec, "align", limit=3)["train"]
    assert len(first.examples) == 3 and first.limited_from == 8
    assert first.examples == again.examples
    positions = [full.index(e) for e in first.examples]
    assert positions == sorted(positions)


def test_the_only_block_is_the_default_and_unknown_names_say_so(tiny_project):
    spec = load(tiny_project)
    assert get_finetune(spec, None).name == "align"
    with pytest.raises(FinetuneError, match="no finetune block named 'algn'.*align"):
        get_finetune(spec, "algn")
    with pytest.raises(FinetuneError, match="at least 1"):
        build_examples(spec, "align", limit=0)


def test_colliding_code_labels_are_a_clear_error(tiny_project):
    spec = load(tiny_project, ("finetune.align.option_labels=codes",))
    with pytest.raises(FinetuneError, match="share a first token"):
        build_examples(spec, "align")
