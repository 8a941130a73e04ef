"""An idle ``scan-inbox`` run: visible as such, and only the latest one kept.

Every SCAN_INTERVAL_SECONDS the schedule makes a scan run, whether or not
anything arrived (74 of 107 runs in 25 minutes were such scans, hiding the
conversions). A scan that finds nothing to do ends Completed, named ``Idle``,
and deletes the idle scan runs before it of the same deployment: the runs list
keeps the scans that started something and one idle run, the latest, which
shows that the schedule is alive. README "Prefect UI" argues the choice.
"""

import contextlib
from uuid import UUID

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateName,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.runtime import deployment as runtime_deployment
from prefect.runtime import flow_run
from prefect.states import Completed, State

#: The state name of a scan that found nothing to do.
IDLE = "Idle"


def idle(report: object, *, waiting: int) -> State:
    """The state of an idle scan, its earlier idle siblings forgotten."""
    forgotten = forget_earlier_idle_runs()
    if forgotten:
        get_run_logger().info("removed %d earlier idle scan run(s)", forgotten)
    message = f"nothing to start; {waiting} file(s) in in/ not yet stable"
    return Completed(name=IDLE, message=message, data=report)


def forget_earlier_idle_runs() -> int:
    """Delete the earlier Idle runs of this run's flow and deployment; return how many."""
    this = UUID(str(flow_run.id))
    deployment = runtime_deployment.id  # None for a run started without one
    same_deployment = (
        FlowRunFilterDeploymentId(any_=[UUID(str(deployment))])
        if deployment
        else FlowRunFilterDeploymentId(is_null_=True)
    )
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_run.flow_name])),
                flow_run_filter=FlowRunFilter(
                    deployment_id=same_deployment,
                    state=FlowRunFilterState(name=FlowRunFilterStateName(any_=[IDLE])),
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=100,
            )
            earlier = [run.id for run in runs if run.id != this]
            for run_id in earlier:
                with contextlib.suppress(ObjectNotFound):  # another scan removed it first
                    client.delete_flow_run(run_id)
    except httpx.HTTPError as e:
        # Deliberate: tidying the runs list is a nicety; the scan itself succeeded.
        get_run_logger().warning("earlier idle scan runs not removed: %s", e)
        return 0
    return len(earlier)
