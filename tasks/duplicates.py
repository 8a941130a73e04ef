"""Applying duplicate decisions as Prefect tasks: thin wrappers over comic2pdf.duplicates.

Each task opens its own ``JobDB``: a connection belongs to the thread that
opened it. ``reprocess`` (convert a held file again) comes from the flow layer,
since converting is a flow of its own.
"""

from collections.abc import Callable
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from comic2pdf import duplicates
from comic2pdf.errors import ComicError, DecisionError
from comic2pdf.settings import Settings
from comic2pdf.store import DuplicateAction, JobDB
from tasks.held import report_decided


@task(name="apply-decision", cache_policy=NO_CACHE)
def apply_duplicate_decision(
    job_key: str,
    action: DuplicateAction,
    settings: Settings,
    reprocess: Callable[[Path], object],
) -> list[Path]:
    """Apply *action* to every held file of *job_key* (or a unique start of it).

    Nothing held is an error.
    """
    with JobDB.from_settings(settings) as db:
        job_key = duplicates.held_job_key(job_key, db=db)
        held = duplicates.held_files(job_key, settings=settings, db=db)
        if not held:
            raise DecisionError(
                f"nothing is held for job key {job_key}; see 'comic2pdf duplicates list'"
            )
        get_run_logger().info("%s for %d held file(s) of %s", action, len(held), job_key)
        results: list[Path] = []
        try:
            results = duplicates.apply_decision(
                job_key, action, settings=settings, db=db, reprocess=reprocess
            )
        finally:  # what was decided reaches the UI, applied or not
            report_decided(held, action, results, settings)
        return results


@task(name="apply-pending-decisions", cache_policy=NO_CACHE)
def apply_decision_files(settings: Settings, reprocess: Callable[[Path], object]) -> int:
    """Apply every ``hold/duplicates/<jobKey>/decision.json``; return how many were applied.

    A decision that cannot be read or applied is logged and recorded on its
    held files, which stay where they are; the others are still applied.
    """
    logger = get_run_logger()
    applied = 0
    with JobDB.from_settings(settings) as db:
        for job_key, folder in duplicates.pending_decisions(settings):
            try:
                action = duplicates.read_decision(folder)
            except DecisionError as e:
                logger.error("%s", e)
                for held in duplicates.held_files(job_key, settings=settings, db=db):
                    db.record_duplicate_error(held.id, str(e))
                continue
            if action is None:
                continue  # removed since the folder was listed
            held = duplicates.held_files(job_key, settings=settings, db=db)
            try:
                results = duplicates.apply_decision(
                    job_key, action, settings=settings, db=db, reprocess=reprocess
                )
            except ComicError as e:
                # Deliberate: one decision that fails (recorded on its held files)
                # must not stop the scan or the other decisions.
                logger.error("%s for %s not applied: %s", action, job_key, e)
                report_decided(held, action, [], settings)
                continue
            report_decided(held, action, results, settings)
            logger.info("%s for %s applied: %s", action, job_key, [str(p) for p in results])
            applied += 1
    return applied
