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


def retry_if_retryable(task, task_run, state) -> bool:
    """Prefect retry condition: retry unless the error says retrying cannot help."""
    try:
        state.result()
    except Exception as e:  # noqa: BLE001 - the failure is judged, not handled, here
        return should_retry(e)
    return True


@contextlib.contextmanager
def stage_attempt(settings: Settings, job_key: str | None, stage: str) -> Iterator[None]:
    """One attempt of a stage under its time limit, counted in the job database
    (one-shot jobs, *job_key* None, are not).

    Failed, timed-out and cancelled attempts are recorded too, with their reason.
    The stage's concurrency slot is taken by the flow around the task
    (``tasks.slots.stage_slot``), so that one slot covers the retries.
    """
    if job_key:
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
        if job_key:
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
    """Add the invisible text layer with ocrmypdf; the UI gets a progress artifact."""
    with stage_attempt(settings, job_key, "ocr"), ocr_progress(prepared.name) as on_progress:
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
