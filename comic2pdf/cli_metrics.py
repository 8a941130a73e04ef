"""``comic2pdf metrics``: the snapshot, the exposition, a push or a scrape endpoint, no Prefect.

Plain calls into ``comic2pdf.metrics``, so the command is fast and works
where no Prefect API is reachable (cron, node_exporter's textfile collector).
It reports on an existing job store only: a wrong DATA_DIR fails with
``no_job_store`` instead of publishing an empty store's zeros.
"""

import argparse
import sys
import threading
from pathlib import Path

from comic2pdf.errors import PushFailed, SettingsError
from comic2pdf.metrics.exposition import build_registry, exposition, write_textfile
from comic2pdf.metrics.push import push
from comic2pdf.metrics.reporting import build_versions, instance_name, start_endpoint
from comic2pdf.metrics.snapshot import write_snapshot
from comic2pdf.metrics.source import read_metric_data
from comic2pdf.settings import Settings, load_settings
from comic2pdf.store import JobDB


def cmd_metrics(args: argparse.Namespace) -> int:
    """Write the snapshot, print the exposition; optionally a textfile, a push or an endpoint."""
    settings = load_settings(data_dir=args.data_dir)
    if args.serve:
        return serve_until_stopped(settings, port=args.port, address=args.address)
    url = settings.pushgateway_url
    if args.push and not url:
        raise SettingsError("--push needs PUSHGATEWAY_URL, e.g. http://127.0.0.1:9091")
    versions = build_versions()
    data = read_metric_data(store=settings.job_store, in_dir=settings.in_dir)
    write_snapshot(data, settings.metrics_path)  # first, whatever happens next
    registry = build_registry(data, versions=versions)
    print(exposition(registry).decode(), end="", flush=True)
    if args.textfile:
        write_textfile(registry, args.textfile)
    if not (args.push and url):
        return 0
    try:
        push(
            registry,
            url=url,
            instance=instance_name(settings),
            timeout=settings.pushgateway_timeout_seconds,
        )
    except PushFailed as e:
        with JobDB.from_settings(settings, create=False) as db:
            db.record_event("push_failures")  # reported by the next push that gets through
        print(f"push_failed: {e}", file=sys.stderr)
        return 1
    return 0


def serve_until_stopped(settings: Settings, *, port: int | None, address: str | None) -> int:
    """Serve ``/metrics`` until Ctrl-C or SIGTERM; refuse a missing job store first."""
    port = settings.metrics_port if port is None else port
    if port == 0:
        raise SettingsError("metrics --serve needs a port: --port N or METRICS_PORT")
    server = start_endpoint(settings, port=port, address=address or settings.metrics_address)
    print(f"serving metrics of {settings.data_dir} at {url_of(server)}", flush=True)
    threading.Event().wait()  # the server runs in its own thread until the process ends
    return 0


def url_of(server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/metrics"


def add_metrics_command(commands: argparse._SubParsersAction) -> None:
    """Add ``metrics [--data-dir D] [--push] [--textfile PATH] [--serve …]`` to the CLI."""
    parser = commands.add_parser(
        "metrics",
        help="write index/metrics.json and print, push or serve the Prometheus metrics",
        description="Write DATA_DIR/index/metrics.json and print the metrics in the Prometheus "
        "text format. Counters are cumulative totals from the job database, which must exist.",
    )
    parser.add_argument("--data-dir", type=Path, help="data folder (default: DATA_DIR)")
    parser.add_argument(
        "--push",
        action="store_true",
        help="also push to PUSHGATEWAY_URL (exit 1 if that fails; the snapshot is still written)",
    )
    parser.add_argument(
        "--textfile",
        type=Path,
        metavar="PATH",
        help="also write the metrics atomically to PATH for node_exporter's textfile collector "
        "(name it *.prom)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve /metrics over HTTP, read from the job store at each scrape, until stopped",
    )
    parser.add_argument("--port", type=int, help="port of --serve (default: METRICS_PORT)")
    parser.add_argument(
        "--address", help="address of --serve (default: METRICS_ADDRESS, 127.0.0.1)"
    )
    parser.set_defaults(handler=cmd_metrics)
