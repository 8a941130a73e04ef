"""Tesseract on a comic page's regions, then on the rest of the page.

Two or three Tesseract runs per page, whatever the number of balloons:

1. **Regions**: each region is cut out, everything outside it painted white,
   its paper made white, scaled so its letters are ~``LETTER_TARGET_PX`` tall
   (never scaled down), and written as an image; Tesseract reads the list of
   images in one run (a list file: one process, the model loaded once) as
   uniform blocks of text (``--psm 6``). A process per balloon would cost
   ~0.1 CPU s each in start-up alone; a mosaic of all balloons in one image
   would let Tesseract's layout analysis join lines of neighbouring balloons.
   The regions whose reading has a doubted word (or none) are read once more,
   widened a little, in a second run.
2. **The rest**: the page with the regions blanked, read sparsely
   (``--psm 11``) with Sauvola thresholding, which copes with colour art;
   only confident words are kept, since art read as text is garbage in the layer.

Every box is mapped back to page pixels. Tesseract runs through
comic2pdf.ocr.tesseract.
"""

import logging
import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from comic2pdf.ocr.regions import Region, grown
from comic2pdf.ocr.tesseract import Word, tesseract_words, write_image
from comic2pdf.ocr.words import is_known, known_words

log = logging.getLogger(__name__)

#: Height, in pixels, letters are scaled to before Tesseract reads them.
LETTER_TARGET_PX = 28.0
#: Most a region is scaled up (tiny specks would become huge).
MAX_SCALE = 4.0
#: How far, in letter heights, the second reading of a region reaches beyond it.
GROW_BY = 0.4
#: The widened reading must hold this much more confident text to be chosen.
WIDER_WINS_BY = 1.1
#: A region whose first reading has every word at least this confident is not read widened.
SURE_CONFIDENCE = 80.0
#: White margin around each region image, in pixels after scaling.
MARGIN_PX = 20
#: Words of the sparse rest-of-page pass below this confidence are dropped.
REST_MIN_CONFIDENCE = 75.0
#: A region whose words average below this confidence is art read as letters: dropped.
REGION_MIN_MEAN = 50.0
#: Words inside regions below this confidence are dropped (near-certain noise), unless
#: they are dictionary words: Tesseract doubts a word over a glyph that is both l and I.
REGION_MIN_CONFIDENCE = 20.0
#: Largest image (pixels) the rest-of-page pass gives Tesseract.
REST_MAX_PIXELS = 3_000_000

_WORDISH = re.compile(r"[A-Za-z0-9]")


def scale_for(letter_height: float) -> float:
    """How much to enlarge lettering of *letter_height* px: up to the target, never down."""
    return float(np.clip(LETTER_TARGET_PX / max(letter_height, 1.0), 1.0, MAX_SCALE))


