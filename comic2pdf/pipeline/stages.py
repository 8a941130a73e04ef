"""What each stage of one comic does: prep, ocr, finalize (keyword arguments, no Prefect)."""

import logging
from pathlib import Path

from pydantic import BaseModel

from comic2pdf.archive import Extraction, ExtractLimits, Page, extract_pages
from comic2pdf.comicinfo import ComicMetadata, arrange_pages, read_comicinfo
from comic2pdf.ocr import OcrOptions, run_ocr
from comic2pdf.pdfmeta import SOURCE_NAME_FIELD
from comic2pdf.pipeline import events
from comic2pdf.publish import place_file, remove_tree
from comic2pdf.rawpdf import build_raw_pdf
from comic2pdf.settings import Settings
from comic2pdf.validate import JOB_KEY_FIELD, read_job_key, validate_pdf

log = logging.getLogger(__name__)

#: The stages in their order; also the names of the Prefect tasks.
STAGES = ("prep", "ocr", "finalize")


class Prepared(BaseModel):
    raw_pdf: Path
    pages: int
    name: str  # the archive's file name, for what the UI and the terminal show
    #: "entry: reason" for every page-looking entry that is not a page of the PDF.
    pages_skipped: list[str] = []
    #: "entry: what was done" for pages repaired on the way (damaged JPEGs).
    page_warnings: list[str] = []


class Recognised(BaseModel):
    pdf: Path
    name: str  # the archive's file name, as in Prepared
    pages_without_text: int
    seconds: float


def extract_limits(settings: Settings) -> ExtractLimits:
    return ExtractLimits(
        max_total_bytes=int(settings.max_uncompressed_mb * 1024 * 1024),
        max_entries=settings.max_entries,
        max_ratio=settings.max_compression_ratio,
        max_image_pixels=settings.max_image_pixels,
    )


def ocr_options(settings: Settings) -> OcrOptions:
    return OcrOptions(
        languages=tuple(settings.languages),
        jobs=settings.effective_ocr_jobs,
        mode=settings.ocr_mode.value,
        rotate_pages=settings.ocr_rotate_pages,
        deskew=settings.ocr_deskew,
        optimize=settings.ocr_optimize,
        output_type=settings.ocr_output_type.value,
        downsample_above=settings.ocr_downsample_above,
        fast_raster=settings.ocr_fast_raster,
        tesseract_timeout=settings.ocr_tesseract_timeout,
    )


def prepare(*, archive: Path, work: Path, identity: str, settings: Settings) -> Prepared:
    """Extract the pages safely and lay them, untouched, into ``work/raw.pdf``.

    *identity* (job key and generation) is recorded in the PDF so that finalize
    can recognise an output of this same job.
    """
    events.stage_started(archive.name, "prep")
    extract_dir = work / "extract"
    remove_tree(extract_dir)  # a previous attempt may have left part of it
    extraction = extract_pages(archive, extract_dir, limits=extract_limits(settings))
    metadata = read_comicinfo(extraction.comicinfo) if extraction.comicinfo else None
    pages, skipped, metadata = _arranged(extraction, metadata)
    warnings: list[str] = []

    def warn(entry: str, message: str) -> None:
        (skipped if message.startswith("left out") else warnings).append(f"{entry}: {message}")

    raw_pdf = work / "raw.pdf"
    count = build_raw_pdf(
        [page.path for page in pages],
        raw_pdf,
        dpi=settings.ocr_dpi,
        scratch=work / "convert",
        metadata=metadata,
        # The input's own name, which out/ may have to shorten to 255 bytes.
        info={JOB_KEY_FIELD: identity, SOURCE_NAME_FIELD: archive.name},
        entries=[page.entry for page in pages],
        warn=warn,
    )
    remove_tree(extract_dir)  # raw.pdf holds the pages now; free the disk
    remove_tree(work / "convert")
    for note in (*skipped, *warnings):
        log.warning("%s: %s", archive.name, note)
    return Prepared(
        raw_pdf=raw_pdf, pages=count, name=archive.name, pages_skipped=skipped,
        page_warnings=warnings,
    )  # fmt: skip


def _arranged(
    extraction: Extraction, metadata: ComicMetadata | None
) -> tuple[list[Page], list[str], ComicMetadata | None]:
    """The pages in ComicInfo's order without its Deleted ones, what was skipped, and
    the metadata with its bookmarks counted in that order."""
    pages = extraction.pages
    skipped = [str(entry) for entry in extraction.skipped]
    if metadata is None:
        return pages, skipped, None
    order, metadata = arrange_pages(metadata, len(pages))
    skipped += [
        f"{page.entry}: marked Deleted in ComicInfo.xml"
        for index, page in enumerate(pages)
        if index not in order
    ]
    return [pages[index] for index in order], skipped, metadata


def recognise(
    *, prepared: Prepared, settings: Settings, on_progress: events.ProgressCallback | None = None
) -> Recognised:
    """Add the invisible text layer with ocrmypdf, in a killable process group."""
    events.stage_started(prepared.name, "ocr", total=prepared.pages)

    def progress(step: str, done: float, total: float | None) -> None:
        events.ocr_progress(prepared.name, step, done, total)
        if on_progress is not None:
            on_progress(step, done, total)

    result = run_ocr(
        prepared.raw_pdf,
        prepared.raw_pdf.with_name("final.pdf"),
        options=ocr_options(settings),
        pages=prepared.pages,
        timeout=settings.ocr_timeout_seconds,
        on_progress=progress,
    )
    return Recognised(
        pdf=result.pdf,
        name=prepared.name,
        pages_without_text=result.pages_without_text,
        seconds=result.seconds,
    )


def publish(
    *,
    recognised: Recognised,
    pages: int,
    out_dir: Path,
    name: str,
    identity: str,
    settings: Settings,
) -> Path:
    """Validate the PDF and publish it in *out_dir* by atomic rename.

    A name already taken by the PDF of this same job (a re-run, or a crash
    after publishing) is replaced; a name taken by other content gets `` (2)``.
    """
    events.stage_started(recognised.name, "finalize")
    validate_pdf(recognised.pdf, min_size=settings.min_pdf_size_bytes, expected_pages=pages)
    return place_file(
        recognised.pdf, out_dir, name, replace_if=lambda taken: read_job_key(taken) == identity
    )
