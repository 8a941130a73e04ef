"""An inbox job's record and its input's place: started, refused, failed, cancelled, done.

The job store and the inbox folders change together here, without Prefect, for
the ``convert-comic`` flow (``flows/convert.py``).
"""

from pathlib import Path

from comic2pdf import jobkey
from comic2pdf.duplicates import hold_duplicate
from comic2pdf.errors import JobCancelled, message_of, reason_of
from comic2pdf.inbox import Claim, move_to_archive, move_to_error
from comic2pdf.publish import remove_tree
from comic2pdf.settings import Settings
from comic2pdf.store import JobDB, State


def refuse(claim: Claim, settings: Settings, error: BaseException, *, seconds: float) -> None:
    """An input refused before it became a job: to error/, counted by reason."""
    reason = reason_of(error)
    message = message_of(error)
    with JobDB.from_settings(settings) as db:
        db.record_event("inputs_rejected", labels={"reason": reason})
        db.observe("job_duration_seconds", seconds, labels={"outcome": "rejected"})
    move_to_error(
        claim, settings, reason=reason, message=message, stage="check", attempts=0, job_key=None,
    )  # fmt: skip


def start_job(
    claim: Claim, key: str, profile: dict[str, object], settings: Settings, *, force: bool
) -> tuple[str, int] | None:
    """Record the job; return (state, generation) to convert, or None for a held duplicate."""
    with JobDB.from_settings(settings) as db:
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
    with JobDB.from_settings(settings) as db:
        job = db.get_job(key)
        stage = str(job.stage or "prep") if job else "prep"
        db.fail_job(key, stage=stage, reason=reason, message=message)
        attempts = job.attempts(stage) if job else 0
    placed = move_to_error(
        claim, settings, reason=reason, message=message, stage=stage, attempts=attempts,
        job_key=key,
    )  # fmt: skip
    with JobDB.from_settings(settings) as db:
        db.set_input_path(key, placed)


def cancelled(claim: Claim, key: str, settings: Settings, error: JobCancelled) -> None:
    """A cancelled job: its scratch removed, the input in error/ with reason ``cancelled``."""
    remove_tree(settings.work_dir / key)
    fail(claim, key, settings, error)


def finish(claim: Claim, key: str, settings: Settings, **done: object) -> Path:
    with JobDB.from_settings(settings) as db:
        db.finish_job(key, input_path=claim.path, **done)  # type: ignore[arg-type]
    return archive_input(claim, key, settings)


def archive_input(claim: Claim, key: str, settings: Settings) -> Path:
    """Move the input of a job recorded DONE to archive/ and record where it went."""
    archived = move_to_archive(claim, settings)
    with JobDB.from_settings(settings) as db:
        db.set_input_path(key, archived)
    return archived
