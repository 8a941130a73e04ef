"""Tesseract's own English word list: the dictionary of word repair and of reading choices.

Unpacked from ``eng.traineddata`` with ``combine_tessdata`` and ``dawg2wordlist``
(no download, no file of ours) the first time, then read from the user's cache
folder (~0.4 CPU s saved in each of ocrmypdf's page workers), one file per
traineddata size and time: a new Tesseract model is unpacked again. Shipping a
list made at build time would tie it to the model the build saw; the cache
follows the model installed.
"""

import logging
import re
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from comic2pdf import proc
from comic2pdf.errors import ToolError

log = logging.getLogger(__name__)

#: Where unpacked word lists are kept between processes (the user's cache folder).
CACHE_DIR = Path.home() / ".cache" / "comic2pdf"
#: Seconds each unpacking tool may take.
TOOL_TIMEOUT = 60.0
#: Shortest word that counts as known: short ones are too easily formed by noise.
MIN_KNOWN_LENGTH = 3

_TESSDATA = re.compile(r'languages in "(.+?)"')
_EDGES = "\"'.,;:!?()[]“”‘’«»-"


def known_words(languages: Sequence[str]) -> frozenset[str]:
    """The dictionary for pages in *languages*: English only, else none."""
    return english_words() if "eng" in languages else frozenset()


def is_known(text: str, known: frozenset[str]) -> bool:
    """Whether *text*, without its punctuation, is a dictionary word long enough to trust."""
    core = text.strip(_EDGES).lower()
    return len(core) >= MIN_KNOWN_LENGTH and core in known


@cache
def english_words() -> frozenset[str]:
    """Tesseract's English word list, lower case; empty if it cannot be unpacked.

    Repair and reading choices are refinements: a Tesseract install without the
    tools or the list only loses them (logged), the page is still read.
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
