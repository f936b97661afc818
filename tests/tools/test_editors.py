"""editors/: the TextMate grammar is valid JSON, its regexes compile, and it covers the language.

The keyword list is checked against the Lark grammar's literal words (silspec/lang/silspec.lark)
and the block kinds against the checker's schema (silspec/check/schema.py), so a keyword added
to the language without the editor grammar fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from silspec.check import schema

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR_PATH = ROOT / "editors" / "sil.tmLanguage.json"
LARK = (ROOT / "silspec" / "lang" / "silspec.lark").read_text(encoding="utf-8")


def grammar() -> dict:
    return json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))


def regexes(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end") and isinstance(value, str):
                yield value
            else:
                yield from regexes(value)
    elif isinstance(node, list):
        for value in node:
            yield from regexes(value)


def rule(name: str) -> re.Pattern:
    [pattern] = [p["match"] for p in grammar()["repository"][name]["patterns"]]
    return re.compile(pattern)


def words_of(name: str) -> set[str]:
    return set(re.findall(r"[a-z]+", rule(name).pattern.split("(", 1)[1]))


def test_grammar_is_valid_json_with_compilable_regexes():
    g = grammar()
    assert g["scopeName"] == "source.sil" and g["fileTypes"] == ["sil"]
    patterns = list(regexes(g))
    assert len(patterns) > 10
    for pattern in patterns:
        re.compile(pattern)  # Python's engine is close to Oniguruma for these constructs


def test_every_literal_word_of_the_lark_grammar_is_highlighted():
    rules = re.sub(r"(^|\s)//.*$", "", LARK, flags=re.M)  # the literals of rules, not of comments
    literals = set(re.findall(r'"([a-z]+)"', rules))
    assert {"silspec", "extends", "compare", "vs", "true", "none"} <= literals  # the parse found them
    covered = words_of("keywords") | words_of("constants")
    assert literals <= covered, f"missing from editors/sil.tmLanguage.json: {sorted(literals - covered)}"


def test_every_block_kind_of_the_schema_is_highlighted():
    kinds = set(schema.TOP_BLOCKS) | set(schema.NAMED_VALUES)
    kinds |= {k for subs in schema.SUB_BLOCKS.values() for k in subs}
    covered = words_of("blocks")
    assert kinds <= covered, f"missing block kinds: {sorted(kinds - covered)}"


def test_tokens_match_as_the_language_writes_them():
    numbers = rule("numbers")
    for text in ("42", "-8", "0.7", "1e-4", "500ms", "0.5s", "2m", "17.3%"):
        assert numbers.fullmatch(text), text
    assert not numbers.search("Q199")  # a name with digits is not a number
    calls = rule("calls")
    for text in ('env("OPENAI_API_KEY")', 'file("templates/x.j2")', 'table("a.csv", item = "Q1")'):
        assert calls.match(text), text
    blocks = rule("blocks")
    match = blocks.match("condition option_probs extends sampled {")
    assert match and match.group(1, 2) == ("condition", "option_probs")
    assert not blocks.match("  item = 3")  # a key named like a block is a key
    strings = grammar()["repository"]["strings"]["patterns"]
    assert strings[0]["begin"] == '"""'  # multi-line strings before one-line ones


def test_vscode_manifest_points_at_the_grammar():
    manifest = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))
    [grammar_entry] = manifest["contributes"]["grammars"]
    [language] = manifest["contributes"]["languages"]
    assert grammar_entry["scopeName"] == grammar()["scopeName"] and language["extensions"] == [".sil"]
    target = (ROOT / "editors" / "vscode" / grammar_entry["path"]).resolve()
    assert target == GRAMMAR_PATH.resolve()
    json.loads((ROOT / "editors" / "vscode" / language["configuration"]).read_text(encoding="utf-8"))
