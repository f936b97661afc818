"""SIL82x: which option labels a rendered prompt shows."""

from __future__ import annotations




def test_label_shown_reads_literals_ranges_and_letter_markers():
    from silspec.check.rules.options import label_shown

    integer_prompt = "Divorce (1 = never, 10 = always)\nRespond with ONLY the single integer (1-10):"
    assert all(label_shown(str(code), integer_prompt) for code in range(1, 11))
    assert not label_shown("11", integer_prompt)
    assert not label_shown("1", "Q10 asks about 10 things")  # "1" inside Q10 / 10 is not shown
    # letters count only as option markers or a letter range, not as English words
    assert not label_shown("A", "A great deal of choice")
    assert not label_shown("I", "I'd like your view")
    assert label_shown("A", "(A) yes (B) no") and label_shown("B", "A) yes\nB) no")
    assert label_shown("C", "A=yes, B=no, C=maybe") and label_shown("E", "Answer with a letter A-J.")
    assert not label_shown("K", "Answer with a letter A-J.")
