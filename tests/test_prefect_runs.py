"""Inbox conversions as Prefect runs (issue #13), on a real ``prefect server start``.

The module starts one server and registers the ``<flow>/local`` deployments with
``scripts/deploy.sh``; each test starts the real process workers it needs
(``prefect worker start --pool comic2pdf-local``), each in its own folder. A fake
Tesseract that hangs (tests/fakes.py) makes "mid-OCR" certain where it matters.
"""

import contextlib
import contextvars
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

from comic2pdf.proc import kill_group
from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB
from flows.scan import scan_inbox
from tests.conftest import BIN, ROOT, prefect_server_running, start_process
from tests.fakes import alive, fake_tesseract, path_with, started_pids, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.server]
POOL_DEPLOYMENT = "convert-comic/local"
#: A conversion's last line in the log of the worker that ran it.
FINISHED = re.compile(r"Flow run '(convert-[^']+)' - Finished in state Completed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Prefect server with the local deployments of prefect.yaml registered."""
    with prefect_server_running(tmp_path_factory.mktemp("prefect-runs"), ui=False) as server:
        deployed = subprocess.run(
            [ROOT / "scripts" / "deploy.sh"], env=server.env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        # The tests start each scan themselves: no scheduled scan or push on their workers.
        with get_client(sync_client=True) as client:
            for name in ("scan-inbox/local", "push-metrics/local"):
                client.pause_deployment(client.read_deployment_by_name(name).id)
        yield server


@pytest.fixture
def inbox(data_dir, monkeypatch):
    monkeypatch.setenv("STABLE_SECONDS", "0")
    monkeypatch.setenv("OCR_MODE", "page")  # one Tesseract per page: quicker, same seams
    (data_dir / "in").mkdir(parents=True)
    return data_dir / "in"


@contextlib.contextmanager
def worker(server, folder: Path, data_dir: Path, *, limit: int, path: str | None = None):
    """A real process worker of comic2pdf-local, started in *folder*; yields its log."""
    folder.mkdir(parents=True)
    env = server.env | {
        "DATA_DIR": str(data_dir), "RETRY_DELAY_SECONDS": "0", "OCR_JOBS": "1",
        "OCR_MODE": "page", "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PATH": path or os.environ["PATH"],
    }  # fmt: skip
    log = folder / "worker.log"
    argv = [BIN / "prefect", "worker", "start", "--pool", "comic2pdf-local"]
    process = start_process([*argv, "--name", folder.name, "--limit", str(limit)], log, env, folder)
    try:
        yield log
    finally:
        kill_group(process, grace=15)


def comics(inbox: Path, count: int, prefix: str) -> list[str]:
    for n in range(count):
        make_comic(inbox / f"{prefix}{n}.cbz", title=f"{prefix}{n}", pages=1, seed=n)
    return sorted(f"{prefix}{n}.cbz" for n in range(count))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def children(scan_id: UUID) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[scan_id])
            ),
            sort=FlowRunSort.NAME_ASC,
            limit=50,
        )


def run_named(name: str, timeout: float = 120) -> FlowRun:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            found = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=1
            )
            if found:
                return found[0]
            time.sleep(0.5)
    pytest.fail(f"no flow run named {name} within {timeout} s")


def error_reasons(data_dir: Path) -> dict[str, str]:
    return {
        p.name.removesuffix(".error.json"): json.loads(p.read_text())["reason"]
        for p in (data_dir / "error").glob("*.error.json")
    }


