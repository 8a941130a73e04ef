"""Deciding on held duplicates: the decisions waiting in hold folders, and what they apply to.

A decision is ``hold/duplicates/<jobKey>/decision.json`` (``{"action": "…"}``),
``comic2pdf duplicates resolve`` or the ``resolve-duplicate`` deployment; the
held files it applies to are those of its job key not applied yet.
"""

import json
import logging
from pathlib import Path

from comic2pdf.duplicates.holding import DECISION_FILE, HELD_NAME, hold_folder, strip_timestamp
from comic2pdf.errors import DecisionError
from comic2pdf.settings import Settings
from comic2pdf.store import Duplicate, DuplicateAction, JobDB

log = logging.getLogger(__name__)

_ACTIONS = ", ".join(DuplicateAction)


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
            if HELD_NAME.match(path.name) and path.is_file() and str(path) not in known:
                log.warning("%s was held but not recorded; recording it now", path)
                db.add_duplicate(job_key, held_path=path, incoming_name=strip_timestamp(path.name))
    return db.list_duplicates(job_key=job_key)
