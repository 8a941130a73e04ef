"""Holding a duplicate: where held files go, their names, and the report beside them.

A held file is ``hold/duplicates/<jobKey>/<UTC timestamp>__<name>``; its report
is ``reports/duplicates/<jobKey>.json``, which says how to decide.
"""

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from comic2pdf.errors import DecisionError
from comic2pdf.publish import place_file, write_atomically
from comic2pdf.settings import Settings
from comic2pdf.store import Duplicate, DuplicateAction, Job, JobDB

log = logging.getLogger(__name__)

DECISION_FILE = "decision.json"
APPLIED_DECISION_FILE = "decision.applied.json"
#: The name of a held file: ``<UTC timestamp>__<original name>``.
HELD_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)__(?P<name>.+)$")


def strip_timestamp(held_name: str) -> str:
    """The original name of a held file: ``20261123T131500Z__Foo.cbz`` → ``Foo.cbz``."""
    match = HELD_NAME.match(held_name)
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
