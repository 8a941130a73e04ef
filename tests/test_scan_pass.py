"""One scan pass on a real Prefect: conversions kept going, late files joining, untagged tasks."""

import threading
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, TaskRun

from comic2pdf.samples import make_comic
from flows.scan import scan_inbox

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def conversions_of(scan_id: UUID) -> tuple[list[FlowRun], list[TaskRun]]:
    """The scan's convert-comic runs and the task runs inside them."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[scan_id])
            ),
            limit=50,
        )
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id for run in runs])),
            limit=200,
        )
    return runs, tasks


def most_at_once(runs: list[FlowRun]) -> int:
    """The largest number of runs whose [start, end] spans overlap at one moment."""
    edges = [(run.start_time, 1) for run in runs] + [(run.end_time, -1) for run in runs]
    running = most = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        most = max(most, running)
    return most


def drop_when_first_pdf(inbox: Path, out: Path, name: str) -> threading.Thread:
    """Drop comic *name* into *inbox* once the pass has published its first PDF."""

    def drop() -> None:
        deadline = time.monotonic() + 300
        while not any(out.glob("*.pdf")) and time.monotonic() < deadline:
            time.sleep(0.1)
        part = make_comic(inbox / f"{name}.cbz.part", title="Late", pages=1, seed=99).path
        part.rename(inbox / f"{name}.cbz")  # whole, at once: .part names are ignored

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    return thread


def test_one_pass_keeps_max_jobs_going_and_takes_late_files(data_dir, monkeypatch):
    inbox = data_dir / "in"
    inbox.mkdir(parents=True)
    monkeypatch.setenv("STABLE_SECONDS", "0")
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT", "2")
    for n in range(5):
        make_comic(inbox / f"pass{n}.cbz", title=f"Pass {n}", pages=1, seed=40 + n)
    dropper = drop_when_first_pdf(inbox, data_dir / "out", "late")

    state = scan_inbox(return_state=True)
    dropper.join(timeout=5)

    report = state.result()
    expected = [f"pass{n}.cbz" for n in range(5)] + ["late.cbz"]
    # One pass, not groups of MAX_JOBS_IN_FLIGHT, and the file that came during it too.
    assert report.started == 6 and report.conversions == dict.fromkeys(expected, "done")
    assert sorted(p.name for p in (data_dir / "out").iterdir()) == sorted(
        name.replace(".cbz", ".pdf") for name in expected
    )
    runs, tasks = conversions_of(state.state_details.flow_run_id)
    assert len(runs) == 6 and most_at_once(runs) == 2
    # The runs carry the scan's tag; their stage tasks none, so no task start asks the
    # API for a tag concurrency slot.
    assert all("comic2pdf" in run.tags for run in runs)
    assert len(tasks) == 18 and all(task.tags == [] for task in tasks)
