"""Page images in, ``raw.pdf`` out: one page per image, pixels untouched.

img2pdf embeds JPEG and JPEG 2000 files byte for byte and PNGs (8 or 16 bits)
by their compressed pixel data, so the PDF holds the original images. Images
img2pdf refuses or would show wrongly go through Pillow first (``pngpage.py``):
a PNG in the scratch folder, with the same pixels wherever PNG can hold them.

Each page is declared at the DPI ``comic2pdf.resolution`` decides, or the one
the caller forces: it sets the page size and the DPI Tesseract is told. A page
is never smaller than 3 PDF units (a 1-pixel spacer gets white margins) nor
larger than 14400 (a webtoon strip gets a lower DPI): ocrmypdf refuses both.

Memory stays flat however many pages a comic has: each image becomes its own
one-page PDF in the scratch folder and qpdf assembles them, reading the image
data from those files only while it writes the result.
"""

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import img2pdf
import pikepdf

from comic2pdf import pngpage
from comic2pdf.comicinfo import ComicMetadata
from comic2pdf.errors import BadImage, InvalidPdf, NoImages
from comic2pdf.pdfmeta import set_metadata
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

#: PDF page size limits (PDF units, 1/72 inch) that ocrmypdf enforces.
MIN_PAGE_UNITS, MAX_PAGE_UNITS = 3.0, 14400.0

#: Receives (entry, message) for a page that was repaired or left out.
Warn = Callable[[str, str], None]


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
    entries: Sequence[str] | None = None,
    warn: Warn | None = None,
) -> int:
    """Write ``out`` with one page per image, in order, and return the page count.

    *dpi* forces every page's resolution; 0 lets ``comic2pdf.resolution`` decide.
    *info* adds document-info entries (keys like ``/Comic2pdfJobKey``).
    *entries* are the pages' names in the archive, used in messages (default:
    the file names). A damaged JPEG is re-encoded losslessly from what decodes,
    and a page nothing can decode is left out; both are reported to *warn*
    (default: logged). Only if no page at all can be decoded is ``BadImage``
    raised.

    ``out`` appears complete or not at all: the PDF is written under a temporary
    name next to it and renamed at the end. Raises ``ImageTooLarge`` for an
    image over Pillow's pixel limit.
    """
    if not images:
        raise NoImages("no page images to put in the PDF")
    names = list(entries) if entries is not None else [image.name for image in images]
    warn = warn or _log_warning
    scratch.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    # The one-page PDFs are only needed until raw.pdf is written.
    with tempfile.TemporaryDirectory(prefix="rawpdf-", dir=scratch) as work:
        parts: dict[int, Path] = {}
        failures: list[BadImage] = []
        for index, (image, entry) in enumerate(zip(images, names, strict=True)):
            target = Path(work, f"page-{index + 1:05d}.pdf")
            try:
                parts[index] = _page_pdf(image, target, dpi=dpi, entry=entry, warn=warn)
            except BadImage as e:
                failures.append(e)
                warn(entry, f"left out: {e.message.removeprefix(f'page {entry!r} ')}")
        if not parts:
            raise failures[0]
        try:
            _assemble(list(parts.values()), partial, metadata=metadata, info=info or {},
                      kept=list(parts))  # fmt: skip
            pages = _page_count(partial)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    return pages


def _log_warning(entry: str, message: str) -> None:
    log.warning("page %r: %s", entry, message)


# --- one image → one one-page PDF ----------------------------------------------


def _page_pdf(image: Path, target: Path, *, dpi: int, entry: str, warn: Warn) -> Path:
    """Write a one-page PDF of ``image``, converting it first only if needed."""
    dpi = image_dpi(image, forced=dpi)
    seen = pngpage.inspect(image)
    if seen.transparent or (seen.format == "TIFF" and seen.orientation != 1):
        return _page_pdf_via_png(image, target, dpi=dpi, entry=entry)
    if seen.format in ("JPEG", "MPO") and (damage := pngpage.jpeg_damage(image)):
        warn(entry, f"damaged JPEG ({damage}); re-encoded losslessly (PNG) from what decodes")
        return _page_pdf_via_png(image, target, dpi=dpi, entry=entry, truncated=True)
    mirrored = seen.orientation in pngpage.MIRRORED
    try:
        _img2pdf(image, target, dpi=dpi, keep_orientation=not mirrored)
    except IMG2PDF_REFUSALS as e:
        log.info("img2pdf refused %r (%s); converting it with Pillow", entry, e)
        return _page_pdf_via_png(image, target, dpi=dpi, entry=entry)
    if mirrored:  # the JPEG bytes stay; the page draws them mirrored and turned
        orient_page(target, seen.orientation)
    return target


