"""Pillow's side of building pages: what an image needs, and lossless PNGs of those img2pdf refuses.

A page goes through Pillow when img2pdf cannot embed it as it is (WebP,
AVIF, HEIC, JPEG XL, alpha, odd modes), when its TIFF orientation would be
applied twice (Pillow turns TIFF pixels upright as it loads them, img2pdf
would turn them again), or when it is a damaged JPEG: viewers show what
decodes, but ocrmypdf's output check decodes every JPEG with Pillow and fails
the whole comic on one "image file is truncated".
"""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from comic2pdf.errors import BadImage, ImageTooLarge

log = logging.getLogger(__name__)

#: Modes Pillow writes to PNG without changing a pixel.
PNG_MODES = frozenset({"1", "L", "P", "RGB", "I;16"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_ORIENTATION = 0x0112
#: Orientations that mirror the image (EXIF 2, 4, 5, 7); img2pdf ignores those.
MIRRORED = frozenset({2, 4, 5, 7})

# Pillow's switch for decoding a truncated file is a module global: flipped only
# under this lock, for the one repair that needs it.
_TRUNCATED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Inspection:
    """What building a page needs to know about its image, from its header."""

    format: str | None  # None: Pillow cannot identify it (img2pdf may still)
    transparent: bool = False
    orientation: int = 1


def inspect(image: Path) -> Inspection:
    """Read the header: format, transparency, orientation."""
    try:
        with Image.open(image) as im:
            transparent = im.mode in _ALPHA_MODES or "transparency" in im.info
            return Inspection(im.format, transparent, _orientation(im))
    except UnidentifiedImageError:
        return Inspection(None)
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e), path=image) from e


def _orientation(im: Image.Image) -> int:
    try:
        # A PNG's EXIF may follow its pixels: reading it decodes them, and fails if they are cut.
        value = im.getexif().get(_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError):
        return 1  # the conversion that follows reports the damage
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def jpeg_damage(image: Path) -> str | None:
    """Why Pillow cannot decode this JPEG completely, or None if it can.

    A JPEG that ends with its end marker and is an ordinary 8-bit Huffman one
    is taken as complete without decoding (a full decode costs as much as the
    rest of prep); any other is decoded, at 1/8 scale, which still reads all
    of its data.
    """
    if _looks_complete(image):
        return None
    try:
        with Image.open(image) as im:
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except (OSError, ValueError, SyntaxError) as e:
        return str(e)
    return None


# Baseline, extended and progressive Huffman frames: what Pillow decodes at 8 bits.
_PLAIN_FRAMES = frozenset({0xC0, 0xC1, 0xC2})
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC


def _looks_complete(image: Path) -> bool:
    with image.open("rb") as file:
        file.seek(max(0, image.stat().st_size - 4096))
        if not file.read().rstrip(b"\x00").endswith(b"\xff\xd9"):
            return False
        file.seek(2)  # after SOI
        while (marker := file.read(4)) and len(marker) == 4 and marker[0] == 0xFF:
            length = int.from_bytes(marker[2:4], "big")
            if marker[1] in _SOF_MARKERS:
                return marker[1] in _PLAIN_FRAMES and file.read(1) == b"\x08"
            file.seek(length - 2, 1)
    return False


def to_png(image: Path, target: Path, *, entry: str, truncated: bool = False) -> Path:
    """Save the image's first frame as a PNG that img2pdf embeds as it is.

    *truncated* decodes what a damaged file holds (the rest stays grey, as
    viewers show it) instead of failing.
    """
    try:
        with _truncated_allowed(truncated), Image.open(image) as im:
            # A PNG carries no orientation, so turn the pixels the way the original
            # asked to be shown (Pillow did it already for TIFF, and then drops the tag).
            pixels = _png_pixels(ImageOps.exif_transpose(im), entry)
            pixels.save(target, format="PNG")
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"page {entry!r} is too large: {e}") from e
    except UnidentifiedImageError as e:  # its message is the scratch path
        raise BadImage(f"page {entry!r} is no image img2pdf or Pillow can read") from e
    except (OSError, ValueError, SyntaxError) as e:
        # UnidentifiedImageError is an OSError; truncated or corrupt data raises
        # OSError, SyntaxError or ValueError depending on the decoder.
        raise BadImage(f"page {entry!r} cannot be decoded: {e}") from e
    return target


class _truncated_allowed:
    def __init__(self, allowed: bool) -> None:
        self._allowed = allowed

    def __enter__(self) -> None:
        if self._allowed:
            _TRUNCATED_LOCK.acquire()
            ImageFile.LOAD_TRUNCATED_IMAGES = True

    def __exit__(self, *exc_info: object) -> None:
        if self._allowed:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            _TRUNCATED_LOCK.release()


def _png_pixels(im: Image.Image, entry: str) -> Image.Image:
    """Return the image in a mode PNG stores exactly, losing as little as possible."""
    if im.mode.startswith("I;16"):
        return _sixteen_bit_gray(im)
    if im.mode == "P" and "transparency" in im.info:
        return _flatten_palette(im)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        return _flatten(im)
    if im.mode in PNG_MODES:
        return im
    # CMYK, 32-bit integer, float, LAB…: PNG has no such mode. img2pdf takes the
    # common ones itself (CMYK JPEG and TIFF), so this is a rare, logged loss.
    log.warning("page %r: mode %s has no PNG equivalent; converting to RGB", entry, im.mode)
    return im.convert("RGB")


def _sixteen_bit_gray(im: Image.Image) -> Image.Image:
    """Keep 16-bit gray at 16 bits (img2pdf embeds that as it is).

    Pillow would clip it to white when mixing it with an alpha channel, so a
    transparent gray value (rare) stays that gray instead of becoming white.
    """
    gray = im.convert("I;16") if im.mode != "I;16" else im.copy()
    gray.info.pop("transparency", None)
    return gray


# Transparency is flattened onto white rather than kept as a PDF soft mask
# (which img2pdf 0.6 could do for 8-bit images): a PDF page is white paper, so
# viewers show exactly this anyway, Tesseract sees the same page, the PDF has one
# plain image per page, and PDF/A-1 output (which forbids transparency) stays
# possible. 16-bit images with alpha come out of Pillow as 8-bit: the one
# unavoidable loss.


def _flatten(im: Image.Image) -> Image.Image:
    """Composite an image with transparency onto white, keeping gray images gray."""
    gray = im.mode in {"L", "LA", "La", "1"}
    with_alpha = im.convert("LA" if gray else "RGBA")
    page = Image.new("L" if gray else "RGB", im.size, "white")
    page.paste(with_alpha, mask=with_alpha.getchannel("A"))
    return page


def _flatten_palette(im: Image.Image) -> Image.Image:
    """Flatten a palette image by flattening its palette, so it stays a palette image."""
    colours = Image.new("P", (256, 1))
    colours.putdata(range(256))
    colours.putpalette(im.getpalette() or [])  # a P image always has one
    colours.info["transparency"] = im.info["transparency"]
    flat_colours = _flatten(colours).convert("RGB")
    result = im.copy()
    result.info.pop("transparency", None)
    result.putpalette(flat_colours.tobytes())
    return result
