"""Flow runs as the scan and its conversions see them: who is cancelled, how each ended.

A deployment run on a worker is stopped by its worker (SIGTERM to the flow
run's process, which Prefect raises as ``TerminationSignal``). A conversion run
as a subflow inside the scan's process has no worker watching it: it asks the
API about its own state every CHECK_SECONDS instead (``cancel_requested``).
"""

import contextlib
from uuid import UUID

from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext, TagsContext
from prefect.states import Cancelled, Cancelling

from comic2pdf.pipeline.interrupt import stop_when
from tasks.report import table

#: The tag of every comic2pdf run (prefect.yaml gives it to the deployments too).
TAG = "comic2pdf"
#: Seconds between two looks at the API for a cancel request, or for children that ended.
#: (Each running conversion asks once per period: a light read, even on SQLite.)
CHECK_SECONDS = 2.0

_STOPPING = (StateType.CANCELLING, StateType.CANCELLED)
_FINAL = (StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED)


def untagged() -> TagsContext:
    """A block whose task runs carry no tags, whatever tags the flow run was started under.

    A task run takes the tags of its context (the scan starts its conversions
    under ``tags("comic2pdf")``), and Prefect asks its API for a tag concurrency
    slot at the start of every tagged task run: on the SQLite-backed server that
    request now and then answered 503 and the client waited 2 s or more before
    the stage could begin (issue #16).
    """
    return TagsContext(current_tags=set())


def current_run() -> FlowRun | None:
    context = FlowRunContext.get()
    return context.flow_run if context else None


def cancel_requested(flow_run_id: UUID) -> bool:
    """Whether someone asked to cancel the run (the UI, ``prefect flow-run cancel``, its scan)."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state is not None and state.type in _STOPPING


def stopped_on_cancel(name: str) -> contextlib.AbstractContextManager[None]:
    """Stop this conversion when its run is cancelled, if no worker does it.

    A deployment run's worker stops it (SIGTERM); a subflow in a scan's thread
    watches its own state instead, and stops within CHECK_SECONDS.
    """
    run = current_run()
    if run is None or run.deployment_id is not None:
        return contextlib.nullcontext()
    return stop_when(lambda: cancel_requested(run.id), every=CHECK_SECONDS, what=name)


def read_runs(ids: list[UUID]) -> dict[UUID, FlowRun]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    return {run.id: run for run in runs}


def is_final(run: FlowRun | None) -> bool:
    return run is not None and run.state is not None and run.state.type in _FINAL


def cancel_children(parent_id: UUID, *, why: str) -> int:
    """Cancel the unfinished runs *parent_id* started; how many there were.

    A running one is asked (Cancelling: its worker, or its own watchdog, stops
    it and it ends Cancelled); one not started yet is simply Cancelled.
    """
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(not_any_=[*_FINAL, StateType.CANCELLING])
                ),
            )
        )
        for run in children:
            running = run.state is not None and run.state.type is StateType.RUNNING
            state = Cancelling(message=why) if running else Cancelled(message=why)
            client.set_flow_run_state(run.id, state, force=True)
    return len(children)


def scan_artifact(conversions: dict[str, str]) -> None:
    """The scan's artifact: each input it started and how its run ended."""
    markdown = f"## Conversions this scan started\n\n{table(conversions)}\n"
    create_markdown_artifact(markdown, key="comic2pdf-scan", description="Conversions started")
