"""ocrmypdf plugin: the comic OCR engine of ``OCR_MODE=comic``.

Loaded in the OCR child with ``--plugin comic2pdf.ocr.engine``. ocrmypdf asks
the last registered plugin for its OCR engine first, so this one replaces the
built-in Tesseract engine for OCR; page orientation and deskew (only with
``--rotate-pages``/``--deskew``) still go to Tesseract as before.

ocrmypdf hands each page image to ``generate_ocr`` (its fpdf2 renderer, the
default, uses that API); the engine reads the page the comic way
(comic2pdf.ocr.page) and returns the words with their boxes in the image's
pixels, which ocrmypdf places on the page with the image's resolution. It runs
in ocrmypdf's page workers, inside the OCR child's process group: the OCR
stage timeout kills it and its Tesseract runs with everything else.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np
from ocrmypdf import OcrEngine, hookimpl
from ocrmypdf._exec import tesseract
from ocrmypdf.models.ocr_element import BoundingBox, OcrClass, OcrElement
from PIL import Image

from comic2pdf.ocr.page import lines_of, page_text, read_page
from comic2pdf.ocr.tesseract import Word

log = logging.getLogger(__name__)

#: Least gap between two words of a line in the text layer, in line heights.
MIN_GAP = 0.2
#: Resolution assumed for an image that declares none (ocrmypdf's rasters always do).
FALLBACK_DPI = 72.0


class ComicOcrEngine(OcrEngine):
    """Tesseract, region by region, the way comics need (see comic2pdf.ocr.reading)."""

    @staticmethod
    def version() -> str:
        return str(tesseract.version())

    @staticmethod
    def creator_tag(options) -> str:
        return f"comic2pdf comic engine + Tesseract OCR {ComicOcrEngine.version()}"

    def __str__(self) -> str:
        return f"comic2pdf comic engine (Tesseract OCR {self.version()})"

    @staticmethod
    def languages(options) -> set[str]:
        return tesseract.get_languages()

    @staticmethod
    def get_orientation(input_file: Path, options):
        return tesseract.get_orientation(
            input_file,
            engine_mode=options.tesseract.oem,
            timeout=options.tesseract.non_ocr_timeout,
            omp_thread_limit=options.tesseract.omp_thread_limit,
        )

    @staticmethod
    def get_deskew(input_file: Path, options) -> float:
        return tesseract.get_deskew(
            input_file,
            languages=options.languages,
            engine_mode=options.tesseract.oem,
            timeout=options.tesseract.non_ocr_timeout,
            omp_thread_limit=options.tesseract.omp_thread_limit,
        )

    @staticmethod
    def supports_generate_ocr() -> bool:
        return True

    @staticmethod
    def generate_ocr(input_file: Path, options, page_number: int = 0) -> tuple[OcrElement, str]:
        """The page's words as ocrmypdf's element tree, and its plain text."""
        with Image.open(input_file) as image:
            dpi = float(image.info.get("dpi", (FALLBACK_DPI,))[0]) or FALLBACK_DPI
            gray = np.asarray(image.convert("L"))
        with tempfile.TemporaryDirectory(prefix="comic-ocr-", dir=Path(input_file).parent) as work:
            words = read_page(
                gray,
                languages=options.languages,
                timeout=options.tesseract.timeout,
                workdir=Path(work),
            )
        log.debug("page %d: %d words", page_number + 1, len(words))
        height, width = gray.shape
        return page_tree(words, width=width, height=height, dpi=dpi), page_text(words)

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options) -> None:
        raise NotImplementedError("the comic engine renders with fpdf2 only (generate_ocr)")

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options) -> None:
        raise NotImplementedError("the comic engine renders with fpdf2 only (generate_ocr)")


def page_tree(words: list[Word], *, width: int, height: int, dpi: float) -> OcrElement:
    """ocrmypdf's tree for a page: one line element per line read, its words inside.

    Text extractors (pdftotext, viewers' search) split words by the gaps
    between the placed glyphs, as fractions of the font size, not by the spaces
    ocrmypdf writes; the tree is shaped so that they find the words as read
    (see ``line_element``).
    """
    lines = [line_element(line) for line in lines_of(words)]
    return OcrElement(
        ocr_class=OcrClass.PAGE,
        bbox=BoundingBox(0, 0, width, height),
        dpi=dpi,
        children=lines,
    )


def line_element(line: list[Word]) -> OcrElement:
    """One line of words, spaced so that text extractors keep its words apart.

    Lettering is often spaced tightly: where Tesseract's boxes of two words
    (nearly) touch, an extractor joins them ("we THINKS" became "weTHINKS"),
    whatever space ocrmypdf writes between them. Each word's box therefore ends
    at least ``MIN_GAP`` line heights before the next word (only the invisible
    text's width changes, the word still starts where it is on the art).
    """
    box = _union(line)
    gap = MIN_GAP * (box.bottom - box.top)
    children = []
    for index, word in enumerate(line):
        left, top, right, bottom = word.box
        if index + 1 < len(line):
            right = max(left + 1, min(right, int(line[index + 1].box[0] - gap)))
        children.append(
            OcrElement(
                ocr_class=OcrClass.WORD,
                bbox=BoundingBox(left, top, right, bottom),
                text=word.text,
                confidence=word.confidence / 100,
            )
        )
    return OcrElement(
        ocr_class=OcrClass.LINE,
        bbox=box,
        children=children,
    )


def _union(words: list[Word]) -> BoundingBox:
    return BoundingBox(
        min(word.box[0] for word in words),
        min(word.box[1] for word in words),
        max(word.box[2] for word in words),
        max(word.box[3] for word in words),
    )


@hookimpl
def get_ocr_engine(options) -> OcrEngine | None:
    """Our engine, unless one was chosen with ``--ocr-engine`` (``tesseract`` is the built-in)."""
    if options is not None and getattr(options, "ocr_engine", "auto") != "auto":
        return None
    return ComicOcrEngine()
