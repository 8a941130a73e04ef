"""ocrmypdf plugin: rasterize a one-JPEG page by decoding the JPEG at Tesseract's size.

For each page ocrmypdf renders the PDF page at the image's resolution and saves
a PNG; Tesseract's downsampling (``--tesseract-downsample-above``) then reads it,
shrinks it and saves it again. On a 1600x2400 page that costs about as much CPU
as Tesseract itself. A page of our ``raw.pdf`` is one image drawn over the whole
page, so when that image is a JPEG the same picture comes from decoding the JPEG
straight at the reduced size (libjpeg scales by 1/2, 1/4 or 1/8 while decoding)
and writing a quickly compressed PNG.

The PNG's resolution is what places the text layer: ocrmypdf maps Tesseract's
word boxes onto the page with it (pixels x 72 / DPI = points). Tesseract reports
a whole number of DPI, so the image is sized for a whole DPI and the words land
where they are on the page.

Every page this cannot render the way ocrmypdf would gets None, and ocrmypdf's
own rasterizer runs: anything drawn besides the one image, a /Rotate or an
orientation correction, colour that is not plain gray or RGB (CMYK, Adobe
inverted JPEGs, /Decode, masks), other than 8 bits, a JPEG Pillow cannot
decode, ``--oversample``, and options that make the raster the visible page
(``--deskew``, ``--clean-final``, ``--force-ocr``…) or choose a rasterizer.

Loaded in the OCR child with ``--plugin comic2pdf.ocr.raster`` (OcrOptions.fast_raster).
"""

import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from ocrmypdf import OcrOptions as OcrmypdfOptions
from ocrmypdf import hookimpl
from ocrmypdf.helpers import Resolution
from PIL import Image

log = logging.getLogger(__name__)

#: ocrmypdf raster devices this plugin produces, as the Pillow mode of the PNG.
DEVICE_MODES = {"png16m": "RGB", "pnggray": "L"}

#: (JPEG mode, PNG mode) pairs that keep every value (gray to RGB repeats it).
#: CMYK or RGB to gray is left to ocrmypdf, which applies the PDF's colour rules.
CONVERSIONS = frozenset({("RGB", "RGB"), ("L", "L"), ("L", "RGB")})

#: Pillow mode of a JPEG by the number of colour components of its PDF colour space.
MODES_BY_COMPONENTS = {1: "L", 3: "RGB"}
DEVICE_SPACES = {"/DeviceGray": 1, "/DeviceRGB": 3}

#: Keys an image XObject may have. Any other (/Decode, /SMask, /Mask,
#: /DecodeParms, /ImageMask…) changes how it is drawn: ocrmypdf renders it.
PLAIN_IMAGE_KEYS = frozenset(
    {"/Type", "/Subtype", "/Width", "/Height", "/ColorSpace", "/BitsPerComponent", "/Filter",
     "/Length", "/Interpolate", "/Intent", "/Name", "/Metadata"}
)  # fmt: skip

#: How far, in points, the image may be from covering the MediaBox exactly.
TOLERANCE_PT = 0.01

#: The largest side Tesseract takes (ocrmypdf caps --tesseract-downsample-above there).
TESSERACT_MAX_SIDE = 32767


@dataclass(frozen=True)
class JpegPage:
    """A page that is one plain JPEG drawn over its whole MediaBox."""

    jpeg: bytes
    pixels: tuple[int, int]  # the image's width and height
    points: tuple[float, float]  # the page's width and height
    mode: str  # what its samples decode to: "L" or "RGB"

    @property
    def dpi(self) -> float:
        """The image's own resolution on the page: ocrmypdf rasterizes at this."""
        return self.pixels[0] * 72 / self.points[0]

    def size_at(self, dpi: int) -> tuple[int, int]:
        """The page's size in pixels at *dpi*, never more than the image has."""
        width, height = (
            max(1, min(pixels, round(points * dpi / 72)))
            for pixels, points in zip(self.pixels, self.points, strict=True)
        )
        return width, height


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
    """Write the page's JPEG at Tesseract's size as a PNG; None lets ocrmypdf rasterize."""
    mode = DEVICE_MODES.get(str(raster_device))
    if mode is None or rotation or use_cropbox or not options_allow(options):
        return None
    page = read_jpeg_page(Path(input_file), pageno)
    if page is None or (page.mode, mode) not in CONVERSIONS:
        log.debug("page %d is not one plain JPEG: ocrmypdf rasterizes it", pageno)
        return None
    if not _asks_for_image_dpi(page, raster_dpi, page_dpi):
        return None
    return write_png(page, Path(output_file), mode=mode, dpi=target_dpi(page, options))


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
    page: JpegPage, raster_dpi: Resolution, page_dpi: Resolution | None
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


def target_dpi(page: JpegPage, options: OcrmypdfOptions | None) -> int:
    """The whole DPI to rasterize at: the image's own, or less to fit the downsampling limit.

    Whole because Tesseract reports the image's DPI as a whole number (hOCR
    ``scan_res``) and ocrmypdf places the words with that number.
    """
    dpi = page.dpi
    limit = downsample_limit(options)
    if limit:
        dpi = min(dpi, limit * 72 / max(page.points))
    return max(1, math.floor(dpi + 1e-3))


# --- reading the page ----------------------------------------------------------------


