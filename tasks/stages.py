"""The three stages of one comic as Prefect tasks: thin wrappers over comic2pdf.pipeline.

Retries come from settings, applied by the flow with ``task.with_options(...)``;
``retry_if_retryable`` keeps broken input from being retried (an encrypted
archive stays encrypted). Each attempt's time limit is our watchdog
(``pipeline.interrupt.time_limit``), not Prefect's ``timeout_seconds``, which
cannot interrupt a task running in a scan's worker thread. The tasks carry no tags: Prefect
asks its API for a tag concurrency slot at the start of every tagged task run,
which cost about 1.6 s per task on the SQLite-backed server (README Performance).
"""

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from comic2pdf.errors import reason_of
from comic2pdf.pipeline.attempts import should_retry, stage_limits
from comic2pdf.pipeline.interrupt import time_limit
from comic2pdf.pipeline.stages import Prepared, Recognised, prepare, publish, recognise
from comic2pdf.pipeline.stages import ocr_options as ocr_options  # bench/run.py imports it here
from comic2pdf.settings import Settings
from comic2pdf.store import JobDB
from tasks.report import ocr_progress
from tasks.runs import current_run
from tasks.slots import stage_sizes, stage_slot


def retry_if_retryable(task, task_run, state) -> bool:
    """Prefect retry condition: retry unless the error says retrying cannot help."""
    try:
        state.result()
    except Exception as e:  # noqa: BLE001 - the failure is judged, not handled, here
        return should_retry(e)
    return True


@contextlib.contextmanager
def stage_attempt(settings: Settings, job_key: str | None, stage: str) -> Iterator[None]:
    """One attempt of a stage: its slot, then its time limit, counted in the job database.

    Recorded (inbox) jobs, *job_key* set, hold a slot of the stage's bound
    (``tasks.slots``) for the attempt only: the task run's own bookkeeping with
    the API (creating it, its states) happens outside, so a slow server does not
    keep the next comic's OCR waiting (issue #16). Time waiting for the slot is
    not part of the time limit. One-shot jobs take no slot and are not counted.
    Failed, timed-out and cancelled attempts are recorded too, with their reason.
    """
    if not job_key:
        with time_limit(stage_limits(settings)[stage].timeout, stage=stage):
            yield
        return
    bounded = stage in stage_sizes(settings)  # finalize has no bound
    slot = stage_slot(stage, settings, shared=_deployment_run()) if bounded else None
    with slot or contextlib.nullcontext(), _counted(settings, job_key, stage):
        yield


def _deployment_run() -> bool:
    """Whether this runs as a deployment run (on a worker) rather than in a scan's process."""
    run = current_run()
    return run is not None and run.deployment_id is not None


@contextlib.contextmanager
def _counted(settings: Settings, job_key: str, stage: str) -> Iterator[None]:
    """The attempt under its time limit, with its start and end in the job database."""
    with JobDB.from_settings(settings) as db:
        db.start_stage(job_key, stage)
    started = time.monotonic()
    reason = None
    try:
        with time_limit(stage_limits(settings)[stage].timeout, stage=stage):
            yield
    except BaseException as e:
        reason = reason_of(e)
        raise
    finally:
        with JobDB.from_settings(settings) as db:
            db.record_attempt(stage, seconds=time.monotonic() - started, reason=reason)


@task(
    name="prep",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_if_retryable,
)
def prep(
    archive: Path, work: Path, identity: str, settings: Settings, job_key: str | None = None
) -> Prepared:
    """Extract the pages safely and lay them, untouched, into ``work/raw.pdf``."""
    with stage_attempt(settings, job_key, "prep"):
        return prepare(archive=archive, work=work, identity=identity, settings=settings)


@task(
    name="ocr",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_if_retryable,
)
def ocr(prepared: Prepared, settings: Settings, job_key: str | None = None) -> Recognised:
    """Add the invisible text layer with ocrmypdf; the UI gets a progress artifact.

    The artifact is made before the slot is taken: it shows 0 % while the comic waits.
    """
    with ocr_progress(prepared.name) as on_progress, stage_attempt(settings, job_key, "ocr"):
        return recognise(prepared=prepared, settings=settings, on_progress=on_progress)


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
    """Validate the PDF and publish it in *out_dir* by atomic rename."""
    with stage_attempt(settings, job_key, "finalize"):
        return publish(
            recognised=recognised,
            pages=pages,
            out_dir=out_dir,
            name=name,
            identity=identity,
            settings=settings,
        )