def region_image(gray: np.ndarray, region: Region) -> tuple[np.ndarray, float]:
    """The region cut out, outside painted white, scaled and given a margin."""
    left, top, right, bottom = region.box
    crop = gray[top:bottom, left:right].astype(np.float32)
    # The region's own paper becomes white: on gray newsprint, a white outside
    # would make Tesseract's threshold fall between paper and outside.
    paper = max(1.0, float(np.percentile(crop[region.mask], 90)))
    crop = np.where(region.mask, np.clip(crop * (255.0 / paper), 0, 255), 255).astype(np.uint8)
    scale = scale_for(region.letter_height)
    if scale > 1.0:
        crop = np.asarray(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    return np.pad(crop, MARGIN_PX, constant_values=255), scale


def read_regions(
    gray: np.ndarray,
    regions: Sequence[Region],
    *,
    languages: Sequence[str],
    timeout: float,
    workdir: Path,
) -> list[Word]:
    """Read every region, as found then widened where doubted; boxes in page pixels.

    A region is read widened too (a thin first letter of a line of plain
    lettering, a letter the outline cuts, may be missing from the first reading;
    a piece of outline may spoil the second) when its first reading has a word
    Tesseract doubts; the reading with clearly more confident text wins. A
    region read with every word sure is not read
    again: on comics-dev the widened reading never won there with a real word.
    (An empty first reading is read widened: skipping those lost two words.)
    """
    known = known_words(languages)
    read_all = partial(
        _read_all, gray, languages=languages, timeout=timeout, workdir=workdir, known=known
    )
    found = read_all(regions, name="found")
    doubted = [index for index, (read, _) in enumerate(found) if _doubted(read)]
    widened = read_all([grown(regions[i], gray.shape, by=GROW_BY) for i in doubted], name="widened")
    choices = [[reading] for reading in found]
    for index, reading in zip(doubted, widened, strict=True):
        choices[index].append(reading)
    words = []
    for index, readings in enumerate(choices):
        read, place = _better_reading(readings, known)
        if not read or np.mean([w.confidence for w in read]) < REGION_MIN_MEAN:
            continue  # art taken for lettering reads as garbage Tesseract doubts
        words += [_to_page(word, **place, line=(index, word.line[1])) for word in read]
    return words


def _doubted(read: list[Word]) -> bool:
    """Whether a region's reading is empty or has a word below ``SURE_CONFIDENCE``."""
    return not read or any(word.confidence < SURE_CONFIDENCE for word in read)


def _read_all(
    gray: np.ndarray,
    regions: Sequence[Region],
    *,
    name: str,
    languages: Sequence[str],
    timeout: float,
    workdir: Path,
    known: frozenset[str],
) -> list[tuple[list[Word], dict]]:
    """Each region's words (in its image's pixels) and how to place them on the page.

    All regions in one Tesseract run (a list file of images).
    """
    if not regions:
        return []
    places, paths = [], []
    for index, region in enumerate(regions):
        image, scale = region_image(gray, region)
        path = workdir / f"{name}-{index:03d}.tif"
        write_image(path, image)
        places.append({"scale": scale, "offset": region.box[:2], "margin": MARGIN_PX})
        paths.append(path)
    listing = workdir / f"{name}.txt"
    listing.write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
    read: list[list[Word]] = [[] for _ in regions]
    for word in tesseract_words(listing, psm=6, languages=languages, timeout=timeout):
        if word.confidence >= REGION_MIN_CONFIDENCE or is_known(word.text, known):
            read[word.line[0]].append(word)
    return list(zip(read, places, strict=True))


def _better_reading(
    readings: list[tuple[list[Word], dict]], known: frozenset[str]
) -> tuple[list[Word], dict]:
    """The first reading (as found), or the widened one if it holds clearly more text."""
    if len(readings) == 1:
        return readings[0]
    found, widened = (_confident_letters(read, known) for read, _ in readings)
    return readings[1] if widened > WIDER_WINS_BY * found else readings[0]


def _confident_letters(words: list[Word], known: frozenset[str]) -> float:
    """How much text a reading holds, weighted by Tesseract's confidence.

    A dictionary word counts as certain, whatever Tesseract's confidence: one
    reading's "lighthouse" at 14 beat another's "lignthouse" at 88.
    """
    certainty = [1.0 if is_known(word.text, known) else word.confidence / 100 for word in words]
    return sum(
        len(_WORDISH.findall(word.text)) * sure for word, sure in zip(words, certainty, strict=True)
    )


def read_rest(
    gray: np.ndarray,
    regions: Sequence[Region],
    *,
    letter_height: float,
    languages: Sequence[str],
    timeout: float,
    workdir: Path,
) -> list[Word]:
    """Read the page outside *regions* sparsely; only confident words."""
    rest = gray.copy()
    for region in regions:
        left, top, right, bottom = region.box
        rest[top:bottom, left:right][region.mask] = 255
    scale = scale_for(letter_height)
    scale = min(scale, max(1.0, (REST_MAX_PIXELS / rest.size) ** 0.5))
    if scale > 1.0:
        rest = cv2.resize(rest, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    path = workdir / "rest.tif"
    write_image(path, rest)
    found = tesseract_words(
        path, psm=11, languages=languages, timeout=timeout, config=("thresholding_method=2",)
    )
    return [
        _to_page(word, scale=scale, offset=(0, 0), line=(-1, word.line[1]))
        for word in found
        if word.confidence >= REST_MIN_CONFIDENCE and _looks_like_a_word(word.text)
    ]


def _looks_like_a_word(text: str) -> bool:
    letters = len(_WORDISH.findall(text))
    return (letters >= 2 and letters >= 0.6 * len(text)) or text in ("I", "A", "a")


def _to_page(
    word: Word,
    *,
    scale: float,
    offset: tuple[int, int],
    margin: int = 0,
    line: tuple[int, int] | None = None,
) -> Word:
    """*word* with its box moved from a (scaled, margined) cut-out to page pixels."""
    left, top, right, bottom = ((value - margin) / scale for value in word.box)
    box = (
        offset[0] + int(left),
        offset[1] + int(top),
        offset[0] + int(np.ceil(right)),
        offset[1] + int(np.ceil(bottom)),
    )
    return Word(word.text, box, word.confidence, line or word.line)
