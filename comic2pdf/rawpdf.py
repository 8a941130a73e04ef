"""Page images in, ``raw.pdf`` out: one page per image, pixels untouched.

img2pdf embeds JPEG and JPEG 2000 files byte for byte and PNGs (8 or 16 bits)
by their compressed pixel data, so the PDF holds the original images. Images
with transparency, and the few img2pdf refuses, go through Pillow first: a PNG
in the scratch folder, with the same pixels wherever PNG can hold them.

Each page is declared at the DPI ``comic2pdf.resolution`` decides, or the one
the caller forces: it sets the page size and the DPI Tesseract is told.

Memory stays flat however many pages a comic has: each image becomes its own
one-page PDF in the scratch folder and qpdf assembles them, reading the image
data from those files only while it writes the result.
"""

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image, ImageOps, UnidentifiedImageError

from comic2pdf.comicinfo import ComicMetadata
from comic2pdf.errors import BadImage, ImageTooLarge, InvalidPdf, NoImages
from comic2pdf.resolution import image_dpi

log = logging.getLogger(__name__)

#: What img2pdf raises when it will not embed an image as it is. Pillow gets a
#: second try at those; anything else is a bug and should surface as such.
IMG2PDF_REFUSALS: tuple[type[Exception], ...] = (
    img2pdf.ImageOpenError,
    img2pdf.AlphaChannelError,
    img2pdf.JpegColorspaceError,
    img2pdf.UnsupportedColorspaceError,
    img2pdf.ExifOrientationError,
    ValueError,  # odd modes and bit depths ("unable to preserve more than 8 bits")
)

#: Modes Pillow writes to PNG without changing a pixel.
PNG_MODES = frozenset({"1", "L", "P", "RGB", "I;16"})


def img2pdf_version() -> str:
    """Return the img2pdf version; it is part of the job's profile."""
    return img2pdf.__version__


def build_raw_pdf(
    images: Sequence[Path],
    out: Path,
    *,
    dpi: int,
    scratch: Path,
    metadata: ComicMetadata | None = None,
    info: Mapping[str, str] | None = None,
) -> int:
    """Write ``out`` with one page per image, in order, and return the page count.

    *dpi* forces every page's resolution; 0 lets ``comic2pdf.resolution`` decide.
    *info* adds document-info entries (keys like ``/Comic2pdfJobKey``).

    ``out`` appears complete or not at all: the PDF is written under a temporary
    name next to it and renamed at the end. Raises ``BadImage`` for a file that
    neither img2pdf nor Pillow can read, ``ImageTooLarge`` for one over Pillow's
    pixel limit.
    """
    if not images:
        raise NoImages("no page images to put in the PDF")
    scratch.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    # The one-page PDFs are only needed until raw.pdf is written.
    with tempfile.TemporaryDirectory(prefix="rawpdf-", dir=scratch) as work:
        parts = [
            _page_pdf(image, Path(work, f"page-{number:05d}.pdf"), dpi=dpi, scratch=Path(work))
            for number, image in enumerate(images, start=1)
        ]
        try:
            _assemble(parts, partial, metadata=metadata, info=info or {})
            pages = _page_count(partial)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    return pages


# --- one image → one one-page PDF ----------------------------------------------


def _page_pdf(image: Path, target: Path, *, dpi: int, scratch: Path) -> Path:
    """Write a one-page PDF of ``image``, converting it first only if needed."""
    dpi = image_dpi(image, forced=dpi)
    if _has_transparency(image):
        return _page_pdf_via_png(image, target, dpi=dpi, scratch=scratch)
    try:
        _img2pdf(image, target, dpi=dpi)
    except IMG2PDF_REFUSALS as e:
        log.info("img2pdf refused %s (%s); converting it with Pillow", image.name, e)
        return _page_pdf_via_png(image, target, dpi=dpi, scratch=scratch)
    return target


def _page_pdf_via_png(image: Path, target: Path, *, dpi: int, scratch: Path) -> Path:
    png = _to_png(image, scratch / f"{target.stem}.png")
    try:
        _img2pdf(png, target, dpi=dpi)
    except IMG2PDF_REFUSALS as e:
        raise BadImage(f"img2pdf cannot embed the converted image: {e}", path=image) from e
    finally:
        png.unlink()  # its pixels are in the one-page PDF now
    return target


def _img2pdf(source: Path, target: Path, *, dpi: int) -> None:
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    with target.open("wb") as stream:
        img2pdf.convert(
            # A Path, not a str: img2pdf takes a str it cannot open for image data.
            source,
            outputstream=stream,
            layout_fun=layout,
            # An animated GIF or multi-page TIFF is still one comic page.
            first_frame_only=True,
            # Honour a valid EXIF orientation, ignore a broken one rather than fail.
            rotation=img2pdf.Rotation.ifvalid,
            nodate=True,
        )