def _page_pdf_via_png(
    image: Path, target: Path, *, dpi: int, entry: str, truncated: bool = False
) -> Path:
    png = pngpage.to_png(image, target.with_suffix(".png"), entry=entry, truncated=truncated)
    try:
        _img2pdf(png, target, dpi=dpi)
    except IMG2PDF_REFUSALS as e:
        raise BadImage(f"page {entry!r}: img2pdf cannot embed the converted image: {e}") from e
    finally:
        png.unlink()  # its pixels are in the one-page PDF now
    return target


def _img2pdf(source: Path, target: Path, *, dpi: int, keep_orientation: bool = True) -> None:
    with target.open("wb") as stream:
        img2pdf.convert(
            # A Path, not a str: img2pdf takes a str it cannot open for image data.
            source,
            outputstream=stream,
            layout_fun=_layout(dpi),
            # An animated GIF is still one comic page (TIFF pages were split before).
            first_frame_only=True,
            # Honour a valid EXIF orientation, ignore a broken one rather than fail;
            # mirrored ones are drawn by orient_page instead.
            rotation=img2pdf.Rotation.ifvalid if keep_orientation else img2pdf.Rotation.none,
            nodate=True,
        )


def _layout(dpi: int):
    """img2pdf layout: the image at *dpi*, on a page within ocrmypdf's size limits."""

    def layout(width_px: int, height_px: int, _ndpi: object) -> tuple[float, ...]:
        width, height = width_px * 72 / dpi, height_px * 72 / dpi
        shrink = min(1.0, MAX_PAGE_UNITS / max(width, height))  # a lower DPI for a long strip
        width, height = width * shrink, height * shrink
        # A sliver gets white margins up to the minimum; the image is centred on the page.
        return max(width, MIN_PAGE_UNITS), max(height, MIN_PAGE_UNITS), width, height

    return layout


def orient_page(pdf_path: Path, orientation: int) -> None:
    """Draw the page's image the way EXIF *orientation* (1-8) asks, by the content-stream matrix.

    img2pdf drew the image filling the page; the new matrix maps the image's unit
    square onto the page with the sides swapped (5-8) and mirrored as needed.
    """
    with pikepdf.open(pdf_path, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0]
        _, _, width, height = (float(value) for value in page.MediaBox)
        if orientation >= 5:
            width, height = height, width
        a, b, c, d, e, f = _ORIENTATION_MATRICES[orientation]
        matrix = (a * width, b * height, c * width, d * height, e * width, f * height)
        page.MediaBox = pikepdf.Array([0, 0, width, height])
        name = next(iter(page.Resources.XObject.keys()))
        cm = " ".join(f"{value:.4f}" for value in matrix)
        page.Contents = pdf.make_stream(f"q {cm} cm {name} Do Q".encode())
        pdf.save(pdf_path)


# Image unit square → page, as fractions of the displayed width and height:
# (a, b, c, d, e, f) with a, c, e scaled by the width and b, d, f by the height.
_ORIENTATION_MATRICES = {
    1: (1, 0, 0, 1, 0, 0),
    2: (-1, 0, 0, 1, 1, 0),
    3: (-1, 0, 0, -1, 1, 1),
    4: (1, 0, 0, -1, 0, 1),
    5: (0, -1, -1, 0, 1, 1),
    6: (0, -1, 1, 0, 0, 1),
    7: (0, 1, 1, 0, 0, 0),
    8: (0, 1, -1, 0, 1, 0),
}


# --- one-page PDFs → raw.pdf ---------------------------------------------------


def _assemble(
    parts: list[Path],
    target: Path,
    *,
    metadata: ComicMetadata | None,
    info: Mapping[str, str],
    kept: list[int],
) -> None:
    """Write the pages of ``parts``, in order, to ``target``.

    qpdf's job interface (what the ``qpdf --empty --pages …`` command does,
    in-process) reads each page's image data from its file only while writing
    ``target``, and keeps just a few hundred files open at once. Copying pages
    with ``Pdf.pages.extend`` instead loads every image into memory: pikepdf
    asks qpdf to copy foreign streams immediately. *kept* are the images' indexes
    the parts come from, for bookmarks.
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
                set_metadata(pdf, metadata, kept=kept)
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
