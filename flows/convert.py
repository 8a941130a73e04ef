"""Flow ``convert-comic``: one archive in, one searchable PDF out.

No ``from __future__ import annotations`` here: it breaks pydantic flow
parameters on Prefect >= 3.5 (PrefectHQ/prefect#19447).
"""

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel

from comic2pdf import jobkey, tools
from comic2pdf.checks import check_input
from comic2pdf.errors import ComicError
from comic2pdf.publish import remove_tree
from comic2pdf.settings import Settings, load_settings
from tasks.stages import finalize, ocr, ocr_options, prep


class ConvertResult(BaseModel):
    input: Path
    output: Path
    job_key: str
    pages: int
    pages_without_text: int
    seconds: float


def run_name() -> str:
    """Flow run name shown in the UI: ``convert-<archive stem>``."""
    return f"convert-{Path(str(flow_run.parameters.get('path', 'comic'))).stem}"


def job_profile(settings: Settings) -> dict[str, object]:
    return jobkey.build_profile(
        ocr=ocr_options(settings).profile(), dpi=settings.ocr_dpi, versions=tools.tool_versions()
    )


def convert_file(archive: Path, out_dir: Path, settings: Settings) -> ConvertResult:
    """prep → ocr → finalize with the retries and time limits of *settings*."""
    started = time.monotonic()
    check_input(
        archive,
        max_size_mb=settings.max_input_size_mb,
        disk_free_factor=settings.disk_free_factor,
        work_dir=settings.work_dir,
    )
    tools.check_languages(settings.languages)
    key = jobkey.job_key(jobkey.file_sha256(archive), jobkey.profile_sha256(job_profile(settings)))
    work = settings.work_dir / key
    work.mkdir(parents=True, exist_ok=True)
    try:
        prepared = prep.with_options(
            retries=settings.max_attempts_prep - 1,
            retry_delay_seconds=settings.retry_delay_seconds,
            timeout_seconds=settings.prep_timeout_seconds,
        )(archive, work, key, settings)
        recognised = ocr.with_options(
            retries=settings.max_attempts_ocr - 1,
            retry_delay_seconds=settings.retry_delay_seconds,
            # Our own subprocess timeout fires first and kills the process
            # group; Prefect's is the backstop.
            timeout_seconds=settings.ocr_timeout_seconds + 30,
        )(prepared, settings)
        output = finalize(recognised, prepared.pages, out_dir, f"{archive.stem}.pdf", key, settings)
    finally:
        if settings.keep_work_dir_days == 0:
            remove_tree(work)
    return ConvertResult(
        input=archive,
        output=output,
        job_key=key,
        pages=prepared.pages,
        pages_without_text=recognised.pages_without_text,
        seconds=time.monotonic() - started,
    )


@flow(name="convert-comic", flow_run_name=run_name, log_prints=True)
def convert_comic(path: str, out_dir: str | None = None, lang: str | None = None) -> ConvertResult:
    """Convert the comic archive at *path* into a searchable PDF in *out_dir* (default out/)."""
    settings = load_settings(ocr_lang=lang)
    archive = Path(path)
    target = Path(out_dir) if out_dir else settings.out_dir
    try:
        result = convert_file(archive, target, settings)
    except ComicError as e:
        get_run_logger().error("%s", e)
        raise
    get_run_logger().info(
        "%s → %s: %d pages (%d without text) in %.1f s",
        archive.name, result.output, result.pages, result.pages_without_text, result.seconds,
    )  # fmt: skip
    return result
