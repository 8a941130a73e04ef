"""Held duplicates: holding an input whose job already exists, and applying the decision.

A duplicate is an input whose job key is already DONE or in flight. It waits in
``hold/duplicates/<jobKey>/<UTC timestamp>__<name>`` with a report in
``reports/duplicates/<jobKey>.json`` until someone decides (SPEC "Duplicates"):
``hold/duplicates/<jobKey>/decision.json``, ``comic2pdf duplicates resolve`` or
the ``resolve-duplicate`` deployment. All three end in :func:`apply_decision`.

No Prefect here: the flow layer passes ``reprocess``, the function that converts
a held file again.

Applying is safe to repeat and to interrupt: each held file's decision is
carried out first and marked applied after, and each step can run again
without effect (the copy of the existing PDF replaces an identical copy, a file
already gone from hold is not looked for again).
"""

import filecmp
import json
import logging
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from comic2pdf.errors import ComicError, DecisionError
from comic2pdf.publish import output_name, place_file, write_atomically
from comic2pdf.settings import Settings
from comic2pdf.store import Duplicate, DuplicateAction, Job, JobDB, State

log = logging.getLogger(__name__)

DECISION_FILE = "decision.json"
APPLIED_DECISION_FILE = "decision.applied.json"
_HELD_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)__(?P<name>.+)$")
_ACTIONS = ", ".join(DuplicateAction)


def strip_timestamp(held_name: str) -> str:
    """The original name of a held file: ``20261123T131500Z__Foo.cbz`` → ``Foo.cbz``."""
    match = _HELD_NAME.match(held_name)
    return match["name"] if match else held_name


def hold_folder(job_key: str, settings: Settings) -> Path:
    """``hold/duplicates/<jobKey>``; a key that is not a plain name is refused."""
    if not job_key or job_key in (".", "..") or "/" in job_key or "\\" in job_key:
        raise DecisionError(f"{job_key!r} is not a job key; see 'comic2pdf duplicates list'")
    return settings.hold_dir / job_key


def how_to_decide(job_key: str, settings: Settings) -> str:
    folder = hold_folder(job_key, settings)
    return (
        f'write {{"action": "<{"|".join(DuplicateAction)}>"}} to {folder / DECISION_FILE}, '
        f"or run 'comic2pdf duplicates resolve {job_key} ACTION', "
        "or run the resolve-duplicate deployment with job_key and action"
    )


# --- holding ----------------------------------------------------------------------------------


def hold_duplicate(
    input_path: Path,
    *,
    job_key: str,
    existing: Job,
    profile: dict,
    settings: Settings,
    db: JobDB,
    now: datetime | None = None,
) -> Path:
    """Move a duplicate input into hold, record it and write its report; return the held path.

    The event is not counted here: :meth:`JobDB.claim_job` already counted
    ``duplicates_detected`` when it answered DUPLICATE.
    """
    now = _utc(now or datetime.now(UTC))
    name = strip_timestamp(input_path.name)  # an input held before keeps its first name
    size = input_path.stat().st_size
    held = place_file(
        input_path, hold_folder(job_key, settings), f"{now.strftime('%Y%m%dT%H%M%SZ')}__{name}"
    )
    db.add_duplicate(job_key, held_path=held, incoming_name=name)
    report = settings.reports_dir / f"{job_key}.json"
    document = {
        "jobKey": job_key,
        "detectedAt": now.isoformat(timespec="seconds"),
        "incoming": {"name": name, "path": str(held), "size": size},
        "existing": _describe_job(existing),
        "profile": profile,
        "allowedActions": list(DuplicateAction),
        "howToDecide": how_to_decide(job_key, settings),
        "held": [_describe_held(d) for d in db.list_duplicates(job_key=job_key)],
    }
    write_atomically(report, json.dumps(document, indent=2).encode() + b"\n")
    log.warning(
        "%s is a duplicate of job %s (%s); held as %s until a decision: see %s",
        name, job_key, existing.state, held, report,
    )  # fmt: skip
    return held


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _describe_job(job: Job) -> dict[str, object]:
    return {
        "state": job.state,
        "inputName": job.input_name,
        "outputPath": str(job.output_path) if job.output_path else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "generation": job.generation,
    }


def _describe_held(duplicate: Duplicate) -> dict[str, object]:
    path = duplicate.held_path
    return {
        "name": duplicate.incoming_name,
        "path": str(path),
        "size": path.stat().st_size if path.exists() else None,
        "detectedAt": duplicate.detected_at.isoformat(),
    }


# --- deciding -----------------------------------------------------------------------------------


def read_decision(folder: Path) -> DuplicateAction | None:
    """The action in ``folder/decision.json``; None when there is no such file.

    The action is read case-insensitively. Reading changes nothing.

    Raises:
        DecisionError: the file is not JSON, not ``{"action": "<text>"}`` or names
            an unknown action.
    """
    path = folder / DECISION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise DecisionError(f"{path}: cannot read the decision: {e}") from e
    expected = f'write {{"action": "ACTION"}} with ACTION one of {_ACTIONS}'
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise DecisionError(f"{path}: not valid JSON ({e}); {expected}") from e
    action = document.get("action") if isinstance(document, dict) else None
    if not isinstance(action, str):
        raise DecisionError(
            f"{path}: expected an object with a text 'action', "
            f"got {text.strip()[:80]!r}; {expected}"
        )
    try:
        return DuplicateAction(action.strip().upper())
    except ValueError as e:
        raise DecisionError(f"{path}: unknown action {action!r}; use one of {_ACTIONS}") from e


def pending_decisions(settings: Settings) -> list[tuple[str, Path]]:
    """``(jobKey, hold folder)`` of every hold folder holding a ``decision.json``, by key."""
    if not settings.hold_dir.is_dir():
        return []
    return [
        (folder.name, folder)
        for folder in sorted(settings.hold_dir.iterdir())
        if (folder / DECISION_FILE).is_file()
    ]


def held_job_key(given: str, *, db: JobDB) -> str:
    """The job key of the held files that *given* names, in full or by a unique start."""
    keys = {d.job_key for d in db.list_duplicates()}
    if given in keys:
        return given
    matches = sorted(key for key in keys if key.startswith(given))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DecisionError(f"{given} is the start of {len(matches)} job keys; give more of it")
    raise DecisionError(f"nothing is held for job key {given}; see 'comic2pdf duplicates list'")


def held_files(job_key: str, *, settings: Settings, db: JobDB) -> list[Duplicate]:
    """The held files of ``job_key`` whose decision is not applied yet, oldest first.

    A file in the hold folder that the database does not know (a crash between
    the move and the record) is recorded first, so it is decided with the rest.
    """
    folder = hold_folder(job_key, settings)
    if folder.is_dir():
        known = {str(d.held_path) for d in db.list_duplicates(pending_only=False, job_key=job_key)}
        for path in sorted(folder.iterdir()):
            if _HELD_NAME.match(path.name) and path.is_file() and str(path) not in known:
                log.warning("%s was held but not recorded; recording it now", path)
                db.add_duplicate(job_key, held_path=path, incoming_name=strip_timestamp(path.name))
    return db.list_duplicates(job_key=job_key)


# --- applying ----------------------------------------------------------------------------------


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
