"""Flow ``push-metrics``: the JSON snapshot always, then the Pushgateway when configured.

Scheduled every METRICS_INTERVAL_SECONDS. The values are cumulative totals from
the job database, so a run that cannot reach the gateway loses nothing: it
fails visibly and the next successful run carries everything.

No ``from __future__ import annotations`` here: it breaks pydantic flow
parameters on Prefect >= 3.5 (PrefectHQ/prefect#19447).
"""

from prefect import flow, get_run_logger

from comic2pdf.errors import PushFailed
from comic2pdf.settings import load_settings
from tasks.metrics import instance_name, push_metrics, write_metrics_snapshot

#: Attempts after the first one; the pause between them is RETRY_DELAY_SECONDS.
PUSH_RETRIES = 2


@flow(name="push-metrics")
def push_metrics_flow() -> dict:
    """Write ``index/metrics.json``, then push to PUSHGATEWAY_URL when it is set."""
    settings = load_settings()
    document = write_metrics_snapshot(settings)
    if not settings.pushgateway_url:
        get_run_logger().info("PUSHGATEWAY_URL is not set: snapshot only")
        return document
    try:
        push_metrics.with_options(
            retries=PUSH_RETRIES, retry_delay_seconds=settings.retry_delay_seconds
        )(settings)
    except PushFailed as e:
        get_run_logger().error(
            "metrics not pushed after %d attempts (instance %s): %s",
            PUSH_RETRIES + 1, instance_name(settings), e,
        )  # fmt: skip
        raise
    return document
