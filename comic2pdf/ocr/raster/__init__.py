"""ocrmypdf plugin: rasterize a one-image page by decoding the image at Tesseract's size.

For each page ocrmypdf renders the PDF page at the image's resolution and saves
a PNG; Tesseract's downsampling (``--tesseract-downsample-above``) then reads it,
shrinks it and saves it again. On a 1600x2400 page that costs about as much CPU
as Tesseract itself. A page of our ``raw.pdf`` is one image drawn over the whole
page, so when that image is a JPEG the same picture comes from decoding the JPEG
straight at the reduced size (libjpeg scales by 1/2, 1/4 or 1/8 while decoding)
and writing a quickly compressed PNG. A Flate image (a PNG of the archive, which
img2pdf embeds as it is) is handed over with its own samples, as Tesseract
would read the PNG: rendering applied its ICC profile and gamma (``page``).

The PNG's resolution is what places the text layer: ocrmypdf maps Tesseract's
word boxes onto the page with it (pixels x 72 / DPI = points). Tesseract reports
a whole number of DPI, so the image is sized for a whole DPI and the words land
where they are on the page.

Every page this cannot render the way ocrmypdf would gets None, and ocrmypdf's
own rasterizer runs: anything drawn besides the one image, a /Rotate or an
orientation correction, colour that is not plain gray or RGB (CMYK, Adobe
inverted JPEGs, /Decode, masks, palettes), other than 8 bits, an image Pillow
cannot decode, ``--oversample``, and options that make the raster the visible page
(``--deskew``, ``--clean-final``, ``--force-ocr``…) or choose a rasterizer.

Loaded in the OCR child with ``--plugin comic2pdf.ocr.raster`` (OcrOptions.fast_raster).
"""

import io
import logging
import math
from pathlib import Path

from ocrmypdf import OcrOptions as OcrmypdfOptions
from ocrmypdf import hookimpl
from ocrmypdf.helpers import Resolution
from PIL import Image

from comic2pdf.ocr.raster.page import ImagePage, read_image_page

log = logging.getLogger(__name__)

#: ocrmypdf raster devices this plugin produces, as the Pillow mode of the PNG.
DEVICE_MODES = {"png16m": "RGB", "pnggray": "L"}

#: (image mode, PNG mode) pairs that keep every value (gray to RGB repeats it).
#: CMYK or RGB to gray is left to ocrmypdf, which applies the PDF's colour rules.
CONVERSIONS = frozenset({("RGB", "RGB"), ("L", "L"), ("L", "RGB")})

#: The plugin of the comic engine, as given to ocrmypdf (comic2pdf.ocr.options).
ENGINE_PLUGIN = "comic2pdf.ocr.engine"

#: The largest side Tesseract takes (ocrmypdf caps --tesseract-downsample-above there).
TESSERACT_MAX_SIDE = 32767


@hookimpl
def rasterize_pdf_page(
    input_file: Path,
    output_file: Path,
    raster_device: str,
    raster_dpi: Resolution,
    pageno: int,
    page_dpi: Resolution | None,
    rotation: int | None,
    filter_vector: bool,
    stop_on_soft_error: bool,
    options: OcrmypdfOptions | None,
    use_cropbox: bool,
) -> Path | None:
    """Write the page's image at Tesseract's size as a PNG; None lets ocrmypdf rasterize."""
    mode = DEVICE_MODES.get(str(raster_device))
    if mode is None or rotation or use_cropbox or not options_allow(options):
        return None
    page = read_image_page(Path(input_file), pageno)
    if page is None or (page.mode, mode) not in CONVERSIONS:
        log.debug("page %d is not one plain image: ocrmypdf rasterizes it", pageno)
        return None
    if not _asks_for_image_dpi(page, raster_dpi, page_dpi):
        return None
    if comic_engine_reads(options):
        mode = "L"
    return write_png(page, Path(output_file), mode=mode, dpi=target_dpi(page, options))


