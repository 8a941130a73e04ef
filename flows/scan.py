"""Flow ``scan-inbox``: apply duplicate decisions, take over orphaned claims,
and convert the stable files of ``in/``: one ``convert-comic`` run each, with
MAX_JOBS_IN_FLIGHT going at once until nothing is left to start (``comic2pdf.batch``).

With CONVERT_DEPLOYMENT set (``make deploy`` sets it) each run is a deployment
run that any worker of the pool may take; otherwise a subflow in this process.
Either way it is a child of the scan, tagged, and cancelling the scan cancels it.

No ``from __future__ import annotations`` here (PrefectHQ/prefect#19447).
"""

import contextvars
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger, tags
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, TerminationSignal
from prefect.states import Cancelled
from pydantic import BaseModel

from comic2pdf.batch import Conversions, keep_converting
from comic2pdf.duplicates import pending_decisions
from comic2pdf.errors import JobCancelled, SettingsError
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
from tasks.runs import (
    CHECK_SECONDS,
    TAG,
    cancel_children,
    cancel_requested,
    current_run,
    is_final,
    read_runs,
    scan_artifact,
)


class ScanReport(BaseModel):
    started: int = 0
    outcomes: dict[str, int] = {}  # how many ended each way
    conversions: dict[str, str] = {}  # input name → how its run ended
    waiting: int = 0  # files left in in/ (not yet stable when the pass ended)


def inputs_to_start(settings: Settings) -> list[Path]:
    """Orphaned claims first (a crashed run's inputs), then stable inbox files."""
    return orphaned_inputs(settings) + stable_files(
        settings.in_dir, stable_seconds=settings.stable_seconds
    )


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


def convert_all(settings: Settings, conversions: Conversions) -> dict[str, str]:
    """Keep MAX_JOBS_IN_FLIGHT conversions going until the inbox has nothing to start.

    If the scan is cancelled, its conversions are cancelled first. A scan run
    by a worker is stopped with SIGTERM (Prefect's TerminationSignal); one run by
    ``comic2pdf scan`` learns of its cancellation from the API. Ctrl-C cancels
    nothing: the next scan takes the interrupted inputs over.
    """
    scan = current_run()
    assert scan is not None  # called from the scan flow only
    last_report = time.monotonic()

    def check() -> None:
        nonlocal last_report
        if cancel_requested(scan.id):
            raise JobCancelled("the scan was cancelled")
        if time.monotonic() - last_report >= settings.scan_interval_seconds:
            after_scan(settings)  # a long pass still reports, as a pass would
            last_report = time.monotonic()

    try:
        return keep_converting(
            conversions,
            lambda: inputs_to_start(settings),
            size=settings.max_jobs_in_flight,
            check=check,
            every=CHECK_SECONDS,
        )
    except (JobCancelled, TerminationSignal):
        count = cancel_children(scan.id, why="the scan that started it was cancelled")
        get_run_logger().warning("scan stopped: cancelling the %d conversions it started", count)
        raise


class ConvertHere:
    """Each input a ``convert-comic`` subflow in a thread of this process.

    Each thread runs in a copy of the scan's context, so every conversion is a
    child of the scan in the UI, with its tags and logs; its stages keep their
    time limits there (``pipeline.interrupt``).
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool

    def start(self, path: Path) -> Future:
        return self.pool.submit(contextvars.copy_context().run, _convert_subflow, path)

    def wait_ended(self, running: list[Future], timeout: float) -> dict[Future, str]:
        done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        return {future: future.result() for future in done}


def _convert_subflow(path: Path) -> str:
    state = convert_comic(path=str(path), return_state=True)
    if not state.is_completed():
        return state.name.lower()  # the run logged why and moved the input
    return state.result().outcome


class ConvertOnPool:
    """Each input a run of the CONVERT_DEPLOYMENT deployment, for any worker of its pool."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment

    def start(self, path: Path) -> UUID:
        try:
            run = run_deployment(
                self.deployment,
                parameters={"path": str(path)},
                flow_run_name=f"convert-{path.stem}",
                tags=[TAG],
                timeout=0,  # started, not waited for here: they run side by side
                as_subflow=True,
            )
        except ObjectNotFound:
            raise SettingsError(
                f"CONVERT_DEPLOYMENT={self.deployment}: no such deployment; register it "
                "(make deploy) or unset CONVERT_DEPLOYMENT to convert in the scan's process"
            ) from None
        return run.id

    def wait_ended(self, running: list[UUID], timeout: float) -> dict[UUID, str]:
        runs = read_runs(running)
        ended = {run_id: _ending(runs[run_id]) for run_id in running if is_final(runs.get(run_id))}
        if not ended:
            time.sleep(timeout)
        return ended


def _ending(run: FlowRun) -> str:
    return run.state.name.lower() if run.state is not None else "unknown"


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
    try:
        if settings.convert_deployment:
            outcomes = convert_all(settings, ConvertOnPool(settings.convert_deployment))
        else:
            with tags(TAG), ThreadPoolExecutor(settings.max_jobs_in_flight) as pool:
                outcomes = convert_all(settings, ConvertHere(pool))
    except JobCancelled as e:
        return Cancelled(message=str(e))  # type: ignore[return-value]
    report = ScanReport(
        started=len(outcomes),
        outcomes=dict(Counter(outcomes.values())),
        conversions=outcomes,
        waiting=waiting_files(settings),
    )
    after_scan(settings)
    get_run_logger().info("scan: %s", report)
    if outcomes:
        scan_artifact(outcomes)
    return report
