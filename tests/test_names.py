"""Shape suffix letters are defined once, in the package docstring; no module gives a letter another meaning."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import jaxpelsvae

PACKAGE = Path(__file__).resolve().parents[1] / "jaxpelsvae"
# Filler words that say nothing about what an axis is.
_FILLER = {"the", "one", "per", "all", "and", "with", "from", "that", "each", "after", "this", "used", "package",
           "padded", "together", "inside", "within", "input"}


def _table() -> dict[str, str]:
    """Letter -> meaning, from the "- X: meaning" lines under "Shape suffixes" in the package docstring."""
    doc = jaxpelsvae.__doc__
    block = doc[doc.index("Shape suffixes"):].split("\n\n")[1]
    return dict(re.findall(r"^- ([A-Za-z]): (.+)$", block, re.MULTILINE))


def _words(meaning: str) -> set[str]:
    """The content words of a meaning, crudely singular ("stars" and "star" match)."""
    words = {w.lower().removesuffix("s") for w in re.findall(r"[A-Za-z]{3,}", meaning)}
    return words - _FILLER


def _definitions(doc: str) -> list[tuple[str, str]]:
    """(letter, meaning) pairs of "Shape letters: N stars, T = 600 phases, ..." sentences in a docstring."""
    pairs = []
    text = " ".join(doc.split())
    for match in re.finditer(r"shape (?:letters|suffixes)[^:]*:(.*?)(?:\.\s|\.$|$)", text, re.IGNORECASE):
        for item in match.group(1).split(","):
            found = re.match(r"\s*([A-Za-z])\b[\s:=]*(.*)", item)
            if found:
                pairs.append((found.group(1), found.group(2)))
    return pairs


def _module_docstrings() -> list[tuple[str, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(), str(path)))
        if doc:
            out.append((str(path.relative_to(PACKAGE.parent)), doc))
    return out


def test_table_defines_each_letter_once():
    doc = jaxpelsvae.__doc__
    block = doc[doc.index("Shape suffixes"):].split("\n\n")[1]
    letters = re.findall(r"^- ([A-Za-z]):", block, re.MULTILINE)
    assert len(letters) == len(set(letters)) > 10
    assert set(_table()) == set(letters)


def test_definition_parser_reads_the_old_style():
    pairs = _definitions("Mean.\n\nShape letters: N stars, B = 300 phase bins (600,\ntwo cycles), K classes. Then.")
    assert pairs == [("N", "stars"), ("B", "300 phase bins (600"), ("K", "classes")]


@pytest.mark.parametrize(("where", "doc"), _module_docstrings(), ids=lambda v: v if v.endswith(".py") else "")
def test_module_docstring_keeps_the_package_meanings(where, doc):
    table = _table()
    clashes = [
        f"{letter}: {meaning!r} (package: {table.get(letter)!r})"
        for letter, meaning in _definitions(doc)
        if letter not in table or not _words(meaning) & _words(table[letter])
    ]
    assert not clashes, f"{where} gives shape letters other meanings: {clashes}"
