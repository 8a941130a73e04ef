"""Flow ``convert-comic``: one archive in, one searchable PDF out.

A path outside DATA_DIR is converted one-shot: the input stays where it is and
no job is recorded. A path inside DATA_DIR (``in/``, ``hold/`` or a claim
folder) is an inbox job: it is claimed, recorded in the job database, and the
input ends in ``archive/``, ``error/`` or ``hold/``.

No ``from __future__ import annotations`` here: it breaks pydantic flow
parameters on Prefect >= 3.5 (PrefectHQ/prefect#19447).
"""

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from prefect.states import Cancelled

from comic2pdf.errors import ComicError, JobCancelled
from comic2pdf.inbox import Claim, claim_file, ensure_layout, is_inside, take_over
from comic2pdf.pipeline.attempts import stage_limits
from comic2pdf.pipeline.job import (
    ConvertResult,
    Job,
    checked_job_key,
    convert_one_shot,
    require_file,
    run_stages,
)
from comic2pdf.pipeline.records import archive_input, cancelled, fail, finish, refuse, start_job
from comic2pdf.pipeline.stages import Prepared, Recognised
from comic2pdf.settings import Settings, load_settings
from comic2pdf.store import JobDB, State
from flows.runlogs import readable_run_logs
from tasks.outcome import as_comic_error, ended, failed, report_flow_timeout
from tasks.runs import stopped_on_cancel, untagged
from tasks.stages import finalize, ocr, prep


def run_name() -> str:
    """Flow run name shown in the UI: ``convert-<archive stem>``."""
    return f"convert-{Path(str(flow_run.parameters.get('path', 'comic'))).stem}"


class PrefectStages:
    """The stages as Prefect tasks with the retries of *settings* (time limits and the
    slots of recorded jobs: tasks/stages.py). *record*: an inbox job, counted in the
    job database; a one-shot conversion is not.
    """

    def __init__(self, settings: Settings, *, record: bool) -> None:
        self.settings = settings
        self.record = record
        self.limits = stage_limits(settings)

    def _options(self, stage: str) -> dict[str, float]:
        return {
            "retries": self.limits[stage].attempts - 1,
            "retry_delay_seconds": self.settings.retry_delay_seconds,
        }

    def prep(self, job: Job) -> Prepared:
        job_key = job.key if self.record else None
        return prep.with_options(**self._options("prep"))(
            job.archive, job.work(self.settings), job.identity, self.settings, job_key
        )

    def ocr(self, job: Job, prepared: Prepared) -> Recognised:
        job_key = job.key if self.record else None
        return ocr.with_options(**self._options("ocr"))(prepared, self.settings, job_key)

    def finalize(self, job: Job, recognised: Recognised, pages: int) -> Path:
        job_key = job.key if self.record else None
        return finalize(
            recognised, pages, job.out_dir, job.pdf_name, job.identity, self.settings, job_key
        )


def convert_claimed(claim: Claim, settings: Settings, *, force: bool) -> ConvertResult:
    """An inbox job: check, dedupe, convert, and put the input where it belongs."""
    started = time.monotonic()
    try:
        key, profile = checked_job_key(claim.path, settings)
    except ComicError as e:
        refuse(claim, settings, e, seconds=time.monotonic() - started)
        raise
    try:
        started_job = start_job(claim, key, profile, settings, force=force)
    except Exception as e:
        # Deliberately broad: a job that cannot even start (its duplicate cannot be
        # held, say) would otherwise stay claimed and be taken over by every scan
        # pass, forever. Only a passing trouble (the database busy) may come back.
        if isinstance(e, ComicError) and e.retryable:
            raise
        get_run_logger().exception("%s: the job could not start", claim.path.name)
        refuse(claim, settings, e, seconds=time.monotonic() - started)
        raise
    if started_job is None:
        with JobDB.from_settings(settings) as db:
            seconds = time.monotonic() - started
            db.observe("job_duration_seconds", seconds, labels={"outcome": "duplicate"})
        return ConvertResult(input=claim.path, outcome="duplicate", job_key=key)
    state, generation = started_job
    if state is State.DONE:  # crashed after recording DONE: only the move was left
        archive_input(claim, key, settings)
        return ConvertResult(input=claim.path, outcome="done", job_key=key)
    identity = key if generation <= 1 else f"{key}/g{generation}"
    try:
        job = Job(archive=claim.path, out_dir=settings.out_dir, key=key, identity=identity)
        with stopped_on_cancel(claim.path.name):
            output, prepared, recognised = run_stages(
                job, settings, PrefectStages(settings, record=True)
            )
    except TerminationSignal:
        # The worker stops a cancelled deployment run with SIGTERM, raised here by
        # Prefect; proc.run has already killed the OCR process group on its way.
        stopped = JobCancelled(f"{claim.path.name} was cancelled; its processes were stopped")
        cancelled(claim, key, settings, stopped)
        raise
    except JobCancelled as e:
        cancelled(claim, key, settings, e)
        raise
    except Exception as e:
        fail(claim, key, settings, e)
        raise
    finish(
        claim, key, settings, output_path=output, pages=prepared.pages,
        pages_without_text=recognised.pages_without_text, pages_skipped=prepared.pages_skipped,
    )  # fmt: skip
    return ConvertResult(
        input=claim.path, outcome="done", output=output, job_key=key, pages=prepared.pages,
        pages_without_text=recognised.pages_without_text, seconds=time.monotonic() - started,
        pages_skipped=prepared.pages_skipped, page_warnings=prepared.page_warnings,
    )  # fmt: skip


