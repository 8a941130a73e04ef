"""What the Prefect UI says about a held duplicate: when it is held, and when it is decided.

Both artifacts use the comic's key (``tasks.report.artifact_key``), so the
comic's artifact history reads: held, then decided (and converted again, for
FORCE_REPROCESS).
"""

from pathlib import Path

from comic2pdf.duplicates import DECISION_FILE, hold_folder
from comic2pdf.settings import Settings
from comic2pdf.store import Duplicate, DuplicateAction, JobDB
from tasks.report import publish_summary


def report_held(name: str, job_key: str, settings: Settings) -> str:
    """Publish a held duplicate's artifact; return the one-line message of its run's state.

    The artifact says what the file duplicates and every way to decide.
    """
    with JobDB.from_settings(settings) as db:
        existing = db.get_job(job_key)
        held = [d for d in db.list_duplicates(job_key=job_key) if d.incoming_name == name]
    folder = hold_folder(job_key, settings)
    rows: dict[str, object] = {
        "input": name,
        "held as": held[-1].held_path if held else folder,
        "duplicate of": existing.input_name if existing else "?",
        "existing job": existing.state if existing else "not in the job database",
        "existing output": (existing.output_path if existing else None) or "none",
        "jobKey": job_key,
    }
    publish_summary(name, f"Held: {name} is a duplicate", rows, decide_commands(job_key, settings))
    what = f"{existing.input_name} ({existing.state})" if existing else f"job {job_key}"
    return (
        f"{name} duplicates {what}; held in {folder} until decided "
        f"(comic2pdf duplicates resolve {job_key[:16]} ACTION)"
    )


def decide_commands(job_key: str, settings: Settings) -> str:
    actions = "|".join(DuplicateAction)
    folder = hold_folder(job_key, settings)
    return "\n".join(
        [
            "Decide with one of (ACTION: USE_EXISTING_RESULT copies the existing PDF under "
            "this name, DISCARD deletes the held file, FORCE_REPROCESS converts it again):",
            "",
            f"- `comic2pdf duplicates resolve {job_key[:16]} ACTION`",
            f"- `prefect deployment run 'resolve-duplicate/resolve-duplicate' "
            f"--param job_key={job_key[:16]} --param action=ACTION` (deployment "
            "`resolve-duplicate/local` or `/docker` after `make deploy`), "
            "or that deployment's Run form in the UI",
            f'- `{{"action": "{actions}"}}` written to `{folder / DECISION_FILE}`, '
            "applied by the next scan",
        ]
    )


def report_decided(
    before: list[Duplicate], action: DuplicateAction, results: list[Path], settings: Settings
) -> None:
    """A new version of each decided file's artifact: the decision and what it made."""
    if not before:
        return
    with JobDB.from_settings(settings) as db:
        records = db.list_duplicates(pending_only=False, job_key=before[0].job_key)
    now = {record.id: record for record in records}
    made = "; ".join(str(path) for path in results) or (
        "the held file deleted" if action is DuplicateAction.DISCARD else "nothing"
    )
    for duplicate in before:
        record = now.get(duplicate.id, duplicate)
        failed = record.applied_at is None and record.error
        rows = {
            "input": duplicate.incoming_name,
            "decision": action,
            "outcome": f"not applied: {record.error}" if failed else "applied",
            "result": "none" if failed else made,
            "jobKey": duplicate.job_key,
        }
        title = f"Decided: {duplicate.incoming_name} → {action}"
        advice = "The file is still held: decide again." if failed else ""
        publish_summary(duplicate.incoming_name, title, rows, advice)
