"""Flow ``convert-comic``: one archive in, one searchable PDF out.

A path outside DATA_DIR is converted one-shot: the input stays where it is and
no job is recorded. A path inside DATA_DIR (``in/``, ``hold/`` or a claim
folder) is an inbox job: it is claimed, recorded in the job database, and the
input ends in ``archive/``, ``error/`` or ``hold/``.

No ``from __future__ import annotations`` here: it breaks pydantic flow
parameters on Prefect >= 3.5 (PrefectHQ/prefect#19447).
"""

import contextlib
import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from prefect.states import Cancelled

from comic2pdf import jobkey
from comic2pdf.duplicates import hold_duplicate
from comic2pdf.errors import ComicError, JobCancelled, message_of, reason_of
from comic2pdf.inbox import (
    Claim,
    claim_file,
    ensure_layout,
    is_inside,
    move_to_archive,
    move_to_error,
    take_over,
)
from comic2pdf.pipeline.attempts import stage_limits
from comic2pdf.pipeline.job import (
    ConvertResult,
    Job,
    checked_job_key,
    convert_one_shot,
    run_stages,
)
from comic2pdf.pipeline.stages import Prepared, Recognised
from comic2pdf.publish import remove_tree
from comic2pdf.settings import Settings, load_settings
from comic2pdf.store import JobDB, State
from tasks.report import summarize, summarize_failure
from tasks.runs import current_run, stopped_on_cancel
from tasks.slots import stage_slot
from tasks.stages import finalize, ocr, prep


def run_name() -> str:
    """Flow run name shown in the UI: ``convert-<archive stem>``."""
    return f"convert-{Path(str(flow_run.parameters.get('path', 'comic'))).stem}"


class PrefectStages:
    """The stages as Prefect tasks with the retries of *settings* (time limits: tasks/stages.py).

    Recorded (inbox) jobs hold a slot of the stage's bound (``tasks.slots``): the
    server's for a deployment run, this process's otherwise. One-shot conversions
    run one after another in their process and take none.
    """

    def __init__(self, settings: Settings, *, record: bool) -> None:
        self.settings = settings
        self.record = record
        self.limits = stage_limits(settings)
        run = current_run()
        self.shared = run is not None and run.deployment_id is not None

    def _options(self, stage: str) -> dict[str, float]:
        return {
            "retries": self.limits[stage].attempts - 1,
            "retry_delay_seconds": self.settings.retry_delay_seconds,
        }

    def _slot(self, stage: str) -> contextlib.AbstractContextManager[None]:
        if not self.record:
            return contextlib.nullcontext()
        return stage_slot(stage, self.settings, shared=self.shared)

    def prep(self, job: Job) -> Prepared:
        job_key = job.key if self.record else None
        with self._slot("prep"):
            return prep.with_options(**self._options("prep"))(
                job.archive, job.work(self.settings), job.identity, self.settings, job_key
            )

    def ocr(self, job: Job, prepared: Prepared) -> Recognised:
        job_key = job.key if self.record else None
        with self._slot("ocr"):
            return ocr.with_options(**self._options("ocr"))(prepared, self.settings, job_key)

    def finalize(self, job: Job, recognised: Recognised, pages: int) -> Path:
        job_key = job.key if self.record else None
        return finalize(
            recognised, pages, job.out_dir, job.pdf_name, job.identity, self.settings, job_key
        )


def refuse(claim: Claim, settings: Settings, error: BaseException, *, seconds: float) -> None:
    """An input refused before it became a job: to error/, counted by reason."""
    reason = reason_of(error)
    message = message_of(error)
    with JobDB(settings.db_path) as db:
        db.record_event("inputs_rejected", labels={"reason": reason})
        db.observe("job_duration_seconds", seconds, labels={"outcome": "rejected"})
    move_to_error(
        claim, settings, reason=reason, message=message, stage="check", attempts=0, job_key=None,
    )  # fmt: skip


