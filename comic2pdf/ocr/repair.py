"""Dictionary repair of the letters comic fonts make Tesseract confuse.

Hand and comic lettering (all capitals) is read with a few steady confusions:
a D read as O or P, S as G, R as Z, 2 or B, H as # or 4, M as V, E as Z. A
word that is not in Tesseract's own English dictionary is replaced by the
dictionary word those confusions reach from it, when exactly one does (one or
two letters changed); otherwise it is left alone. Only capital words of three
or more characters are touched: lower-case text is not comic lettering, and a
short word reaches too many words.

The dictionary is Tesseract's ``eng`` word list, unpacked from its traineddata
with ``combine_tessdata`` and ``dawg2wordlist`` (no download, no file of ours)
the first time, then read from the user's cache folder (~0.4 CPU s saved in each
of ocrmypdf's page workers), one file per traineddata size and time: a new
Tesseract model is unpacked again. Shipping a list made at build time would tie
it to the model the build saw; the cache follows the model installed.
"""

import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from itertools import combinations, product
from pathlib import Path

from comic2pdf import proc
from comic2pdf.errors import ToolError
from comic2pdf.ocr.reading import Word

log = logging.getLogger(__name__)

#: What a misread character may truly be, in comic lettering.
CONFUSIONS = {"O": "D", "P": "D", "G": "S", "Z": "RE", "2": "R", "B": "R", "#": "H", "4": "H"}
CONFUSIONS["V"] = "M"
#: Most characters changed in one word.
MAX_CHANGES = 2
#: Shortest word repaired.
MIN_LENGTH = 3
#: Where unpacked word lists are kept between processes (the user's cache folder).
CACHE_DIR = Path.home() / ".cache" / "comic2pdf"
#: Seconds each unpacking tool may take.
TOOL_TIMEOUT = 60.0

_SPLIT = re.compile(r"^([^A-Za-z0-9#]*)([A-Z0-9#']*?)([^A-Za-z0-9#]*)$")
_TESSDATA = re.compile(r'languages in "(.+?)"')


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


@cache
def english_words() -> frozenset[str]:
    """Tesseract's English word list, lower case; empty if it cannot be unpacked.

    Repair is a refinement: a Tesseract install without the tools or the list
    only loses it (logged), the page is still read.
    """
    try:
        traineddata = tessdata() / "eng.traineddata"
        cached = cache_file(traineddata)
        if cached.is_file():
            text = cached.read_text(encoding="utf-8")
        else:
            text = unpack_words(traineddata)
            store(cached, text)
    except (OSError, ValueError, ToolError) as e:
        log.warning("no word repair: Tesseract's English word list is unavailable (%s)", e)
        return frozenset()
    return frozenset(text.split())


def cache_file(traineddata: Path) -> Path:
    """Where the list unpacked from *traineddata* is kept: a new Tesseract model, a new file."""
    stat = traineddata.stat()
    return CACHE_DIR / f"{traineddata.stem}-words-{stat.st_size}-{stat.st_mtime_ns}.txt"


def store(path: Path, text: str) -> None:
    """Keep *text* at *path* for the next process; without a writable cache, do without."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, suffix=".part", delete=False
        ) as part:
            part.write(text)
        Path(part.name).replace(path)  # atomic: page workers may race to write it
    except OSError as e:
        log.info("Tesseract's word list is not cached (%s): unpacked again next time", e)


def tessdata() -> Path:
    """The folder Tesseract loads its models from."""
    listing: list[str] = []
    proc.run(
        ["tesseract", "--list-langs"],
        timeout=TOOL_TIMEOUT,
        on_stdout_line=listing.append,
        new_session=False,
    )
    where = next((m.group(1) for line in listing if (m := _TESSDATA.search(line))), None)
    if where is None:
        raise ValueError("tesseract --list-langs names no tessdata folder")
    return Path(where)


def unpack_words(traineddata: Path) -> str:
    """The word list inside *traineddata*, lower case, one word a line."""
    with tempfile.TemporaryDirectory(prefix="comic2pdf-words-") as scratch:
        folder = Path(scratch)
        # combine_tessdata picks the component by the file name's suffix.
        dawg, charset = folder / "eng.lstm-word-dawg", folder / "eng.lstm-unicharset"
        out = folder / "words.txt"
        steps: list[list[str | Path]] = [
            ["combine_tessdata", "-e", traineddata, dawg, charset],
            ["dawg2wordlist", charset, dawg, out],
        ]
        for argv in steps:
            done = proc.run(argv, timeout=TOOL_TIMEOUT, on_stderr_line=_quiet, new_session=False)
            if done.returncode != 0:
                raise ValueError(f"{argv[0]} exited {done.returncode}")
        text = out.read_text(encoding="utf-8", errors="replace")
    return "".join(f"{word.lower()}\n" for word in text.split())


def _quiet(line: str) -> bool:
    return True  # the tools' chatter (sizes, offsets) is not worth a log line
