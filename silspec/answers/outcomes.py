"""The closed set of things a request can end as, and the verdict that carries one.

Every stored request ends in exactly one outcome, decided once (by ``silspec.answers.score``,
when the reply arrives) and read from the store by everything downstream:

- ``answered`` the reply holds an answer: an admissible code (``sampled``), a stated
  distribution (``verbalised``) or option probabilities (``option_probs``);
- ``invalid``  text came back but held no answer (no admissible code, no readable distribution);
- ``refused``  like ``invalid``, and the text matched one of the parser's refusal phrases;
- ``error``    there was nothing to score: the request failed, the reply held no text, or an
  ``option_probs`` reply came without log-probabilities. ``reason`` says which.

``docs/design/answer-outcomes.md`` explains who decides and where each piece is stored.
"""

from __future__ import annotations

from typing import Literal, Mapping

from attrs import frozen

Outcome = Literal["answered", "invalid", "refused", "error"]
OUTCOMES: tuple[Outcome, ...] = ("answered", "invalid", "refused", "error")

# Reasons that are part of the scoring rules (transport errors carry the backend's message).
NO_TEXT = "the reply held no text"
NO_LOGPROBS = "the endpoint returned no log-probabilities"
REQUEST_FAILED = "the request failed"


@frozen
class Verdict:
    """What one reply counts as. The same object whether the runner or the analysis asks.

    ``code`` is the code the answer counts as: the model's own (``answered`` sampled answers)
    or a policy fill (``defaulted``: the midpoint for ``on_invalid``/``on_error = midpoint``).
    ``probs`` is a distribution over the item's substantive codes (``option_probs`` as the
    endpoint returned it, or the stated one for ``verbalised``). ``dropped``: the policy says
    leave the answer out of the analysis. ``reason`` says why an answer is not ``answered`` (or
    what was adjusted in one, e.g. a stated distribution renormalised).
    """

    outcome: Outcome
    reason: str | None = None
    code: int | None = None
    probs: Mapping[int, float] | None = None
    defaulted: bool = False
    dropped: bool = False
