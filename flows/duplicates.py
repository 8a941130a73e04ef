"""Flow ``resolve-duplicate``, and the decision files applied by ``scan-inbox``.

``resolve-duplicate`` takes the job key and the action as parameters, so a held
duplicate can be decided from the Prefect UI (the action is a choice there).

No ``from __future__ import annotations`` here: it breaks pydantic flow
parameters on Prefect >= 3.5 (PrefectHQ/prefect#19447).
"""

from collections.abc import Callable
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

from comic2pdf import duplicates
from comic2pdf.settings import Settings, load_settings
from comic2pdf.store import DuplicateAction
from flows.runlogs import readable_run_logs
from tasks.duplicates import apply_decision_files, apply_duplicate_decision


def convert_again(held: Path) -> Path:
    """FORCE_REPROCESS: convert a held file again, as a new generation of its job."""
    # Imported on use: loading this module (CLI, scan-inbox) need not load the
    # convert flow, and no import cycle can form as the two evolve.
    from flows.convert import convert_comic

    return convert_comic(path=str(held), force_reprocess=True).output


def run_name() -> str:
    """Flow run name shown in the UI: ``resolve-<key start>-<action>``."""
    key = str(flow_run.parameters.get("job_key", ""))
    return f"resolve-{key[:12]}-{flow_run.parameters.get('action', '')}"


@flow(name="resolve-duplicate", flow_run_name=run_name)
def resolve_duplicate(job_key: str, action: DuplicateAction) -> list[str]:
    """Apply a decision to every file held as a duplicate of one job; return what it made.

    Args:
        job_key: The job key the files are held under (hold/duplicates/<jobKey>/), in full or
            a unique start of it, as `comic2pdf duplicates list` shows it.
        action: USE_EXISTING_RESULT copies the existing PDF under the held file's name and
            archives it; DISCARD deletes the held file; FORCE_REPROCESS converts it again.
    """
    readable_run_logs()
    settings = load_settings()
    results = apply_duplicate_decision(job_key, action, settings, convert_again)
    return [str(path) for path in results]


def apply_pending_decisions(
    settings: Settings, reprocess: Callable[[Path], object] = convert_again
) -> int:
    """Apply every ``decision.json`` in hold (for ``scan-inbox``); return how many were applied.

    Most scans find none: the task (and its API round trips) runs only when one is there.
    """
    if not duplicates.pending_decisions(settings):
        return 0
    return apply_decision_files(settings, reprocess)
