"""The metrics snapshot and the Pushgateway push as Prefect tasks: thin wrappers over comic2pdf.

Each task opens its own ``JobDB``: a connection belongs to the thread that
opened it and Prefect may run tasks in worker threads. Retries of the push are
set by the flow with ``push_metrics.with_options(...)``; ``retry_if_push_failed``
retries only an unreachable or slow gateway, never a bug.
"""

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from comic2pdf.errors import PushFailed
from comic2pdf.metrics.exposition import build_registry
from comic2pdf.metrics.push import push
from comic2pdf.metrics.reporting import build_versions, instance_name, refresh_snapshot
from comic2pdf.metrics.source import read_metric_data
from comic2pdf.settings import Settings
from comic2pdf.store import JobDB


def retry_if_push_failed(task, task_run, state) -> bool:
    """Prefect retry condition: only a failed push can succeed on another attempt."""
    try:
        state.result()
    except PushFailed:
        return True
    except Exception:  # noqa: BLE001 - anything else is a bug or a missing tool: fail now
        return False
    return False


@task(name="write-snapshot", cache_policy=NO_CACHE)
def write_metrics_snapshot(settings: Settings) -> dict:
    """Write ``index/metrics.json`` atomically from the existing job store; return its content."""
    document = refresh_snapshot(settings)
    get_run_logger().info(
        "wrote %s: %d done, %d failed, %d running",
        settings.metrics_path, document["done"], document["error"], document["running"],
    )  # fmt: skip
    return document


@task(name="push", cache_policy=NO_CACHE, retry_condition_fn=retry_if_push_failed)
def push_metrics(settings: Settings) -> None:
    """Push the cumulative totals to PUSHGATEWAY_URL, replacing this instance's group.

    A failed attempt is counted in ``push_failures`` before it is raised, so
    the next successful push reports it.
    """
    if not settings.pushgateway_url:
        raise ValueError("push_metrics needs PUSHGATEWAY_URL; the flow checks it first")
    instance = instance_name(settings)
    data = read_metric_data(store=settings.job_store, in_dir=settings.in_dir)
    try:
        push(
            build_registry(data, versions=build_versions()),
            url=settings.pushgateway_url,
            instance=instance,
            timeout=settings.pushgateway_timeout_seconds,
        )
    except PushFailed as e:
        with JobDB.from_settings(settings, create=False) as db:
            db.record_event("push_failures")
        get_run_logger().warning("push failed: %s", e)
        raise
    get_run_logger().info("pushed metrics to %s as instance %s", settings.pushgateway_url, instance)