class ScanThread(threading.Thread):
    """``scan_inbox`` in a thread of the test (with its Prefect settings), its final state kept."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.state = None
        self.context = contextvars.copy_context()

    def run(self) -> None:
        self.state = self.context.run(scan_inbox, return_state=True)


@contextlib.contextmanager
def scanning() -> Iterator[ScanThread]:
    thread = ScanThread()
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive(), "the scan never ended"


def cancel(flow_run_id: UUID, server) -> None:
    """What a user does: ``prefect flow-run cancel``."""
    done = subprocess.run(
        [BIN / "prefect", "flow-run", "cancel", str(flow_run_id)], env=server.env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def state_of(flow_run_id: UUID) -> str:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state.type.value


# --- every conversion a run of the pool ------------------------------------------------


def test_a_scan_starts_one_convert_comic_run_per_input_on_the_pool(
    server, data_dir, inbox, monkeypatch, tmp_path
):
    expected = comics(inbox, 3, "pool")
    monkeypatch.setenv("CONVERT_DEPLOYMENT", POOL_DEPLOYMENT)
    with worker(server, tmp_path / "w1", data_dir, limit=3):
        state = scan_inbox(return_state=True)
    report = state.result()
    assert report.conversions == dict.fromkeys(expected, "completed")
    runs = children(state.state_details.flow_run_id)
    assert [run.name for run in runs] == ["convert-pool0", "convert-pool1", "convert-pool2"]
    with get_client(sync_client=True) as client:
        (deployment,) = client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["convert-comic"])),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["local"])),
        )
    for run in runs:
        assert run.deployment_id == deployment.id
        assert "comic2pdf" in run.tags
        assert run.state.is_completed()
    assert names(data_dir / "out") == ["pool0.pdf", "pool1.pdf", "pool2.pdf"]
    assert names(data_dir / "archive") == expected


def test_two_workers_share_the_inbox_and_convert_nothing_twice(
    server, data_dir, inbox, monkeypatch, tmp_path
):
    expected = comics(inbox, 8, "share")
    monkeypatch.setenv("CONVERT_DEPLOYMENT", POOL_DEPLOYMENT)
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT", "8")
    with (
        worker(server, tmp_path / "host-a", data_dir, limit=2) as log_a,
        worker(server, tmp_path / "host-b", data_dir, limit=2) as log_b,
    ):
        report = scan_inbox()

        def ran() -> list[set[str]]:
            return [set(FINISHED.findall(log.read_text())) for log in (log_a, log_b)]

        # The scan saw every run Completed through the API; a run's process logs its
        # last line to its worker's output a moment later: wait for it, workers alive.
        wait_until(lambda: len(set.union(*ran())) == 8, timeout=30, what="8 runs logged")
    assert report.conversions == dict.fromkeys(expected, "completed")
    assert names(data_dir / "out") == sorted(name.replace(".cbz", ".pdf") for name in expected)
    assert names(data_dir / "archive") == expected
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        assert db.counter_values()["jobs_claimed"] == 8
    # Each worker ran some (its --limit 2 leaves the rest to the other), none the same.
    a, b = ran()
    assert a and b and a.isdisjoint(b) and len(a | b) == 8, (a, b)


# --- cancel means stop --------------------------------------------------------------------


def assert_cancelled_and_stopped(run_id: UUID, pid_log: Path, data_dir: Path, name: str):
    pids = started_pids(pid_log)
    wait_until(lambda: alive(pids) == [], timeout=10, what="Tesseract killed")
    wait_until(lambda: state_of(run_id) == "CANCELLED", timeout=30, what="run Cancelled")
    wait_until(lambda: name in names(data_dir / "error"), timeout=30, what="input in error/")
    assert error_reasons(data_dir) == {name: "cancelled"}
    assert names(data_dir / "out") == []
    assert (
        not (data_dir / "work").exists()
        or [p for p in (data_dir / "work").iterdir() if p.name != "incoming"] == []
    )


def test_cancelling_a_pool_run_mid_ocr_stops_it(server, data_dir, inbox, monkeypatch, tmp_path):
    (name,) = comics(inbox, 1, "cancelpool")
    pid_log = tmp_path / "pids"
    hang = path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    monkeypatch.setenv("CONVERT_DEPLOYMENT", POOL_DEPLOYMENT)
    with worker(server, tmp_path / "w", data_dir, limit=1, path=hang), scanning() as scan:
        run = run_named("convert-cancelpool0")
        wait_until(lambda: started_pids(pid_log), timeout=120, what="OCR started")
        cancel(run.id, server)
        assert_cancelled_and_stopped(run.id, pid_log, data_dir, name)
    assert scan.state.result().conversions == {name: "cancelled"}


def test_cancelling_a_subflow_mid_ocr_stops_it(server, data_dir, inbox, monkeypatch, tmp_path):
    (name,) = comics(inbox, 1, "cancelsub")
    pid_log = tmp_path / "pids"
    monkeypatch.setenv(
        "PATH", path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    )
    with scanning() as scan:
        run = run_named("convert-cancelsub0")
        wait_until(lambda: started_pids(pid_log), timeout=120, what="OCR started")
        assert run.deployment_id is None and "comic2pdf" in run.tags
        assert run.parent_task_run_id is not None
        cancel(run.id, server)
        assert_cancelled_and_stopped(run.id, pid_log, data_dir, name)
    assert scan.state.result().conversions == {name: "cancelled"}


def test_cancelling_the_scan_cancels_its_conversions(
    server, data_dir, inbox, monkeypatch, tmp_path
):
    expected = comics(inbox, 2, "cancelscan")
    monkeypatch.setenv("OCR_CONCURRENCY", "2")
    pid_log = tmp_path / "pids"
    monkeypatch.setenv(
        "PATH", path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    )
    with scanning() as scan:
        wait_until(lambda: len(started_pids(pid_log)) == 2, timeout=120, what="two OCRs")
        scan_id = run_named("convert-cancelscan0").parent_task_run_id
        with get_client(sync_client=True) as client:
            scan_id = client.read_task_run(scan_id).flow_run_id
        cancel(scan_id, server)
        pids = started_pids(pid_log)
        wait_until(lambda: alive(pids) == [], timeout=10, what="Tesseracts killed")
    assert scan.state.is_cancelled()
    assert [run.state.type.value for run in children(scan_id)] == ["CANCELLED", "CANCELLED"]
    assert error_reasons(data_dir) == dict.fromkeys(expected, "cancelled")
    assert names(data_dir / "out") == []


# --- kill -9, then the next scan ----------------------------------------------------------


@pytest.mark.parametrize("api", ["embedded", "server"])
def test_after_kill_9_of_a_scan_mid_ocr_the_next_scan_finishes(
    api, server, data_dir, inbox, tmp_path
):
    """One PREFECT_HOME for both scans, as a user has; OCR bounded to one at a time."""
    expected = comics(inbox, 2, f"kill{api}")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_HOME"
    }
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "OCR_CONCURRENCY": "1",
            "MAX_JOBS_IN_FLIGHT": "2"}  # fmt: skip
    if api == "server":
        env["PREFECT_API_URL"] = server.url
    pid_log = tmp_path / "pids"
    hang = path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    first = start_process(
        [BIN / "comic2pdf", "scan", "--once"], tmp_path / "first.log", env | {"PATH": hang}
    )
    try:
        wait_until(lambda: started_pids(pid_log), timeout=180, what="OCR started")
        first.kill()  # kill -9 of the scan process alone, holding the one OCR slot
        first.wait()
    finally:
        kill_group(first, grace=1)  # what is left of its session: the temporary server
    time.sleep(1.5)  # past the claim folder's grace period
    second = subprocess.run(
        [BIN / "comic2pdf", "scan", "--once"], env=env, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert names(data_dir / "archive") == expected
    assert len(names(data_dir / "out")) == 2
