"""The three stages of one comic as Prefect tasks: thin wrappers over comic2pdf.

Retries and timeouts come from settings, applied by the flow with
``task.with_options(...)``; ``retry_if_retryable`` keeps broken input from being
retried (an encrypted archive stays encrypted). The tasks carry no tags: Prefect
asks its API for a tag concurrency slot at the start of every tagged task run,
which cost about 1.6 s per task on the SQLite-backed server (README Performance).
"""

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from comic2pdf.archive import ExtractLimits, extract_pages
from comic2pdf.comicinfo import read_comicinfo
from comic2pdf.errors import ComicError
from comic2pdf.jobdb import JobDB
from comic2pdf.ocr import OcrOptions, run_ocr
from comic2pdf.publish import place_file, remove_tree
from comic2pdf.rawpdf import build_raw_pdf
from comic2pdf.settings import Settings
from comic2pdf.validate import JOB_KEY_FIELD, read_job_key, validate_pdf
from tasks.report import ocr_progress


class Prepared(BaseModel):
    raw_pdf: Path
    pages: int
    name: str  # the archive's file name, for what the UI shows


class Recognised(BaseModel):
    pdf: Path
    pages_without_text: int
    seconds: float


def retry_if_retryable(task, task_run, state) -> bool:
    """Prefect retry condition: retry unless the error says retrying cannot help."""
    try:
        state.result()
    except ComicError as e:
        return e.retryable
    except Exception:  # noqa: BLE001 - any unexpected failure deserves its retries
        return True
    return True


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


@contextlib.contextmanager
def stage_attempt(settings: Settings, job_key: str | None, stage: str) -> Iterator[None]:
    """One attempt of a stage, counted in the job database (one-shot jobs, *job_key* None, are not).

    The global concurrency slot is taken by the flow around the task
    (``tasks.limits.stage_slot``), not here: see that function for why.
    """
    if job_key:
        with JobDB(settings.db_path) as db:
            db.start_stage(job_key, stage)
    started = time.monotonic()
    yield
    if job_key:
        with JobDB(settings.db_path) as db:
            seconds = time.monotonic() - started
            db.observe("stage_duration_seconds", seconds, labels={"stage": stage})


@task(
    name="prep",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_if_retryable,
)
def prep(
    archive: Path, work: Path, identity: str, settings: Settings, job_key: str | None = None
) -> Prepared:
    """Extract the pages safely and lay them, untouched, into ``work/raw.pdf``.

    *identity* (job key and generation) is recorded in the PDF so that finalize
    can recognise an output of this same job.
    """
    with stage_attempt(settings, job_key, "prep"):
        return _prep(archive, work, identity, settings)


def _prep(archive: Path, work: Path, identity: str, settings: Settings) -> Prepared:
    extract_dir = work / "extract"
    remove_tree(extract_dir)  # a previous attempt may have left part of it
    extraction = extract_pages(archive, extract_dir, limits=extract_limits(settings))
    metadata = read_comicinfo(extraction.comicinfo) if extraction.comicinfo else None
    raw_pdf = work / "raw.pdf"
    pages = build_raw_pdf(
        [page.path for page in extraction.pages],
        raw_pdf,
        dpi=settings.ocr_dpi,
        scratch=work / "convert",
        metadata=metadata,
        info={JOB_KEY_FIELD: identity},
    )
    remove_tree(extract_dir)  # raw.pdf holds the pages now; free the disk
    remove_tree(work / "convert")
    return Prepared(raw_pdf=raw_pdf, pages=pages, name=archive.name)


@task(
    name="ocr",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_if_retryable,
)
def ocr(prepared: Prepared, settings: Settings, job_key: str | None = None) -> Recognised:
    """Add the invisible text layer with ocrmypdf, in a killable process group."""
    with stage_attempt(settings, job_key, "ocr"), ocr_progress(prepared.name) as on_progress:
        result = run_ocr(
            prepared.raw_pdf,
            prepared.raw_pdf.with_name("final.pdf"),
            options=ocr_options(settings),
            pages=prepared.pages,
            timeout=settings.ocr_timeout_seconds,
            on_progress=on_progress,
        )
    return Recognised(
        pdf=result.pdf, pages_without_text=result.pages_without_text, seconds=result.seconds
    )


@task(
    name="finalize",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_if_retryable,
)
def finalize(
    recognised: Recognised,
    pages: int,
    out_dir: Path,
    name: str,
    identity: str,
    settings: Settings,
    job_key: str | None = None,
) -> Path:
    """Validate the PDF and publish it in *out_dir* by atomic rename.

    A name already taken by the PDF of this same job (a re-run, or a crash
    after publishing) is replaced; a name taken by other content gets `` (2)``.
    """
    with stage_attempt(settings, job_key, "finalize"):
        validate_pdf(recognised.pdf, min_size=settings.min_pdf_size_bytes, expected_pages=pages)
        return place_file(
            recognised.pdf, out_dir, name, replace_if=lambda taken: read_job_key(taken) == identity
        )
