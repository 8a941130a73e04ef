"""Tesseract on a comic page's regions, then on the rest of the page.

Two Tesseract runs per page, whatever the number of balloons:

1. **Regions**: each region is cut out, everything outside it painted white,
   its paper made white, scaled so its letters are ~``LETTER_TARGET_PX`` tall
   (never scaled down), and written as an image, twice: as found and widened
   a little; Tesseract reads the list of images in one run
   (a list file: one process, the model loaded once) as uniform blocks of text
   (``--psm 6``). A process per balloon would cost ~0.1 CPU s each in start-up
   alone; a mosaic of all balloons in one image would let Tesseract's layout
   analysis join lines of neighbouring balloons.
2. **The rest**: the page with the regions blanked, read sparsely
   (``--psm 11``) with Sauvola thresholding, which copes with colour art;
   only confident words are kept, since art read as text is garbage in the layer.

Every box is mapped back to page pixels. Tesseract runs through
``comic2pdf.proc.run`` with a timeout, in the caller's process group
(``new_session=False``): this code runs inside the OCR child, whose whole group
is killed when the OCR stage times out.
"""

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from comic2pdf import proc
from comic2pdf.errors import OcrFailed
from comic2pdf.ocr.regions import Region, grown
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
#: Declared resolution of the images we hand Tesseract (it only tunes heuristics).
DPI = 300

_WORDISH = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class Word:
    """A recognised word and its box in page pixels."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    confidence: float  # 0..100
    line: tuple[int, int]  # (image, line) it was read in: words of one line share it


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
    """Read every region in one Tesseract run; boxes in page pixels.

    Every region is read twice in that run: as found, and widened (a thin first
    letter of a line of plain lettering, a letter the outline cuts, may be
    missing from the first; a piece of outline may spoil the second); the
    reading with clearly more confident text wins.
    """
    readings = [[region, grown(region, gray.shape, by=GROW_BY)] for region in regions]
    variants = [variant for versions in readings for variant in versions]
    if not variants:
        return []
    scales, paths = [], []
    for index, region in enumerate(variants):
        image, scale = region_image(gray, region)
        path = workdir / f"region-{index:03d}.png"
        write_png(path, image)
        scales.append(scale)
        paths.append(path)
    listing = workdir / "regions.txt"
    listing.write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
    known = known_words(languages)
    read: dict[int, list[Word]] = {index: [] for index in range(len(variants))}
    for word in tesseract_words(listing, psm=6, languages=languages, timeout=timeout):
        if word.confidence >= REGION_MIN_CONFIDENCE or is_known(word.text, known):
            read[word.line[0]].append(word)
    words = []
    for first in range(0, len(variants), 2):
        best = _better_reading(read, first, known)
        region, scale = variants[best], scales[best]
        if not read[best] or np.mean([w.confidence for w in read[best]]) < REGION_MIN_MEAN:
            continue  # art taken for lettering reads as garbage Tesseract doubts
        words += [
            _to_page(word, scale=scale, offset=region.box[:2], margin=MARGIN_PX)
            for word in read[best]
        ]
    return words


def _better_reading(read: dict[int, list[Word]], index: int, known: frozenset[str]) -> int:
    """*index* (the region as found) or *index* + 1 (widened), whichever read better."""
    found, widened = (_confident_letters(read[i], known) for i in (index, index + 1))
    return index + 1 if widened > WIDER_WINS_BY * found else index


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
    path = workdir / "rest.png"
    write_png(path, rest)
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


def write_png(path: Path, image: np.ndarray) -> None:
    """Save *image* as a quickly compressed PNG.

    Encoded in memory and written by Python: cv2.imwrite only returns False on
    a full disk, this raises OSError (ENOSPC) as every other write does.
    """
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"OpenCV could not encode {path.name} as PNG")
    path.write_bytes(data.tobytes())


def tesseract_words(
    image: Path,
    *,
    psm: int,
    languages: Sequence[str],
    timeout: float,
    config: Sequence[str] = (),
) -> list[Word]:
    """Words Tesseract reads in *image* (or a list file of images), boxes in its pixels."""
    argv: list[str | Path] = ["tesseract", image, "stdout", "--psm", str(psm), "--dpi", str(DPI)]
    argv += ["-l", "+".join(languages)]
    # Tesseract reads a line it doubts a second time, inverted, for light lettering
    # on dark ground. Regions are made dark on white, and the rest keeps confident
    # words only: that second reading cost ~15 % of the CPU and found no word on
    # comics-dev (README "How comic mode reads a page").
    argv += ["-c", "invert_threshold=0"]
    for setting in config:
        argv += ["-c", setting]
    lines: list[str] = []
    done = proc.run(
        [*argv, "tsv"],
        name="tesseract",
        timeout=timeout,
        # One thread: ocrmypdf already runs pages in parallel, and Tesseract's
        # OpenMP threads spin, costing about twice the CPU for the same words.
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        on_stdout_line=lines.append,
        on_stderr_line=_quiet,
        new_session=False,
    )
    if done.returncode != 0:
        raise OcrFailed(
            f"tesseract exited {done.returncode}: {done.stderr_tail[-200:]}", path=image
        )
    return parse_tsv(lines)


def _quiet(line: str) -> bool:
    # Tesseract's per-image chatter ("Estimating resolution…") is not worth a log line.
    return line.startswith(("Estimating resolution", "Detected ", "Page "))


def parse_tsv(lines: Sequence[str]) -> list[Word]:
    """Words of Tesseract's TSV output; Word.line is (image index from 0, line key)."""
    words = []
    for row in lines[1:]:
        cols = row.split("\t")
        if len(cols) != 12 or cols[0] != "5" or not cols[11].strip():
            continue
        page, block, par, line = (int(c) for c in cols[1:5])
        left, top, width, height = (int(c) for c in cols[6:10])
        key = (page - 1, block * 10_000 + par * 100 + line)
        words.append(
            Word(cols[11].strip(), (left, top, left + width, top + height), float(cols[10]), key)
        )
    return words
