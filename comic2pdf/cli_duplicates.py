"""``comic2pdf duplicates list|resolve``: see and decide held duplicates.

``list`` is a plain read of the job database (fast, no Prefect). ``resolve``
runs the ``resolve-duplicate`` flow in this process, so the decision shows in
the Prefect UI like one made there.
"""

import argparse
import json
import sys

from comic2pdf import duplicates
from comic2pdf.errors import ComicError
from comic2pdf.settings import load_settings, prepare_flow_environment
from comic2pdf.store import Duplicate, DuplicateAction, Job, JobDB


def _entry(duplicate: Duplicate, job: Job | None) -> dict[str, object]:
    return {
        "jobKey": duplicate.job_key,
        "heldName": duplicate.held_path.name,
        "heldPath": str(duplicate.held_path),
        "detectedAt": duplicate.detected_at.isoformat(),
        "existingState": job.state if job else None,
        "existingOutput": str(job.output_path) if job and job.output_path else None,
        "decision": duplicate.decision,
        "error": duplicate.error,
    }


def cmd_list(args: argparse.Namespace) -> int:
    """Print the held duplicates whose decision is not applied yet."""
    settings = load_settings()
    with JobDB.from_settings(settings) as db:
        held = db.list_duplicates()
        jobs = {key: db.get_job(key) for key in {d.job_key for d in held}}
    entries = [_entry(duplicate, jobs[duplicate.job_key]) for duplicate in held]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    if not entries:
        print("no held duplicates")
        return 0
    for entry in entries:
        print(entry["jobKey"])
        existing = f"{entry['existingOutput'] or '(no output)'} ({entry['existingState']})"
        print(f"  {entry['heldName']}  detected {entry['detectedAt']}  existing: {existing}")
        if entry["error"]:
            print(f"  last attempt failed: {entry['error']}")
    print(
        f"\n{len(entries)} held; decide with: comic2pdf duplicates resolve JOBKEY "
        f"{{{','.join(DuplicateAction)}}} (a unique start of JOBKEY is enough)"
    )
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    """Run the resolve-duplicate flow here; print what it made."""
    settings = load_settings()
    try:
        with JobDB.from_settings(settings) as db:
            job_key = duplicates.held_job_key(args.job_key, db=db)  # fail before Prefect
        # Imported on use: Prefect is slow to import, and cli imports this module.
        from flows.duplicates import resolve_duplicate

        prepare_flow_environment()
        results = resolve_duplicate(job_key=job_key, action=args.action)
    except ComicError as e:
        print(f"{e.reason}: {e.message}", file=sys.stderr)
        return 1
    print(f"{args.action} applied to the files held for {job_key}")
    for result in results:
        print(result)
    return 0


def _action(text: str) -> DuplicateAction:
    try:
        return DuplicateAction(text.strip().upper())
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"unknown action {text!r}; use one of {', '.join(DuplicateAction)}"
        ) from e


def add_duplicates_command(commands: argparse._SubParsersAction) -> None:
    """Add ``duplicates list [--json]`` and ``duplicates resolve JOBKEY ACTION``."""
    parser = commands.add_parser(
        "duplicates",
        help="list held duplicates, or decide what happens to them",
        description="An input whose job is already done or running is held in "
        "DATA_DIR/hold/duplicates/<jobKey>/ until you decide.",
    )
    actions = parser.add_subparsers(dest="duplicates_command", required=True)
    listing = actions.add_parser("list", help="held duplicates waiting for a decision")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(handler=cmd_list)
    resolve = actions.add_parser(
        "resolve",
        help="apply a decision to every file held for a job key",
        description="USE_EXISTING_RESULT copies the existing PDF under the held file's name "
        "and archives the held file; DISCARD deletes it; FORCE_REPROCESS converts it again.",
    )
    resolve.add_argument("job_key", metavar="JOBKEY", help="job key, or a unique start of it")
    resolve.add_argument(
        "action",
        metavar="ACTION",
        type=_action,
        choices=list(DuplicateAction),
        help=f"one of {', '.join(DuplicateAction)} (any case)",
    )
    resolve.set_defaults(handler=cmd_resolve)
