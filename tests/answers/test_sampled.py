"""``sampled`` replies: the four outcomes, the policies, and each extraction method."""

import pytest

from silspec.answers import NO_TEXT, Reply, Verdict, score
from silspec.plan.model import PlanItem
from silspec.spec.model import Parser

CODES = (1, 2, 3, 4)
LABELS = ("매우 자랑스럽다", "다소 자랑스럽다", "별로 자랑스럽지 않다", "전혀 자랑스럽지 않다")


def item(codes=CODES, labels=LABELS):
    return PlanItem(id="s.Q", code="Q", text="Q", codes=codes, labels=labels, midpoint=codes[len(codes) // 2])


def parse(text, parser=None, *, error=False, option_tokens=None, codes=CODES, labels=LABELS):
    reply = Reply(failure="HTTP 429") if error else Reply(text=text)
    return score(reply, answers="sampled", parser=parser or Parser(name="p"), item=item(codes, labels),
                 option_tokens=option_tokens)


def test_first_integer_takes_the_first_admissible_code():
    assert parse("2  \n설명: 20대 남성은 ... **보통(2)**") == Verdict("answered", code=2)


def test_first_integer_skips_out_of_range_numbers_like_the_paper():
    assert parse("20대 여성으로서 저는 3번을 고릅니다").code == 3


def test_hyphen_inside_a_range_is_not_a_minus_sign():
    # "1-4" must not read as 1 then -4; the first admissible integer is still 1
    assert parse("척도 1-4 중에서").code == 1
    # a genuine negative number is out of range
    assert parse("-3").outcome == "invalid"


def test_no_integer_is_invalid_and_policy_none_leaves_it_missing():
    result = parse("잘 모르겠습니다")
    assert result == Verdict("invalid", "no admissible code")


def test_midpoint_on_invalid_fills_codes_len_half_and_marks_default():
    result = parse("no idea", Parser(name="p", on_invalid="midpoint"))
    assert result.code == 3  # 1-4 -> 3, the paper's rule
    assert result.defaulted and result.outcome == "invalid"


def test_drop_policy_marks_dropped():
    result = parse("nothing", Parser(name="p", on_invalid="drop"))
    assert result.dropped and result.code is None and not result.defaulted


def test_reask_is_treated_as_none_in_analysis():
    assert parse("nothing", Parser(name="p", on_invalid="reask", reask=3)).code is None


def test_refusal_phrase_without_code_is_a_refusal():
    parser = Parser(name="p", refusal=("I cannot",), on_invalid="midpoint")
    result = parse("As an AI, I CANNOT answer that.", parser)
    assert result.outcome == "refused" and result.defaulted and result.code == 3


def test_valid_code_wins_over_refusal_phrase():
    parser = Parser(name="p", refusal=("cannot",))
    assert parse("I cannot be sure, but 2", parser).outcome == "answered"


def test_error_follows_on_error_not_on_invalid():
    parser = Parser(name="p", on_invalid="none", on_error="midpoint")
    result = parse("", parser, error=True)
    assert result == Verdict("error", "HTTP 429", code=3, defaulted=True)
    assert parse(None, Parser(name="p"), error=True) == Verdict("error", "HTTP 429")


def test_error_text_is_not_parsed():
    assert parse("2", Parser(name="p"), error=True).code is None


def test_a_reply_without_text_is_an_error_never_an_invalid_answer():
    # on_invalid = midpoint must not fill a reply that said nothing; on_error decides
    parser = Parser(name="p", on_invalid="midpoint")
    for text in (None, "", "  \n"):
        assert parse(text, parser) == Verdict("error", NO_TEXT)
    assert parse(None, Parser(name="p", on_error="midpoint")) == Verdict("error", NO_TEXT, code=3, defaulted=True)


def test_explicit_valid_list_restricts_codes():
    parser = Parser(name="p", valid=(1, 2))
    assert parse("3 then 2", parser).code == 2
    assert parse("4", parser) == Verdict("invalid", "no admissible code")
    assert parse("-8", Parser(name="p")) == Verdict("invalid", "no admissible code")


def test_regex_group_one():
    parser = Parser(name="p", extract="regex", pattern=r"Answer:\s*(\d+)")
    assert parse("1 reason... Answer: 4", parser).code == 4
    assert parse("no answer line", parser).outcome == "invalid"


def test_regex_without_pattern_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a pattern"):
        parse("2", Parser(name="p", extract="regex"))


def test_label_longest_at_same_position_and_earliest_wins():
    parser = Parser(name="p", extract="label")
    assert parse("저는 전혀 자랑스럽지 않다 고 생각합니다", parser).code == 4
    assert parse("다소 자랑스럽다. 매우 자랑스럽다는 아님", parser).code == 2
    assert parse("모르겠다", parser).outcome == "invalid"


def test_json_field_inside_prose():
    parser = Parser(name="p", extract="json", pattern="answer")
    assert parse('Sure! {"answer": 3, "why": "x"}', parser).code == 3
    assert parse('{"answer": "2"}', parser).code == 2
    assert parse('{"answer": "다소 자랑스럽다"}', parser).code == 2
    assert parse('{"other": 2}', parser).outcome == "invalid"
    assert parse("{not json", parser).outcome == "invalid"


def test_letter_option_tokens_map_to_codes():
    result = parse("My answer is C.", option_tokens=("A", "B", "C", "D"))
    assert result.code == 3
    assert parse("Answer: (b)", option_tokens=("A", "B", "C", "D")).code == 2


def test_mismatched_lengths_are_clear_errors():
    with pytest.raises(ValueError, match="labels"):
        parse("1", codes=(1, 2), labels=("a",))
    with pytest.raises(ValueError, match="option tokens"):
        parse("1", option_tokens=("A",))


def test_integer_or_label_takes_the_number_first_then_the_label():
    parser = Parser(name="p", extract="integer_or_label")
    codes, labels = (1, 2, 3), ("A great deal", "Only some", "Hardly any")
    assert parse("2, only some", parser, codes=codes, labels=labels).code == 2
    assert parse("A great deal of trust", parser, codes=codes, labels=labels).code == 1
    assert parse("hardly any, I'd say", parser, codes=codes, labels=labels).code == 3
    assert parse("I'm not sure", parser, codes=codes, labels=labels).outcome == "invalid"
    # A plain first_integer parser ignores the label.
    assert parse("A great deal of trust", Parser(name="q"), codes=codes, labels=labels).outcome == "invalid"


def test_a_reply_whose_text_is_not_a_string_is_an_error_with_the_type():
    assert parse(3) == Verdict("error", "the reply's text is of type int, not a string")
