"""Applying a decision to every held file of a job key.

Applying is safe to repeat and to interrupt: each held file's decision is
carried out first and marked applied after, and each step can run again
without effect (the copy of the existing PDF replaces an identical copy, a file
already gone from hold is not looked for again).
"""

import filecmp
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from comic2pdf.duplicates.decisions import held_files
from comic2pdf.duplicates.holding import APPLIED_DECISION_FILE, DECISION_FILE, hold_folder
from comic2pdf.errors import ComicError, DecisionError
from comic2pdf.publish import output_name, place_file
from comic2pdf.settings import Settings
from comic2pdf.store import Duplicate, DuplicateAction, JobDB, State

log = logging.getLogger(__name__)


def apply_decision(
    job_key: str,
    action: DuplicateAction,
    *,
    settings: Settings,
    db: JobDB,
    reprocess: Callable[[Path], object],
) -> list[Path]:
    """Apply ``action`` to every held file of ``job_key``; return the paths it produced.

    USE_EXISTING_RESULT gives the copies of the existing PDF in out/, FORCE_REPROCESS
    what ``reprocess`` returned when that is a path, DISCARD nothing. Once no held file
    is left pending, ``decision.json`` becomes ``decision.applied.json`` and an empty
    hold folder is removed. Nothing pending: nothing done, ``[]``.

    Raises:
        ComicError: a held file could not be applied (recorded on it; it stays held,
            the others are applied); with several, one DecisionError naming them all.
    """
    action = DuplicateAction(action)
    results: list[Path] = []
    failures: list[ComicError] = []
    for duplicate in held_files(job_key, settings=settings, db=db):
        try:
            result = _apply_one(duplicate, action, settings=settings, db=db, reprocess=reprocess)
        except ComicError as e:
            # Deliberate: one held file that cannot be applied must not stop the
            # others; the error is recorded on it and raised below.
            failures.append(e)
            continue
        if result is not None and result not in results:
            results.append(result)
    _close_folder(hold_folder(job_key, settings), job_key, db)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise DecisionError(
            f"{len(failures)} held files of {job_key} not applied: "
            + "; ".join(str(e) for e in failures)
        ) from failures[0]
    return results


def _apply_one(
    duplicate: Duplicate,
    action: DuplicateAction,
    *,
    settings: Settings,
    db: JobDB,
    reprocess: Callable[[Path], object],
) -> Path | None:
    held = duplicate.held_path
    try:
        db.decide_duplicate(duplicate.id, action)
    except DecisionError:
        if _still_pending(duplicate, db):
            raise
        log.info("%s: the decision was applied by another process meanwhile", held.name)
        return None
    try:
        if action is DuplicateAction.USE_EXISTING_RESULT:
            result = _use_existing_result(duplicate, settings=settings, db=db)
        elif action is DuplicateAction.DISCARD:
            held.unlink(missing_ok=True)
            log.info("%s discarded", held.name)
            result = None
        else:
            result = _reprocess(held, reprocess)
    except OSError as e:
        # A folder not writable, a full disk…: recorded like any failure, tried again later.
        error = DecisionError(f"{held.name}: {action} failed: {e}")
        db.record_duplicate_error(duplicate.id, str(error))
        raise error from e
    except ComicError as e:
        if action is DuplicateAction.FORCE_REPROCESS and not held.exists():
            # The conversion claimed the file, then failed: the decision is
            # applied (the input is in error/ with its reason); the failure is reported.
            _mark_applied(duplicate, db)
        else:
            db.record_duplicate_error(duplicate.id, str(e))  # still held, still pending
        raise
    _mark_applied(duplicate, db)
    return result


def _still_pending(duplicate: Duplicate, db: JobDB) -> bool:
    return any(d.id == duplicate.id for d in db.list_duplicates(job_key=duplicate.job_key))


def _mark_applied(duplicate: Duplicate, db: JobDB) -> None:
    if not db.mark_duplicate_applied(duplicate.id):
        log.info("%s: the decision was applied by another process meanwhile", duplicate.held_path)


def _use_existing_result(duplicate: Duplicate, *, settings: Settings, db: JobDB) -> Path:
    existing = _existing_output(duplicate.job_key, db)
    # The copy comes first: after a crash between the two steps the next attempt
    # replaces that identical copy instead of adding a second one.
    copy = _publish_copy(existing, settings.out_dir, output_name(duplicate.incoming_name))
    if duplicate.held_path.exists():
        archived = place_file(duplicate.held_path, settings.archive_dir, duplicate.incoming_name)
        log.info("%s: result copied to %s, input archived as %s", archived.name, copy, archived)
    return copy


def _existing_output(job_key: str, db: JobDB) -> Path:
    job = db.get_job(job_key)
    if job is None:
        raise DecisionError(
            f"job {job_key} is not in the job database; choose FORCE_REPROCESS or DISCARD"
        )
    if job.in_flight:
        raise DecisionError(
            f"job {job_key} is still {job.state}; decide again once it has finished"
        )
    if job.state is not State.DONE or job.output_path is None:
        raise DecisionError(
            f"job {job_key} is {job.state} and has no result; choose FORCE_REPROCESS or DISCARD"
        )
    if not job.output_path.is_file():
        raise DecisionError(
            f"the existing result {job.output_path} is missing; choose FORCE_REPROCESS or DISCARD"
        )
    return job.output_path


def _publish_copy(source: Path, out_dir: Path, name: str) -> Path:
    """Copy *source* to ``out_dir/name`` (or ``name (N)``), appearing there in one step.

    A name already holding the same bytes is replaced, not doubled: a repeated
    attempt, or a copy under the very name of the existing result.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    temp = out_dir / f".{uuid.uuid4().hex}.copying"
    try:
        shutil.copyfile(source, temp)
        return place_file(
            temp, out_dir, name, replace_if=lambda taken: filecmp.cmp(taken, source, shallow=False)
        )
    finally:
        temp.unlink(missing_ok=True)


def _reprocess(held: Path, reprocess: Callable[[Path], object]) -> Path | None:
    if not held.exists():
        # Only after a crash between reprocessing and recording it.
        log.warning("%s is no longer held (reprocessed already?); nothing to do", held)
        return None
    result = reprocess(held)
    if held.exists():
        raise DecisionError(f"{held} is still held after reprocessing it; decide again")
    return result if isinstance(result, Path) else None


def _close_folder(folder: Path, job_key: str, db: JobDB) -> None:
    if db.list_duplicates(job_key=job_key) or not folder.is_dir():
        return
    decision = folder / DECISION_FILE
    if decision.exists():
        decision.replace(folder / APPLIED_DECISION_FILE)
    if not any(folder.iterdir()):
        folder.rmdir()
