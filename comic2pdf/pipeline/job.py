"""One comic from checks to published PDF; the stages are run by a ``Stages`` runner.

Two runners exist: Prefect tasks with retries, timeouts and global slots
(``flows/convert.py``), and ``pipeline.local`` without any server. Both run
this same sequence.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from comic2pdf import jobkey, tools
from comic2pdf.checks import check_input
from comic2pdf.errors import InputMissing
from comic2pdf.pipeline.stages import Prepared, Recognised, ocr_options
from comic2pdf.publish import output_name, remove_tree
from comic2pdf.settings import Settings

log = logging.getLogger(__name__)


class ConvertResult(BaseModel):
    input: Path
    outcome: str  # done | duplicate | skipped
    output: Path | None = None
    job_key: str | None = None
    pages: int = 0
    pages_without_text: int = 0
    seconds: float = 0.0
    pages_skipped: list[str] = []  # "entry: reason", also in the job record
    page_warnings: list[str] = []  # "entry: what was repaired"


@dataclass(frozen=True)
class Job:
    """One conversion: *identity* is the job key, plus the generation of a reprocessed job."""

    archive: Path
    out_dir: Path
    key: str
    identity: str

    @property
    def pdf_name(self) -> str:
        return output_name(self.archive.name)

    def work(self, settings: Settings) -> Path:
        return settings.work_dir / self.key


class Stages(Protocol):
    """Runs each stage of a job with its attempts and time limit."""

    def prep(self, job: Job) -> Prepared: ...

    def ocr(self, job: Job, prepared: Prepared) -> Recognised: ...

    def finalize(self, job: Job, recognised: Recognised, pages: int) -> Path: ...


def require_file(path: Path) -> Path:
    """*path*, if it is a file; a command line may name anything."""
    if not path.is_file():
        raise InputMissing("no such file", path=path)
    return path


def job_profile(settings: Settings) -> dict[str, object]:
    return jobkey.build_profile(
        ocr=ocr_options(settings).profile(), dpi=settings.ocr_dpi, versions=tools.tool_versions()
    )


def checked_job_key(archive: Path, settings: Settings) -> tuple[str, dict[str, object]]:
    """Refuse what cannot be converted, then compute the job key."""
    check_input(
        archive,
        max_size_mb=settings.max_input_size_mb,
        disk_free_factor=settings.disk_free_factor,
        work_dir=settings.work_dir,
    )
    tools.check_languages(settings.languages)
    profile = job_profile(settings)
    digest = jobkey.job_key(jobkey.file_sha256(archive), jobkey.profile_sha256(profile))
    return digest, profile


def run_stages(job: Job, settings: Settings, stages: Stages) -> tuple[Path, Prepared, Recognised]:
    """prep → ocr → finalize in ``work/<jobKey>/``; the PDF published and what each stage found."""
    work = job.work(settings)
    work.mkdir(parents=True, exist_ok=True)
    try:
        with _timed(job, "prep"):
            prepared = stages.prep(job)
        with _timed(job, "ocr"):
            recognised = stages.ocr(job, prepared)
        with _timed(job, "finalize"):
            output = stages.finalize(job, recognised, prepared.pages)
        return output, prepared, recognised
    finally:
        if settings.keep_work_dir_days == 0:  # else the janitor deletes it later
            remove_tree(work)


@contextmanager
def _timed(job: Job, stage: str) -> Iterator[None]:
    """Log how long *stage* took, its attempts included, once it succeeded."""
    started = time.monotonic()
    yield
    log.info("%s: %s done in %.1f s", job.archive.name, stage, time.monotonic() - started)


def convert_one_shot(
    archive: Path, out_dir: Path, settings: Settings, stages: Stages
) -> ConvertResult:
    """A file outside DATA_DIR: converted into *out_dir*, no job recorded, the input left alone."""
    started = time.monotonic()
    key, _ = checked_job_key(archive, settings)
    job = Job(archive=archive, out_dir=out_dir, key=key, identity=key)
    output, prepared, recognised = run_stages(job, settings, stages)
    return ConvertResult(
        input=archive,
        outcome="done",
        output=output,
        job_key=key,
        pages=prepared.pages,
        pages_without_text=recognised.pages_without_text,
        seconds=time.monotonic() - started,
        pages_skipped=prepared.pages_skipped,
        page_warnings=prepared.page_warnings,
    )
