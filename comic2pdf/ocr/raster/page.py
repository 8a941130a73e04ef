"""Reading a PDF page that is one plain image, JPEG or Flate (PNG), drawn over the whole page.

What ``comic2pdf.ocr.raster`` decodes itself; any other page is left to ocrmypdf.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pikepdf

log = logging.getLogger(__name__)

#: Pillow mode of an image by the number of colour components of its PDF colour space.
MODES_BY_COMPONENTS = {1: "L", 3: "RGB"}
DEVICE_SPACES = {"/DeviceGray": 1, "/DeviceRGB": 3}

#: Keys an image XObject may have. Any other (/Decode, /SMask, /Mask,
#: /ImageMask…) changes how it is drawn: ocrmypdf renders it. /DecodeParms is
#: allowed on Flate images only (PNG's predictors, undone when reading them).
PLAIN_IMAGE_KEYS = frozenset(
    {"/Type", "/Subtype", "/Width", "/Height", "/ColorSpace", "/BitsPerComponent", "/Filter",
     "/Length", "/Interpolate", "/Intent", "/Name", "/Metadata"}
)  # fmt: skip

#: How far, in points, the image may be from covering the MediaBox exactly.
TOLERANCE_PT = 0.01


@dataclass(frozen=True)
class ImagePage:
    """A page that is one plain image drawn over its whole MediaBox."""

    data: bytes  # the JPEG file, or the decoded samples of a Flate image
    jpeg: bool  # which of the two *data* is
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


# --- reading the page ----------------------------------------------------------------


def read_image_page(pdf_path: Path, pageno: int) -> ImagePage | None:
    """Page *pageno* (from 1) if it is one plain image over its whole MediaBox, else None."""
    with pikepdf.open(pdf_path) as pdf:
        page = pdf.pages[pageno - 1]
        try:
            return _image_page(page)
        except (pikepdf.PdfError, ValueError, TypeError) as e:
            # Deliberate fallback: a page not shaped the way we read it goes to
            # ocrmypdf's rasterizer, which renders it or reports the damage.
            log.debug("page %d: %s", pageno, e)
            return None


def _image_page(page: pikepdf.Page) -> ImagePage | None:
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
    return _plain_image(image, (box[2] - box[0], box[3] - box[1]))


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


def _plain_image(image: pikepdf.Object, points: tuple[float, float]) -> ImagePage | None:
    """The image as an ImagePage if it is an 8-bit gray or RGB JPEG or Flate image with
    square pixels."""
    filters = image.get("/Filter")
    if isinstance(filters, pikepdf.Array):
        filters = filters[0] if len(filters) == 1 else None
    jpeg = filters == pikepdf.Name.DCTDecode
    if not jpeg and filters != pikepdf.Name.FlateDecode:
        return None
    allowed = PLAIN_IMAGE_KEYS if jpeg else PLAIN_IMAGE_KEYS | {"/DecodeParms"}
    if image.get("/Subtype") != pikepdf.Name.Image or set(image.keys()) - allowed:
        return None
    components = _components(image.get("/ColorSpace"))
    if components not in MODES_BY_COMPONENTS or image.get("/BitsPerComponent") != 8:
        return None
    pixels = (int(image.Width), int(image.Height))
    if not math.isclose(pixels[0] / points[0], pixels[1] / points[1], rel_tol=1e-3):
        return None  # not square pixels: ocrmypdf renders at one DPI for both axes
    data = image.read_raw_bytes() if jpeg else image.read_bytes()  # Flate and predictor undone
    return ImagePage(data, jpeg, pixels, points, MODES_BY_COMPONENTS[components])


def _components(space: pikepdf.Object | None) -> int | None:
    """Colour components of a device or ICC-based colour space, None for any other.

    An ICC profile is not applied to the decoded samples: it shifts colours a
    little, which does not change the words Tesseract reads; Tesseract, given
    the image file itself, does not apply it either. (Rendered with the
    profile, xkcd's gray PNG strip lost 3 of its 59 words in comic mode.)
    """
    if isinstance(space, pikepdf.Name):
        return DEVICE_SPACES.get(str(space))
    if isinstance(space, pikepdf.Array) and len(space) == 2 and space[0] == pikepdf.Name.ICCBased:
        return int(space[1].get("/N", 0))
    return None
