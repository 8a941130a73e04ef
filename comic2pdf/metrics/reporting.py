"""What the CLI, the tasks and the flows share to report metrics from a data folder.

Each takes the validated settings (built at the entry point) and works on the
data folder's existing job store; none imports Prefect.
"""

import logging
from wsgiref.simple_server import WSGIServer

from comic2pdf import tools
from comic2pdf.errors import ComicError, SettingsError
from comic2pdf.metrics.definitions import VERSION_LABELS
from comic2pdf.metrics.exposition import scrape_registry, serve_metrics
from comic2pdf.metrics.snapshot import write_snapshot
from comic2pdf.metrics.source import read_metric_data, store_instance_id
from comic2pdf.settings import Settings
from comic2pdf.store import JobDB

log = logging.getLogger(__name__)


def build_versions() -> dict[str, str]:
    """The versions the build info metric declares (``tool_versions`` also lists extractors)."""
    versions = tools.tool_versions()
    return {name: versions[name] for name in VERSION_LABELS if name in versions}


def instance_name(settings: Settings) -> str:
    """The ``instance`` grouping label: INSTANCE_NAME, else the job store's stable id."""
    return settings.instance_name or store_instance_id(settings.job_store)


def refresh_snapshot(settings: Settings) -> dict[str, int | str]:
    """Write ``index/metrics.json`` from the existing job store; return what was written."""
    data = read_metric_data(store=settings.job_store, in_dir=settings.in_dir)
    return write_snapshot(data, settings.metrics_path)


def after_scan(settings: Settings) -> None:
    """Record the end of a scan pass, then refresh ``metrics.json`` (issue #15, point 10).

    A failure is logged, not raised: metrics must never stop the scans (the
    next pass tries again, and ``comic2pdf metrics`` reports the cause).
    """
    try:
        with JobDB.from_settings(settings) as db:
            db.record_scan(interval=settings.scan_interval_seconds)
        refresh_snapshot(settings)
    except ComicError as e:
        log.warning("scan done, but its metrics were not recorded: %s: %s", e.reason, e)


def start_endpoint(settings: Settings, *, port: int, address: str) -> WSGIServer:
    """Serve ``/metrics`` read from the job store at each scrape; return the running server.

    The store is read once first, so a missing or unreadable one is refused
    before anything listens.

    Raises:
        StoreMissing, NotWritable: the job store cannot be reported on.
        SettingsError: the port is taken or the address is not this machine's.
    """
    read_metric_data(store=settings.job_store, in_dir=settings.in_dir)
    registry = scrape_registry(
        store=settings.job_store, in_dir=settings.in_dir, versions=build_versions()
    )
    try:
        server, _ = serve_metrics(registry, port=port, address=address)
    except OSError as e:
        raise SettingsError(
            f"cannot serve metrics on {address}:{port}: {e.strerror or e}; choose another "
            "METRICS_PORT (or --port), or METRICS_PORT=0 for no endpoint on 'serve'"
        ) from e
    return server
