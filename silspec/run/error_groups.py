"""Why requests failed: stored errors grouped by message, and whether a retry can help.

The end-of-run summary shows the most frequent messages so a user sees the cause, and only
suggests ``--retry-errors`` for errors that look transient (rate limits, server errors,
timeouts, dropped connections). Asking a 400 or a replay gap again gives the same error.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from attrs import frozen

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_TRANSIENT_TEXT = re.compile(
    r"timed out|timeout|connection|connect error|temporarily|\bHTTP (?:408|409|425|429|5\d\d)\b",
    re.IGNORECASE,
)
TOP_MESSAGES = 5


@frozen
class ErrorGroup:
    message: str
    count: int
    status: int | None
    transient: bool  # a retry may fix it (--retry-errors is worth trying)
    recorded: bool  # replayed from recorded data: asking again replays the same failure


def looks_transient(message: str | None, status: int | None) -> bool:
    """True for what a later retry can fix: 408/409/425/429, 5xx, timeouts, connections."""
    if status is not None:
        return status in TRANSIENT_STATUSES or 500 <= status <= 599
    return bool(message and _TRANSIENT_TEXT.search(message))


def group_errors(rows: Iterable[tuple[str | None, int | None, bool]]) -> list[ErrorGroup]:
    """(error text, status, recorded?) rows -> groups by message, most frequent first."""
    counts: Counter[tuple[str, int | None, bool]] = Counter()
    for message, status, recorded in rows:
        counts[(message or "(no message)", status, bool(recorded))] += 1
    return [
        ErrorGroup(message=message, count=count, status=status, recorded=recorded,
                   transient=not recorded and looks_transient(message, status))
        for (message, status, recorded), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    ]
