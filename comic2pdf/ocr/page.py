"""Read one comic page: its regions first, then the rest of the page; repair the words."""

import logging
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import numpy as np

from comic2pdf.errors import StageTimeout
from comic2pdf.ocr.reading import read_regions, read_rest
from comic2pdf.ocr.regions import (
    MIN_TALLEST_LETTER_PX,
    Region,
    find_balloons,
    find_lettering,
    letter_heights,
    paper_level,
)
from comic2pdf.ocr.repair import repair_words
from comic2pdf.ocr.tesseract import Word

log = logging.getLogger(__name__)

#: Regions whose letters are less than this fraction of the page's usual height are art.
SPECK_RATIO = 0.5

#: Letter height assumed for a page where none can be measured (a page at ~72 dpi).
DEFAULT_LETTER_PX = 10.0


def read_page(
    gray: np.ndarray, *, languages: Sequence[str], timeout: float, workdir: Path
) -> list[Word]:
    """Every word found on the gray page, boxes in page pixels.

    *timeout* bounds each Tesseract run. A run past it is killed and its part
    of the page stays without words, as ocrmypdf's own engine leaves a page
    whose Tesseract timed out (``--tesseract-timeout``): the page is counted
    as without text, the comic goes on.
    """
    regions = find_balloons(gray)
    regions = drop_specks(regions + find_lettering(gray, regions))
    words = []
    try:
        words += read_regions(gray, regions, languages=languages, timeout=timeout, workdir=workdir)
        words += read_rest(
            gray,
            regions,
            letter_height=page_letter_height(gray, regions),
            languages=languages,
            timeout=timeout,
            workdir=workdir,
        )
    except StageTimeout as e:
        log.warning("%s: the rest of this page stays without text", e)
    return repair_words(words, languages=languages)


def drop_specks(regions: list[Region]) -> list[Region]:
    """*regions* without those whose "letters" are far smaller than the page's lettering.

    Art with a few small light holes passes for a tiny balloon; a page is
    lettered at about one size.
    """
    if not regions:
        return regions
    typical = float(np.median([region.letter_height for region in regions]))
    return [region for region in regions if region.letter_height >= SPECK_RATIO * typical]


def page_letter_height(gray: np.ndarray, regions: Sequence) -> float:
    """The page's usual letter height: from its balloons, else from its dark components."""
    if regions:
        return float(np.median([region.letter_height for region in regions]))
    ink = (gray < 0.5 * paper_level(gray)).astype(np.uint8)
    heights = letter_heights(ink, max_height=max(MIN_TALLEST_LETTER_PX, gray.shape[0] // 25))
    return float(np.median(heights)) if heights else DEFAULT_LETTER_PX


def lines_of(words: Sequence[Word]) -> list[list[Word]]:
    """The words grouped by the line they were read in, in reading order.

    A region's lines stay together in Tesseract's order, placed on the page
    by the region's top left corner; lines of the rest of the page by their own.
    """
    ordered = sorted(words, key=lambda word: word.line)
    lines = [
        sorted(group, key=lambda word: word.box[0])
        for _, group in groupby(ordered, key=lambda word: word.line)
    ]
    corners: dict[int, tuple[int, int]] = {}
    for word in words:
        top, left = corners.get(word.line[0], (word.box[1], word.box[0]))
        corners[word.line[0]] = (min(top, word.box[1]), min(left, word.box[0]))

    def place(line: list[Word]) -> tuple[int, int, int]:
        image, number = line[0].line
        if image < 0:  # the rest of the page: each line on its own
            return line[0].box[1], line[0].box[0], 0
        return *corners[image], number

    return sorted(lines, key=place)


def page_text(words: Sequence[Word]) -> str:
    """Plain text of the page, one line per line read."""
    return "".join(" ".join(word.text for word in line) + "\n" for line in lines_of(words))
