"""--update-doc: fills marked blocks, leaves every other byte alone, clear errors."""

import pytest

from silspec.report.update_doc import UpdateDocError, fill_blocks, update_doc

from small_results import small_results

DOC = (
    "# Paper\n\nIntro text  with  odd   spacing.\n\n"
    "<!-- silspec:js_table -->\nold table\n<!-- /silspec:js_table -->\n\n"
    "Middle ü text.\n<!-- silspec:compliance --><!-- /silspec:compliance -->\nEnd without newline"
)


def test_fills_blocks_and_keeps_the_rest_byte_for_byte(tmp_path):
    path = tmp_path / "paper.md"
    path.write_bytes(DOC.encode("utf-8"))
    filled = update_doc(path, small_results())
    assert filled == ["js_table", "compliance"]
    text = path.read_bytes().decode("utf-8")
    assert "old table" not in text and "| item | a | b |" in text
    before, _, rest = text.partition("<!-- silspec:js_table -->")
    assert before == DOC.partition("<!-- silspec:js_table -->")[0]
    assert text.endswith("<!-- /silspec:compliance -->\nEnd without newline")
    assert "\n\nMiddle ü text.\n<!-- silspec:compliance -->" in text
    # idempotent
    update_doc(path, small_results())
    assert path.read_bytes().decode("utf-8") == text


def test_unknown_block_lists_known_names():
    with pytest.raises(UpdateDocError, match=r"line 1: unknown block 'nope'; known blocks: a, b"):
        fill_blocks("<!-- silspec:nope -->x<!-- /silspec:nope -->", {"b": "", "a": ""})


def test_unclosed_block_is_an_error():
    with pytest.raises(UpdateDocError, match="line 2: .*no closing"):
        fill_blocks("text\n<!-- silspec:a -->\nx", {"a": "y"})


def test_crlf_documents_keep_crlf():
    out, _ = fill_blocks("a\r\n<!-- silspec:x -->\r\n<!-- /silspec:x -->\r\nb", {"x": "1\n2"})
    assert out == "a\r\n<!-- silspec:x -->\r\n1\r\n2\r\n<!-- /silspec:x -->\r\nb"


def test_document_without_blocks_is_untouched(tmp_path):
    path = tmp_path / "plain.md"
    path.write_bytes(b"no blocks\r\nhere")
    assert update_doc(path, small_results()) == []
    assert path.read_bytes() == b"no blocks\r\nhere"


def test_markers_inside_fenced_code_are_examples_and_stay_untouched():
    from silspec.report.update_doc import fill_blocks

    text = (
        "How to use it:\n\n```markdown\n<!-- silspec:NAME -->\n<!-- /silspec:NAME -->\n```\n\n"
        "<!-- silspec:js_table -->\nold\n<!-- /silspec:js_table -->\n"
    )
    new, filled = fill_blocks(text, {"js_table": "| a |"})
    assert filled == ["js_table"]
    assert "```markdown\n<!-- silspec:NAME -->\n<!-- /silspec:NAME -->\n```" in new
    assert "<!-- silspec:js_table -->\n| a |\n<!-- /silspec:js_table -->" in new
