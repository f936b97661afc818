"""The report's rows follow the spec, not the order answers were stored in: a run sharded over
Ray workers, resumed, or answered out of order stores the same answers in another order, and
its report must be the same file."""

from __future__ import annotations

import random

from silspec.analysis.pipeline import analyse
from silspec.report.export import to_csv, to_json

from small_results import small_records, small_spec


def test_shuffled_store_order_gives_the_same_report():
    spec, records = small_spec(), small_records()
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    shuffled.reverse()  # condition b's answers first: the store order differs from the spec's
    first, second = analyse(spec, records), analyse(spec, shuffled)
    assert [(c.condition, c.item) for c in second.compliance] == [
        ("a", "s.Q1"), ("a", "s.Q2"), ("a", "s.Q3"), ("b", "s.Q1"), ("b", "s.Q2"), ("b", "s.Q3")]
    assert to_json(first) == to_json(second)
    assert to_csv(first) == to_csv(second)
