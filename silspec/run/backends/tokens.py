"""Map a model's first-token distribution onto option codes, the same way for every backend.

The rule (documented in ``docs/backends.md``): a candidate token counts for an option when it
equals the option token *after stripping surrounding whitespace* — so ``"3"``, ``" 3"``,
``"3\\n"`` and ``"\\t3"`` all count for option ``"3"``. Comparison is exact otherwise: letters are
case-sensitive (``"a"`` does not count for ``"A"``), and partial tokens (``"3."``, ``"30"``) do not
count. Probabilities of the variants are summed per option; ``valid_mass`` is the summed
probability on all options, and the option probabilities are renormalised by it. When no
probability lands on an option, there is nothing to renormalise: ``option_probs`` is None.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from attrs import frozen


@frozen
class OptionDistribution:
    option_probs: dict[int, float] | None  # code -> probability, renormalised over options
    valid_mass: float  # raw probability that landed on option tokens, in [0, 1]
    matched_tokens: dict[int, tuple[str, ...]]  # which candidate tokens counted for each code


def option_distribution(
    token_probs: Iterable[tuple[str, float]],
    option_codes: Sequence[int],
    option_tokens: Sequence[str],
) -> OptionDistribution:
    """Sum token variants per option code and renormalise (the one mapping every backend uses).

    ``token_probs`` are (token text, probability) pairs, e.g. an API's top logprobs after
    ``exp``; a token listed twice is counted twice (providers do not list duplicates).
    """
    if len(option_codes) != len(option_tokens):
        raise ValueError(
            f"{len(option_codes)} option codes but {len(option_tokens)} option tokens"
        )
    code_by_token: dict[str, int] = {}
    for code, token in zip(option_codes, option_tokens):
        key = token.strip()
        if not key:
            raise ValueError(f"option token for code {code} is empty after stripping whitespace")
        if key in code_by_token:
            raise ValueError(f"codes {code_by_token[key]} and {code} share the option token {key!r}")
        code_by_token[key] = code
    mass = {code: 0.0 for code in option_codes}
    matched: dict[int, list[str]] = {code: [] for code in option_codes}
    for token, prob in token_probs:
        code = code_by_token.get(token.strip())
        if code is None:
            continue
        mass[code] += float(prob)
        matched[code].append(token)
    valid_mass = math.fsum(mass.values())
    frozen_matches = {code: tuple(tokens) for code, tokens in matched.items()}
    if valid_mass <= 0.0:
        return OptionDistribution(None, 0.0, frozen_matches)
    probs = {code: value / valid_mass for code, value in mass.items()}
    return OptionDistribution(probs, min(valid_mass, 1.0), frozen_matches)


def from_logprobs(top_logprobs: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """(token, logprob) pairs → (token, probability) pairs."""
    return [(token, math.exp(logprob)) for token, logprob in top_logprobs]


def token_variants(option_token: str) -> tuple[str, ...]:
    """The spellings a local tokenizer is asked about for one option: bare and space-prefixed.

    Local backends cannot enumerate every whitespace variant; these two cover what chat models
    ("A" as the first assistant token) and raw scorers after "Answer:" (" A") emit.
    """
    bare = option_token.strip()
    return (bare, " " + bare)


# ----------------------------------------------------------------------- full option strings
# When options cannot be told apart by their first token ("1" and "10" both start with "1") or
# span several tokens, a backend that can teacher-force (hf; openai with prompt_logprobs) scores
# each option as a whole reply: the chain-rule probability of its tokens *followed by an end of
# answer*. Without the end, "1" would absorb the mass of "10" (every "10" starts with "1").
# An end of answer is any next token that does not glue onto the label to make a longer word or
# number: a token whose text starts with a letter or digit continues it ("1" + "0" = "10",
# "A" + "pple"); whitespace, punctuation, end-of-turn / EOS and other special tokens end it.
# So P("1") = P("1" | prompt) * P(next token does not start with a letter or digit | prompt, "1").


def continues_label(token_text: str) -> bool:
    """True when this token, glued right after an option label, makes a longer word or number."""
    return bool(token_text) and token_text[0].isalnum()


def labels_need_full_strings(option_tokens: Sequence[str]) -> bool:
    """True when one option label is a prefix of another ("1" and "10"): first-token
    probabilities cannot tell them apart, whatever the tokenizer."""
    labels = [token.strip() for token in option_tokens]
    return any(a != b and b.startswith(a) for a in labels for b in labels)


def codes_json(option_probs: Mapping[int, float] | None) -> dict[str, float] | None:
    """JSON-able form (string keys) for meta fields."""
    if option_probs is None:
        return None
    return {str(code): prob for code, prob in option_probs.items()}
