"""Flow ``scan-inbox``: apply duplicate decisions, take over orphaned claims,
and start one ``convert-comic`` run per stable file in ``in/``.

No ``from __future__ import annotations`` here (PrefectHQ/prefect#19447).
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect import flow, get_run_logger
from pydantic import BaseModel

from comic2pdf.duplicates import pending_decisions
from comic2pdf.inbox import (
    ensure_layout,
    expired_work_dirs,
    is_ignored,
    orphaned_inputs,
    stable_files,
)
from comic2pdf.metrics.reporting import after_scan
from comic2pdf.publish import remove_tree
from comic2pdf.settings import Settings, load_settings
from comic2pdf.store import JobDB
from flows.convert import convert_comic
from flows.duplicates import apply_pending_decisions
from flows.idle import idle
from tasks.limits import pass_slots


class ScanReport(BaseModel):
    started: int = 0
    outcomes: dict[str, int] = {}
    waiting: int = 0  # files left in in/ (not yet stable, or over MAX_JOBS_IN_FLIGHT)


def inputs_to_start(settings: Settings) -> list[Path]:
    """Orphaned claims first (a crashed run's inputs), then stable inbox files."""
    found = orphaned_inputs(settings) + stable_files(
        settings.in_dir, stable_seconds=settings.stable_seconds
    )
    return found[: settings.max_jobs_in_flight]


def has_work(settings: Settings) -> bool:
    """Whether a scan pass would do anything: a decision, an old work folder, an input.

    Checked without Prefect, so ``comic2pdf scan`` skips idle passes: a
    scan-inbox flow run costs about a second of Prefect bookkeeping even when
    it finds nothing (README Performance).
    """
    return bool(
        pending_decisions(settings)
        or expired_work_dirs(settings, in_flight=set())
        or inputs_to_start(settings)
    )


def waiting_files(settings: Settings) -> int:
    return sum(1 for p in settings.in_dir.iterdir() if p.is_file() and not is_ignored(p.name))


def sweep_work_dirs(settings: Settings) -> int:
    """The janitor: delete work folders past KEEP_WORK_DIR_DAYS, never a running job's."""
    with JobDB.from_settings(settings) as db:
        in_flight = {job.job_key for job in db.jobs_in_flight()}
    expired = expired_work_dirs(settings, in_flight=in_flight)
    for folder in expired:
        remove_tree(folder)
    return len(expired)


def _convert(path: Path) -> str:
    """Run one conversion; its outcome, or "failed" (the run logged why and moved the input).

    The return value is taken from the run itself: read back from a returned
    state, it was once missing (Prefect's MissingResult) when the API had
    answered that state under load.
    """
    try:
        return convert_comic(path=str(path)).outcome
    except Exception:  # noqa: BLE001 - any failure of one comic must not end the scan
        return "failed"


@flow(name="scan-inbox", log_prints=True)
def scan_inbox() -> ScanReport:
    """One pass over the inbox; every started conversion is waited for."""
    settings = load_settings()
    ensure_layout(settings)
    if not has_work(settings):  # a scheduled scan that finds nothing: flows/idle.py
        after_scan(settings)
        waiting = waiting_files(settings)
        return idle(ScanReport(waiting=waiting), waiting=waiting)  # type: ignore[return-value]
    apply_pending_decisions(settings)
    sweep_work_dirs(settings)
    paths = inputs_to_start(settings)
    with (
        pass_slots(settings, len(paths)),
        ThreadPoolExecutor(max_workers=settings.max_jobs_in_flight) as pool,
    ):
        outcomes = Counter(pool.map(_convert, paths))
    report = ScanReport(
        started=len(paths), outcomes=dict(outcomes), waiting=waiting_files(settings)
    )
    after_scan(settings)
    get_run_logger().info("scan: %s", report)
    return report
