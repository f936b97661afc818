"""What an answer is: one scorer and one closed outcome set for the runner and the analysis.

The runner scores each reply as it arrives (``score``) and stores the ``Verdict``; the
analysis, the report and ``silspec verify`` read the stored verdict. Nothing here imports the
runner or the analysis: both import this package.
"""

from silspec.answers.outcomes import NO_LOGPROBS, NO_TEXT, OUTCOMES, Outcome, Verdict
from silspec.answers.score import Reply, apply_policy, score, scorer_hash, wants_reask
from silspec.answers.stated import SUM_TOLERANCE, ParsedDistribution, parse_distribution

__all__ = [
    "NO_LOGPROBS", "NO_TEXT", "OUTCOMES", "Outcome", "ParsedDistribution", "Reply", "SUM_TOLERANCE",
    "Verdict", "apply_policy", "parse_distribution", "score", "scorer_hash", "wants_reask",
]