def start_job(
    claim: Claim, key: str, profile: dict[str, object], settings: Settings, *, force: bool
) -> tuple[str, int] | None:
    """Record the job; return (state, generation) to convert, or None for a held duplicate."""
    with JobDB(settings.db_path) as db:
        job = db.get_job(key)
        if job is not None and job.input_path == claim.path:  # our own interrupted run
            if job.state is State.DONE:
                return State.DONE, job.generation
            if job.in_flight:
                db.requeue(key)
                return State.QUEUED, job.generation
        if force and job is not None and not job.in_flight:  # a held duplicate, decided
            job = db.force_reprocess(key, input_name=claim.path.name, input_path=claim.path)
            return State.QUEUED, job.generation
        result = db.claim_job(
            key,
            input_name=claim.path.name,
            input_path=claim.path,
            input_size=claim.path.stat().st_size,
            file_sha256=key.split("__")[0],
            profile_sha256=key.split("__")[1],
            profile_json=jobkey.canonical_json(profile),
        )
        if result.claimed:
            return State.QUEUED, result.job.generation
        hold_duplicate(
            claim.path, job_key=key, existing=result.job, profile=profile, settings=settings, db=db
        )
        return None


def fail(claim: Claim, key: str, settings: Settings, error: BaseException) -> None:
    """Record the failure and move the input to error/ with its .error.json."""
    reason = reason_of(error)
    message = message_of(error)
    with JobDB(settings.db_path) as db:
        job = db.get_job(key)
        stage = str(job.stage or "prep") if job else "prep"
        db.fail_job(key, stage=stage, reason=reason, message=message)
        attempts = job.attempts(stage) if job else 0
    placed = move_to_error(
        claim, settings, reason=reason, message=message, stage=stage, attempts=attempts,
        job_key=key,
    )  # fmt: skip
    with JobDB(settings.db_path) as db:
        db.set_input_path(key, placed)


def cancelled(claim: Claim, key: str, settings: Settings, error: JobCancelled) -> None:
    """A cancelled job: its scratch removed, the input in error/ with reason ``cancelled``."""
    remove_tree(settings.work_dir / key)
    fail(claim, key, settings, error)


def finish(claim: Claim, key: str, settings: Settings, **done: object) -> Path:
    with JobDB(settings.db_path) as db:
        db.finish_job(key, input_path=claim.path, **done)  # type: ignore[arg-type]
    return archive_input(claim, key, settings)


def archive_input(claim: Claim, key: str, settings: Settings) -> Path:
    """Move the input of a job recorded DONE to archive/ and record where it went."""
    archived = move_to_archive(claim, settings)
    with JobDB(settings.db_path) as db:
        db.set_input_path(key, archived)
    return archived


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
        with JobDB(settings.db_path) as db:
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


@flow(name="convert-comic", flow_run_name=run_name, log_prints=True)
def convert_comic(
    path: str, out_dir: str | None = None, lang: str | None = None, force_reprocess: bool = False
) -> ConvertResult:
    """Convert the comic archive at *path* into a searchable PDF.

    Inside DATA_DIR the file is an inbox job (claimed, recorded, moved to
    archive/ or error/); elsewhere it is converted in place into *out_dir*
    (default DATA_DIR/out). *force_reprocess* converts a held duplicate again.
    """
    settings = load_settings(ocr_lang=lang)
    archive = Path(path).absolute()
    try:
        if is_inside(archive, settings.data_dir):
            result = convert_inbox_file(archive, settings, force=force_reprocess)
        else:
            with stopped_on_cancel(archive.name):
                result = convert_one_shot(
                    archive,
                    Path(out_dir or settings.out_dir),
                    settings,
                    PrefectStages(settings, record=False),
                )
    except JobCancelled as e:
        get_run_logger().warning("%s", e)
        return Cancelled(message=str(e))  # type: ignore[return-value]
    except ComicError as e:
        get_run_logger().error("%s", e)
        summarize_failure(archive, e, settings)
        raise
    summarize(archive, result, settings)
    get_run_logger().info(
        "%s: %s → %s: %d pages (%d without text) in %.1f s", archive.name, result.outcome,
        result.output, result.pages, result.pages_without_text, result.seconds,
    )  # fmt: skip
    return result
