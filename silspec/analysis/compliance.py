"""Format compliance per condition × item: how many answers the model really gave.

A distribution built from 38 real answers and 62 midpoint fills looks as precise as one built
from 100 real answers; this table is what tells them apart, so the report puts it first.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from attrs import frozen

from silspec.analysis.distributions import ScoredAnswer
from silspec.answers.outcomes import OUTCOMES


@frozen
class Compliance:
    condition: str
    item: str
    n: int  # stored answers
    answered: int  # outcomes (silspec.answers.outcomes): answered + invalid + refused + error = n
    invalid: int
    refused: int
    error: int
    defaulted: int  # answers whose code is a policy fill (midpoint), any reason
    defaulted_from_error: int
    dropped: int
    default_code: int | None = None  # the code filled in (the item's midpoint), when any
    mean_valid_mass: float | None = None  # option_probs: mean probability on the valid codes
    country: str | None = None

    def share(self, count: int) -> float:
        return count / self.n if self.n else 0.0

    @property
    def answered_share(self) -> float:
        return self.share(self.answered)

    @property
    def default_share(self) -> float:
        return self.share(self.defaulted)

    @property
    def refused_share(self) -> float:
        return self.share(self.refused)

    @property
    def invalid_share(self) -> float:
        return self.share(self.invalid)

    @property
    def error_share(self) -> float:
        return self.share(self.error)


def compliance_table(answers: Iterable[ScoredAnswer]) -> list[Compliance]:
    """One row per (condition, item, country), in first-seen order."""
    grouped: dict[tuple[str, str, str | None], list[ScoredAnswer]] = defaultdict(list)
    for answer in answers:
        grouped[(answer.condition, answer.item, answer.country)].append(answer)
    return [_row(key, cell) for key, cell in grouped.items()]


def _row(key: tuple[str, str, str | None], cell: list[ScoredAnswer]) -> Compliance:
    condition, item, country = key
    outcomes: dict[str, int] = defaultdict(int)
    for answer in cell:
        if answer.outcome not in OUTCOMES:
            raise ValueError(f"answer outcome {answer.outcome!r} is not one of {', '.join(OUTCOMES)}")
        outcomes[answer.outcome] += 1
    defaults = [a for a in cell if a.defaulted]
    default_codes = {a.code for a in defaults}
    masses = [a.valid_mass for a in cell if a.valid_mass is not None]
    return Compliance(
        condition=condition,
        item=item,
        n=len(cell),
        answered=outcomes["answered"],
        invalid=outcomes["invalid"],
        refused=outcomes["refused"],
        error=outcomes["error"],
        defaulted=len(defaults),
        defaulted_from_error=sum(1 for a in defaults if a.outcome == "error"),
        dropped=sum(1 for a in cell if a.dropped),
        default_code=default_codes.pop() if len(default_codes) == 1 else None,
        mean_valid_mass=sum(masses) / len(masses) if masses else None,
        country=country,
    )