def convert_inbox_file(path: Path, settings: Settings, *, force: bool) -> ConvertResult:
    ensure_layout(settings)
    claim = (
        take_over(path) if is_inside(path, settings.incoming_dir) else claim_file(path, settings)
    )
    if claim is None:
        get_run_logger().info("%s is already being processed elsewhere; skipped", path.name)
        return ConvertResult(input=path, outcome="skipped")
    try:
        return convert_claimed(claim, settings, force=force)
    finally:
        claim.release()


@flow(
    name="convert-comic",
    flow_run_name=run_name,
    log_prints=True,
    on_failure=[report_flow_timeout],
)
def convert_comic(
    path: str, out_dir: str = "", lang: str = "", force_reprocess: bool = False
) -> ConvertResult:
    """Convert one comic archive into a searchable PDF.

    Ends Completed (named Held for a duplicate waiting for a decision), or
    Failed / TimedOut with ``reason: message`` as its state message; each with
    an artifact saying what happened and what to do (README "Prefect UI").

    Args:
        path: The archive (.cbz, .cbr, .cb7, .cbt) to convert. Inside DATA_DIR (in/, hold/) it
            is an inbox job: claimed, recorded, and moved to archive/, error/ or hold/.
            Anywhere else it is converted where it is and left there.
        out_dir: Folder for the PDF of a file outside DATA_DIR; empty: DATA_DIR/out.
        lang: Tesseract languages, e.g. eng+fra; empty: the OCR_LANG setting.
        force_reprocess: Convert a held duplicate again, as a new generation of its job
            (what the FORCE_REPROCESS decision does).
    """
    readable_run_logs()
    settings = load_settings(ocr_lang=lang or None)
    archive = Path(path).absolute()
    try:
        if not is_inside(archive, settings.in_dir) and not is_inside(
            archive, settings.incoming_dir
        ):
            require_file(archive)  # an inbox file gone missing was taken by another scan
        with untagged():  # the stage tasks: no tag slot to ask the API for
            result = _convert(archive, out_dir, settings, force=force_reprocess)
    except JobCancelled as e:  # before ComicError: a cancel is not a failure
        get_run_logger().warning("%s", e)
        return Cancelled(message=str(e))  # type: ignore[return-value]
    except (ComicError, TimeoutError) as e:  # TimeoutError: a task's time limit in Prefect
        error = e if isinstance(e, ComicError) else as_comic_error(e, archive)
        get_run_logger().error("%s", error)
        return failed(archive, error, settings)  # type: ignore[return-value]
    state = ended(archive, result, settings)
    get_run_logger().info("%s", state.message)
    return state  # type: ignore[return-value]


def _convert(archive: Path, out_dir: str, settings: Settings, *, force: bool) -> ConvertResult:
    if is_inside(archive, settings.data_dir):
        return convert_inbox_file(archive, settings, force=force)
    stages = PrefectStages(settings, record=False)
    with stopped_on_cancel(archive.name):
        return convert_one_shot(archive, Path(out_dir or settings.out_dir), settings, stages)
