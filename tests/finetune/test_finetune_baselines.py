"""The paper's baselines on hand-computable cases: uniform, Avg_Culture, KNN (by hand vectors and
with the real offline MiniLM weights), the [ctrl] country draw and the JSON-ZS reader."""

from __future__ import annotations

import pytest

from silspec.finetune.baselines import (
    avg_culture,
    control_countries,
    json_prompt,
    knn,
    knn_from_vectors,
    parse_json_distribution,
    uniform,
)
from silspec.finetune.examples import Example
from silspec.plan.model import Message


def ex(item, country, target, text=None, split="train"):
    letters = tuple("ABCDEFGHIJ"[: len(target)])
    return Example(split, item, country, (Message("user", text or f"{country} {item}"),),
                   tuple(range(1, len(target) + 1)), letters, tuple(target))


def test_uniform():
    assert uniform(ex("s.Q1", "AAA", [0.7, 0.1, 0.1, 0.1])) == (0.25, 0.25, 0.25, 0.25)


def test_avg_culture_is_the_training_countries_mean_and_uniform_for_unknown_questions():
    train = [ex("s.Q1", "AAA", [0.7, 0.3]), ex("s.Q1", "BBB", [0.1, 0.9]), ex("s.Q2", "AAA", [0.2, 0.2, 0.6])]
    predict = avg_culture(train)
    assert predict(ex("s.Q1", "ZZZ", [0.5, 0.5], split="test")) == pytest.approx((0.4, 0.6))
    assert predict(ex("s.Q2", "ZZZ", [1, 0, 0], split="test")) == pytest.approx((0.2, 0.2, 0.6))
    assert predict(ex("s.Q9", "ZZZ", [1, 0, 0], split="test")) == pytest.approx((1 / 3,) * 3)  # unknown question


def test_knn_takes_the_nearest_training_example_with_the_same_option_count():
    train = [ex("s.Q1", "AAA", [0.7, 0.3]), ex("s.Q1", "BBB", [0.1, 0.9]), ex("s.Q2", "AAA", [0.2, 0.2, 0.6])]
    train_vectors = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]
    test = [ex("s.Q5", "CCC", [0.5, 0.5], split="test"), ex("s.Q6", "CCC", [0.3, 0.3, 0.4], split="test"),
            ex("s.Q7", "CCC", [0.25] * 4, split="test")]
    # the first is nearest to train[2] overall, but that has 3 options: train[1] is the nearest 2-option one
    result = knn_from_vectors(train_vectors, train, [[0.5, 0.86], [1.0, 0.0], [1.0, 0.0]], test)
    assert result.neighbours == (1, 2, None)
    assert result.predictions == ((0.1, 0.9), (0.2, 0.2, 0.6), (0.25, 0.25, 0.25, 0.25))
    assert result.fallbacks == 1


def test_knn_with_the_offline_minilm_weights_finds_the_same_question():
    train = [
        ex("s.Q1", "JPN", [0.9, 0.1], "How would someone from Japan answer: how important is family in your life?"),
        ex("s.Q57", "JPN", [0.3, 0.7], "How would someone from Japan answer: can most people be trusted?"),
    ]
    test = [ex("s.Q1", "KEN", [0.5, 0.5], "How would someone from Kenya answer: how important is the family in life?",
               split="test")]
    result = knn(train, test)
    assert result.neighbours == (0,) and result.predictions == ((0.9, 0.1),)


def test_control_countries_never_the_true_country_and_seeded():
    examples = [ex(f"s.Q{i}", c, [0.5, 0.5]) for i in range(20) for c in ("AAA", "BBB")]
    pool = ["AAA", "BBB", "CCC", "DDD"]
    drawn = control_countries(examples, pool, seed=7)
    assert all(d != e.country and d in pool for d, e in zip(drawn, examples))
    assert drawn == control_countries(examples, pool, seed=7)
    assert drawn != control_countries(examples, pool, seed=8)
    assert control_countries(list(reversed(examples)), pool, seed=7) == tuple(reversed(drawn))  # per example


@pytest.mark.parametrize("reply, expected", [
    ('{"A": 60, "B": 30, "C": 10}', (0.6, 0.3, 0.1)),
    ('Sure! ```json\n{"(A)": 0.5, "C": 0.5}\n```', (0.5, 0.0, 0.5)),
    ('{"x": 1} then {"B": 2}', None),  # an unknown key: unreadable, as for answers = verbalised
    ('{"A": 50, "B": 20}', None),  # sums to 70 %: not a distribution
    ('{"A": "sixty"}', None),
    ("I cannot say.", None),
    ('{"A": 0, "B": 0}', None),
])
def test_parse_json_distribution(reply, expected):
    got = parse_json_distribution(reply, ex("s.Q1", "AAA", [0.2, 0.3, 0.5]))
    assert got == (None if expected is None else pytest.approx(expected))


def test_json_prompt_keeps_question_and_options_and_drops_the_first_token_cue():
    text = "How would someone from Kenya answer:\n\nQ?\nHere are the options:\n(A)Yes\n(B)No\nIf had to select one of the options, my answer would be ("
    prompt = json_prompt(text, "Kenya", ("A", "B"))
    assert "(A)Yes" in prompt and "my answer would be" not in prompt and "JSON" in prompt and '"A": 50' in prompt


def test_control_examples_render_the_drawn_country_and_keep_the_true_target(tiny_project):
    from silspec.finetune.baselines import control_examples
    from silspec.finetune.examples import build_examples
    from tests.finetune.conftest import load

    spec = load(tiny_project)
    ft = spec.finetunes["align"]
    examples = [e for e in build_examples(spec, ft)["train"].examples if e.item == "s.Q1"]
    drawn = control_countries(examples, ["AAA", "BBB", "CCC"], seed=1)
    controlled = control_examples(spec, ft, examples, drawn)
    names = {"AAA": "Aland", "BBB": "Borduria", "CCC": "Carpania"}
    for original, ctrl, country in zip(examples, controlled, drawn):
        assert ctrl.target == original.target and ctrl.country == original.country
        assert names[country] in ctrl.messages[-1].content and names[original.country] not in ctrl.messages[-1].content