def _has_transparency(image: Path) -> bool:
    """Tell whether the image has an alpha channel or a transparent colour.

    Reads only the header. A file Pillow cannot identify is left to img2pdf,
    which knows a few formats Pillow may not (JPEG 2000 without OpenJPEG, JBIG2).
    """
    try:
        with Image.open(image) as im:
            return im.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in im.info
    except UnidentifiedImageError:
        return False
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e), path=image) from e


def _to_png(image: Path, target: Path) -> Path:
    """Save the image's first frame as a PNG that img2pdf embeds as it is."""
    try:
        with Image.open(image) as im:
            # A PNG carries no EXIF orientation, so turn the pixels the way the
            # original asked to be shown.
            pixels = _png_pixels(ImageOps.exif_transpose(im), image)
            pixels.save(target, format="PNG")
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e), path=image) from e
    except (OSError, ValueError, SyntaxError) as e:
        # UnidentifiedImageError is an OSError; truncated or corrupt data raises
        # OSError, SyntaxError or ValueError depending on the decoder.
        raise BadImage(f"neither img2pdf nor Pillow can read the image: {e}", path=image) from e
    return target


def _png_pixels(im: Image.Image, image: Path) -> Image.Image:
    """Return the image in a mode PNG stores exactly, losing as little as possible."""
    if im.mode.startswith("I;16"):
        return _sixteen_bit_gray(im)
    if im.mode == "P" and "transparency" in im.info:
        return _flatten_palette(im)
    if im.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in im.info:
        return _flatten(im)
    if im.mode in PNG_MODES:
        return im
    # CMYK, 32-bit integer, float, LAB…: PNG has no such mode. img2pdf takes the
    # common ones itself (CMYK JPEG and TIFF), so this is a rare, logged loss.
    log.warning("%s: mode %s has no PNG equivalent; converting to RGB", image.name, im.mode)
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


# --- one-page PDFs → raw.pdf ---------------------------------------------------


def _assemble(
    parts: list[Path],
    target: Path,
    *,
    metadata: ComicMetadata | None,
    info: Mapping[str, str],
) -> None:
    """Write the pages of ``parts``, in order, to ``target``.

    qpdf's job interface (what the ``qpdf --empty --pages …`` command does,
    in-process) reads each page's image data from its file only while writing
    ``target``, and keeps just a few hundred files open at once. Copying pages
    with ``Pdf.pages.extend`` instead loads every image into memory: pikepdf
    asks qpdf to copy foreign streams immediately.
    """
    job = pikepdf.Job(
        {
            "empty": "",
            "pages": [{"file": os.fspath(part)} for part in parts],
            "outputFile": os.fspath(target),
            # The same input gives the same raw.pdf, byte for byte.
            "deterministicId": "",
        }
    )
    try:
        with job.create_pdf() as pdf:
            if metadata is not None:
                _set_metadata(pdf, metadata)
            for key, value in info.items():
                pdf.docinfo[key] = value
            job.write_pdf(pdf)
    except pikepdf.PdfError as e:
        raise InvalidPdf(f"qpdf could not assemble the pages: {e}", path=target) from e
    if job.exit_code == pikepdf.Job.EXIT_WARNING:
        log.warning("qpdf warned while assembling %s (see its messages above)", target.name)


def _page_count(pdf_path: Path) -> int:
    with pikepdf.open(pdf_path) as pdf:
        return len(pdf.pages)


# --- metadata --------------------------------------------------------------------


def _set_metadata(pdf: pikepdf.Pdf, metadata: ComicMetadata) -> None:
    """Write the comic's metadata to the document info and to XMP."""
    fields = {
        "/Title": metadata.title,
        "/Author": metadata.author,
        "/Subject": metadata.subject,
        "/Keywords": metadata.keywords,
    }
    for key, value in fields.items():
        if value:
            pdf.docinfo[key] = value
    if metadata.language:
        pdf.Root.Lang = pikepdf.String(metadata.language)
    # Our own values for both stores: no pikepdf producer mark or timestamp (the
    # PDF stays reproducible) and no docinfo sync, which would join authors
    # with "; " where ComicInfo has ", ".
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        if metadata.title:
            xmp["dc:title"] = metadata.title
        if metadata.author:
            xmp["dc:creator"] = _split_list(metadata.author)
        if metadata.subject:
            xmp["dc:description"] = metadata.subject
        if metadata.keywords:
            xmp["pdf:Keywords"] = metadata.keywords
        if metadata.language:
            xmp["dc:language"] = {metadata.language}


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
