"""Tesseract as the comic engine runs it: images in, words with their boxes out.

Tesseract runs through ``comic2pdf.proc.run`` with a timeout, in the caller's
process group (``new_session=False``): this code runs inside the OCR child,
whose whole group is killed when the OCR stage times out.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from comic2pdf import proc
from comic2pdf.errors import OcrFailed

#: Declared resolution of the images we hand Tesseract (it only tunes heuristics).
DPI = 300
#: libtiff's code for "no compression".
TIFF_UNCOMPRESSED = 1


@dataclass(frozen=True)
class Word:
    """A recognised word and its box in page pixels."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    confidence: float  # 0..100
    line: tuple[int, int]  # (image, line) it was read in: words of one line share it


def write_image(path: Path, image: np.ndarray) -> None:
    """Save *image* as an uncompressed TIFF for Tesseract (*path* should end ``.tif``).

    Tesseract takes as long to read it as a PNG, and it costs nothing to
    write: compressing a page-sized PNG took ~30 ms of CPU per page, a page
    worker's time, for a file deleted a moment later. Encoded in memory and
    written by Python: cv2.imwrite only returns False on a full disk, this
    raises OSError (ENOSPC) as every other write does.
    """
    ok, data = cv2.imencode(".tif", image, [cv2.IMWRITE_TIFF_COMPRESSION, TIFF_UNCOMPRESSED])
    if not ok:
        raise ValueError(f"OpenCV could not encode {path.name} as TIFF")
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
