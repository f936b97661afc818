"""The runner's live parse agrees with the analysis parse, per answer mode."""

from silspec.run.parse_live import parse_live
from silspec.spec.model import Parser

PARSER = Parser(name="p", on_invalid="reask", reask=2)
CODES, LABELS = (1, 2, 3), ("a great deal", "only some", "hardly any")


def test_sampled_text_becomes_one_code():
    assert parse_live("I'd say 2.", PARSER, CODES, LABELS).code == 2
    assert parse_live("no idea", PARSER, CODES, LABELS).outcome == "invalid"


def test_a_stated_distribution_is_valid_in_verbalised_mode_and_not_reasked():
    text = '{"1": 20, "2": 50, "3": 30}'
    live = parse_live(text, PARSER, CODES, LABELS, answers="verbalised")
    assert live.outcome == "valid" and live.code is None
    # The same text read as a single answer would have been taken as code 1 — wrong.
    assert parse_live(text, PARSER, CODES, LABELS).code == 1


def test_an_unreadable_distribution_is_invalid_in_verbalised_mode():
    assert parse_live("mostly 2", PARSER, CODES, LABELS, answers="verbalised").outcome == "invalid"


def test_errors_follow_on_error():
    live = parse_live(None, Parser(name="p", on_error="midpoint"), CODES, LABELS, error=True)
    assert (live.code, live.outcome, live.defaulted) == (2, "error", True)
