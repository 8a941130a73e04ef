"""Dictionary repair of the letters comic fonts make Tesseract confuse.

Hand and comic lettering (all capitals) is read with a few steady confusions:
a D read as O or P, S as G, R as Z, 2 or B, H as # or 4, M as V, E as Z. A
word that is not in Tesseract's own English dictionary is replaced by the
dictionary word those confusions reach from it, when exactly one does (one or
two letters changed); otherwise it is left alone. Only capital words of three
or more characters are touched: lower-case text is not comic lettering, and a
short word reaches too many words.

The dictionary is Tesseract's own ``eng`` word list (comic2pdf.ocr.words).
"""

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from itertools import combinations, product

from comic2pdf.ocr.tesseract import Word
from comic2pdf.ocr.words import english_words

log = logging.getLogger(__name__)

#: What a misread character may truly be, in comic lettering.
CONFUSIONS = {"O": "D", "P": "D", "G": "S", "Z": "RE", "2": "R", "B": "R", "#": "H", "4": "H"}
CONFUSIONS["V"] = "M"
#: Most characters changed in one word.
MAX_CHANGES = 2
#: Shortest word repaired.
MIN_LENGTH = 3

_SPLIT = re.compile(r"^([^A-Za-z0-9#]*)([A-Z0-9#']*?)([^A-Za-z0-9#]*)$")


def repair_words(words: Sequence[Word], *, languages: Sequence[str]) -> list[Word]:
    """*words* with comic-font confusions repaired (English pages only)."""
    if "eng" not in languages or not any(_capital_word(word.text) for word in words):
        return list(words)  # no capital word to check: no need for the word list
    known = english_words()
    return [replace(word, text=repaired(word.text, known)) for word in words]


def repaired(text: str, known: frozenset[str]) -> str:
    """*text* with its word replaced by the one dictionary word its confusions reach."""
    parts = _capital_word(text)
    if parts is None or parts[1].lower() in known:
        return text
    before, core, after = parts
    found = reachable(core, known)
    return before + found.pop() + after if len(found) == 1 else text


def _capital_word(text: str) -> tuple[str, str, str] | None:
    """(punctuation before, word, punctuation after) of a capital word long enough to repair."""
    parts = _SPLIT.match(text)
    if parts is None:
        return None
    before, core, after = parts.groups()
    if len(core) < MIN_LENGTH or not any(c.isalpha() for c in core):
        return None
    return before, core, after


def reachable(core: str, known: frozenset[str]) -> set[str]:
    """Dictionary words *core* becomes with the fewest confusions undone."""
    places = [i for i, c in enumerate(core) if c in CONFUSIONS]
    for changes in range(1, MAX_CHANGES + 1):
        found = set()
        for chosen in combinations(places, changes):
            for letters in product(*(CONFUSIONS[core[i]] for i in chosen)):
                chars = list(core)
                for i, letter in zip(chosen, letters, strict=True):
                    chars[i] = letter
                candidate = "".join(chars)
                if candidate.lower() in known:
                    found.add(candidate)
        if found:
            return found
    return set()
