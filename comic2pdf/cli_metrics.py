"""``comic2pdf metrics``: the snapshot, the exposition and a push, without Prefect.

Plain calls into ``comic2pdf.metrics``, so the command is fast and works
where no Prefect API is reachable (cron, node_exporter's textfile collector).
``instance_name`` and ``build_versions`` are shared with ``tasks.metrics``.
"""

import argparse
import socket
import sys
from pathlib import Path

from comic2pdf import metrics, tools
from comic2pdf.errors import PushFailed, SettingsError
from comic2pdf.jobdb import JobDB
from comic2pdf.settings import Settings, load_settings


def instance_name(settings: Settings) -> str:
    """The ``instance`` grouping label: INSTANCE_NAME, else this machine's host name."""
    return settings.instance_name or socket.gethostname()


def build_versions() -> dict[str, str]:
    """The versions the build info metric declares (``tool_versions`` also lists extractors)."""
    versions = tools.tool_versions()
    return {name: versions[name] for name in metrics.VERSION_LABELS if name in versions}


def cmd_metrics(args: argparse.Namespace) -> int:
    """Write the snapshot, print the exposition; optionally a textfile and a push."""
    settings = load_settings(data_dir=args.data_dir)
    url = settings.pushgateway_url
    if args.push and not url:
        raise SettingsError("--push needs PUSHGATEWAY_URL, e.g. http://127.0.0.1:9091")
    versions = build_versions()
    with JobDB(settings.db_path) as db:
        metrics.write_snapshot(db, settings.metrics_path)  # first, whatever happens next
        registry = metrics.build_registry(db, versions=versions)
        print(metrics.exposition(registry).decode(), end="", flush=True)
        if args.textfile:
            metrics.write_textfile(registry, args.textfile)
        if not (args.push and url):
            return 0
        try:
            metrics.push(
                registry,
                url=url,
                instance=instance_name(settings),
                timeout=settings.pushgateway_timeout_seconds,
            )
        except PushFailed as e:
            db.record_event("push_failures")  # reported by the next push that gets through
            print(f"push_failed: {e}", file=sys.stderr)
            return 1
    return 0


def add_metrics_command(commands: argparse._SubParsersAction) -> None:
    """Add ``metrics [--data-dir D] [--push] [--textfile PATH]`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "metrics",
        help="write index/metrics.json and print the Prometheus metrics",
        description="Write DATA_DIR/index/metrics.json and print the metrics in the Prometheus "
        "text format. Counters are cumulative totals from the job database.",
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
    parser.set_defaults(handler=cmd_metrics)
