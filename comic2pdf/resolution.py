"""The resolution a page image is declared at in ``raw.pdf``.

The declared DPI sets the PDF page size and is the DPI ocrmypdf hands
Tesseract. Tesseract's layout analysis judges text by its size in points:
comic lettering a few pixels tall declared at 300 DPI looks like specks of
noise and is dropped. So every page gets a resolution that makes it the size
of a printed comic: the image's own DPI when that is plausible, else one
estimated from its pixel size.

A page or a strip is printed across a comic page's width unless that makes
it taller than the page; a landscape image no wider than two pages is a
double-page spread. A strip's own DPI may make it up to three pages wide, as
newspapers printed them. The forced value of ``OCR_DPI`` overrides all of this.
"""

import logging
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from comic2pdf.errors import ImageTooLarge

log = logging.getLogger(__name__)

#: A printed US comic book page (trim size), in inches: width, height.
PRINTED_PAGE = (6.6, 10.2)

#: A landscape image at most this wide for its height is a double-page spread.
SPREAD_ASPECT = 2.0

#: Resolutions outside these are never declared (Tesseract takes nothing below 70).
MIN_DPI, MAX_DPI = 72, 1200

#: A declared resolution is believed when it makes the page within this factor
#: of the printed size: a scan's DPI is, a phone's or an editor's default
#: (72, 96) or a screen render's (38 DPI = 15 dots/cm) is mostly not.
PLAUSIBLE_FACTOR = 1.5

#: Newspapers printed strips up to about three comic pages wide (a 1915 daily
#: across a whole page), so a strip's own DPI is believed that much lower.
STRIP_WIDTH_FACTOR = 3.0

#: EXIF orientations that turn the image a quarter (img2pdf honours them).
QUARTER_TURNS = frozenset({5, 6, 7, 8})


def page_dpi(*, pixels: tuple[int, int], declared: tuple[float, float] | None) -> int:
    """The whole DPI to declare a page of *pixels* (width, height) at.

    *declared* is the image's own (x, y) resolution, if it has one.
    """
    estimate = estimated_dpi(pixels)
    if declared is not None and plausible(declared, estimate=estimate, strip=is_strip(pixels)):
        return round(declared[0])
    return estimate


def is_strip(pixels: tuple[int, int]) -> bool:
    width, height = pixels
    return width > height * SPREAD_ASPECT


def estimated_dpi(pixels: tuple[int, int]) -> int:
    """The DPI that prints the image as a comic page, a spread or a strip."""
    width, height = pixels
    page_width, page_height = PRINTED_PAGE
    if height < width and not is_strip(pixels):
        page_width *= 2  # two pages side by side
    dpi = max(width / page_width, height / page_height)
    return min(MAX_DPI, max(MIN_DPI, round(dpi)))


def plausible(declared: tuple[float, float], *, estimate: int, strip: bool = False) -> bool:
    """Whether a declared resolution is square, in range and near the printed size."""
    x, y = declared
    if not (MIN_DPI <= x <= MAX_DPI) or abs(x - y) > 0.01 * x:
        return False
    lowest = estimate / PLAUSIBLE_FACTOR / (STRIP_WIDTH_FACTOR if strip else 1)
    return lowest <= x <= estimate * PLAUSIBLE_FACTOR


def image_dpi(image: Path, *, forced: int = 0) -> int:
    """The DPI to declare *image* at: *forced* when not 0, else decided by ``page_dpi``.

    Reads the header only. A file Pillow cannot identify (img2pdf may still
    embed it) gets the estimate of an ordinary page; one over Pillow's pixel
    limit raises ``ImageTooLarge``.
    """
    if forced:
        return forced
    try:
        with Image.open(image) as im:
            pixels = im.size
            declared = im.info.get("dpi")
            if im.getexif().get(0x0112) in QUARTER_TURNS:
                pixels = (pixels[1], pixels[0])
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e), path=image) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        # Deliberate fallback: img2pdf decides whether the file is usable at all.
        log.debug("%s: no header Pillow can read (%s); assuming a comic page", image.name, e)
        return estimated_dpi((1000, 1500))
    dpi = page_dpi(pixels=pixels, declared=_pair(declared))
    log.debug("%s: %dx%d px, declared %s, declared in the PDF at %d DPI", image.name,
              *pixels, declared, dpi)  # fmt: skip
    return dpi


def _pair(declared: object) -> tuple[float, float] | None:
    """Pillow's ``info["dpi"]`` as two floats, or None when absent or malformed."""
    if not isinstance(declared, tuple) or len(declared) != 2:
        return None
    try:
        return float(declared[0]), float(declared[1])
    except (TypeError, ValueError):
        return None