def comic_engine_reads(options: OcrmypdfOptions | None) -> bool:
    """Whether the raster goes to the comic engine (comic2pdf.ocr.engine), which reads gray.

    The engine opens the PNG and converts it to gray with Pillow: the same
    conversion done here gives it the same pixels, and a gray PNG is about a
    third of the RGB one's cost to write and read (~0.13 CPU s a 1600x2400 page).
    """
    if options is None or options.ocr_engine != "auto":
        return False  # --ocr-engine tesseract: ocrmypdf's Tesseract reads the raster
    return ENGINE_PLUGIN in [str(plugin) for plugin in options.plugins or ()]


def options_allow(options: OcrmypdfOptions | None) -> bool:
    """Whether ocrmypdf uses the raster for OCR only, rendered by its default rasterizer.

    With --deskew, --clean-final, --remove-background or a force mode the
    raster becomes the visible page, which must stay full size; --clean runs
    unpaper on it; an explicit --rasterizer is the user's choice.
    """
    if options is None:
        return False
    return options.lossless_reconstruction and not options.clean and options.rasterizer == "auto"


def _asks_for_image_dpi(
    page: ImagePage, raster_dpi: Resolution, page_dpi: Resolution | None
) -> bool:
    """Whether ocrmypdf renders at the image's own DPI (not --oversample, no /UserUnit)."""
    wanted = [raster_dpi.x, raster_dpi.y, *([page_dpi.x, page_dpi.y] if page_dpi else [])]
    return all(math.isclose(float(value), page.dpi, rel_tol=1e-3) for value in wanted)


def downsample_limit(options: OcrmypdfOptions | None) -> int | None:
    """The longest side Tesseract's downsampling allows, or None when it is off.

    The same rule as ocrmypdf's Tesseract plugin (``filter_ocr_image``), which
    still runs on our image and then finds nothing left to do.
    """
    tesseract = getattr(options, "tesseract", None)  # the Tesseract plugin's option namespace
    if tesseract is None or not tesseract.downsample_large_images:
        return None
    return min(tesseract.downsample_above, TESSERACT_MAX_SIDE)


def target_dpi(page: ImagePage, options: OcrmypdfOptions | None) -> int:
    """The whole DPI to rasterize at: the image's own, or less to fit the downsampling limit.

    Whole because Tesseract reports the image's DPI as a whole number (hOCR
    ``scan_res``) and ocrmypdf places the words with that number.
    """
    dpi = page.dpi
    limit = downsample_limit(options)
    if limit:
        dpi = min(dpi, limit * 72 / max(page.points))
    return max(1, math.floor(dpi + 1e-3))


# --- writing the raster --------------------------------------------------------------


def write_png(page: ImagePage, output_file: Path, *, mode: str, dpi: int) -> Path | None:
    """Save the image decoded at *dpi* as a fast PNG declaring *dpi*; None if Pillow fails."""
    size = page.size_at(dpi)
    try:
        image = decode(page, size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # Deliberate fallback: an image Pillow cannot decode (12-bit or lossless
        # JPEG, damaged) goes to ocrmypdf's rasterizer, which decodes it or reports it.
        log.debug("Pillow cannot decode this page's image (%s): ocrmypdf rasterizes it", e)
        return None
    if image is None:
        return None
    if image.mode != mode:
        image = image.convert(mode)
    image.save(output_file, format="PNG", compress_level=1, dpi=(dpi, dpi))
    return output_file


def decode(page: ImagePage, size: tuple[int, int]) -> Image.Image | None:
    """The image at *size*, or None if it is not what the PDF says it is.

    For a JPEG, ``draft`` makes libjpeg decode at the smallest of 1/1, 1/2, 1/4
    or 1/8 scale that is still at least *size*; a resize does the rest.
    """
    if not page.jpeg:
        # Raises ValueError when the samples are fewer than the PDF says.
        image = Image.frombytes(page.mode, page.pixels, page.data)
        return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)
    with Image.open(io.BytesIO(page.data), formats=["JPEG"]) as image:
        if image.size != page.pixels or image.mode != page.mode:
            return None
        image.draft(image.mode, size)
        image.load()  # the pixels stay usable once the (in-memory) file is closed
        if image.size == size:
            return image
        return image.resize(size, Image.Resampling.BICUBIC)