def read_jpeg_page(pdf_path: Path, pageno: int) -> JpegPage | None:
    """Page *pageno* (from 1) if it is one plain JPEG over its whole MediaBox, else None."""
    with pikepdf.open(pdf_path) as pdf:
        page = pdf.pages[pageno - 1]
        try:
            return _jpeg_page(page)
        except (pikepdf.PdfError, ValueError, TypeError) as e:
            # Deliberate fallback: a page not shaped the way we read it goes to
            # ocrmypdf's rasterizer, which renders it or reports the damage.
            log.debug("page %d: %s", pageno, e)
            return None


def _jpeg_page(page: pikepdf.Page) -> JpegPage | None:
    if int(page.obj.get("/Rotate", 0)) % 360 or "/UserUnit" in page.obj:
        return None
    if "/Annots" in page.obj:  # annotations may be drawn over the image
        return None
    drawn = _only_drawing(page)
    if drawn is None:
        return None
    name, placement = drawn
    box = [float(value) for value in page.mediabox]
    image = page.resources.get("/XObject", pikepdf.Dictionary()).get(name)
    if image is None or not _covers(placement, box):
        return None
    return _plain_jpeg(image, (box[2] - box[0], box[3] - box[1]))


def _only_drawing(page: pikepdf.Page) -> tuple[pikepdf.Name, list[float]] | None:
    """(XObject name, cm operands) when the content is just ``cm`` then ``Do``.

    ``q``/``Q`` around them change nothing; any other operator (text, paths,
    graphics state, a second image) means the page is more than the image.
    """
    ops = [
        (str(instruction.operator), list(instruction.operands))
        for instruction in pikepdf.parse_content_stream(page)
        if str(instruction.operator) not in ("q", "Q")
    ]
    if [operator for operator, _ in ops] != ["cm", "Do"]:
        return None
    (_, matrix), (_, (name,)) = ops  # a malformed one raises ValueError: no fast path
    if not isinstance(name, pikepdf.Name):
        return None
    return name, [float(value) for value in matrix]


def _covers(matrix: list[float], box: list[float]) -> bool:
    """Whether the image, placed by *matrix* (unrotated, unflipped), fills *box* exactly."""
    a, b, c, d, e, f = matrix
    placed = (e, f, e + a, f + d)
    return (
        b == c == 0
        and a > 0
        and d > 0
        and all(abs(p - q) <= TOLERANCE_PT for p, q in zip(placed, box, strict=True))
    )


def _plain_jpeg(image: pikepdf.Object, points: tuple[float, float]) -> JpegPage | None:
    """The image as a JpegPage if it is an 8-bit gray or RGB JPEG with square pixels."""
    if image.get("/Subtype") != pikepdf.Name.Image or set(image.keys()) - PLAIN_IMAGE_KEYS:
        return None
    filters = image.get("/Filter")
    if isinstance(filters, pikepdf.Array):
        filters = filters[0] if len(filters) == 1 else None
    if filters != pikepdf.Name.DCTDecode:
        return None
    components = _components(image.get("/ColorSpace"))
    if components not in MODES_BY_COMPONENTS or image.get("/BitsPerComponent") != 8:
        return None
    pixels = (int(image.Width), int(image.Height))
    if not math.isclose(pixels[0] / points[0], pixels[1] / points[1], rel_tol=1e-3):
        return None  # not square pixels: ocrmypdf renders at one DPI for both axes
    return JpegPage(image.read_raw_bytes(), pixels, points, MODES_BY_COMPONENTS[components])


def _components(space: pikepdf.Object | None) -> int | None:
    """Colour components of a device or ICC-based colour space, None for any other.

    An ICC profile is not applied to the decoded samples: it shifts colours a
    little, which does not change the words Tesseract reads.
    """
    if isinstance(space, pikepdf.Name):
        return DEVICE_SPACES.get(str(space))
    if isinstance(space, pikepdf.Array) and len(space) == 2 and space[0] == pikepdf.Name.ICCBased:
        return int(space[1].get("/N", 0))
    return None


# --- writing the raster --------------------------------------------------------------


def write_png(page: JpegPage, output_file: Path, *, mode: str, dpi: int) -> Path | None:
    """Save the JPEG decoded at *dpi* as a fast PNG declaring *dpi*; None if Pillow fails."""
    size = page.size_at(dpi)
    try:
        image = decode(page, size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # Deliberate fallback: a JPEG Pillow cannot decode (12-bit, lossless,
        # damaged) goes to ocrmypdf's rasterizer, which decodes it or reports it.
        log.debug("Pillow cannot decode this page's JPEG (%s): ocrmypdf rasterizes it", e)
        return None
    if image is None:
        return None
    if image.mode != mode:
        image = image.convert(mode)
    image.save(output_file, format="PNG", compress_level=1, dpi=(dpi, dpi))
    return output_file


def decode(page: JpegPage, size: tuple[int, int]) -> Image.Image | None:
    """The JPEG at *size*, or None if it is not what the PDF says it is.

    ``draft`` makes libjpeg decode at the smallest of 1/1, 1/2, 1/4 or 1/8
    scale that is still at least *size*; a resize does the rest.
    """
    with Image.open(io.BytesIO(page.jpeg), formats=["JPEG"]) as image:
        if image.size != page.pixels or image.mode != page.mode:
            return None
        image.draft(image.mode, size)
        image.load()  # the pixels stay usable once the (in-memory) file is closed
        if image.size == size:
            return image
        return image.resize(size, Image.Resampling.BICUBIC)
