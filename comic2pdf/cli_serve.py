"""``comic2pdf serve``: every deployment served from this one process, no work pool needed.

Registers ``convert-comic/local``, ``scan-inbox/local`` (every
SCAN_INTERVAL_SECONDS), ``push-metrics/local`` (every METRICS_INTERVAL_SECONDS)
and ``resolve-duplicate/local`` with the Prefect API at PREFECT_API_URL, then
runs their flow runs until stopped (Ctrl-C, SIGTERM). Also serves ``/metrics``
on METRICS_ADDRESS:METRICS_PORT (unless the port is 0), read from the job store
at each scrape.
"""

import argparse
from pathlib import Path

from comic2pdf import tools
from comic2pdf.cli_metrics import url_of
from comic2pdf.inbox import ensure_layout
from comic2pdf.metrics.reporting import start_endpoint
from comic2pdf.settings import load_settings, prepare_flow_environment
from comic2pdf.store import JobDB


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(data_dir=args.data_dir)  # bad settings fail here, before Prefect
    ensure_layout(settings)
    tools.check_languages(settings.languages)
    prepare_flow_environment(settings)
    with JobDB.from_settings(settings) as db:
        instance = db.instance_id()  # serve works in this folder: its store may be created
    if settings.metrics_port:
        server = start_endpoint(
            settings, port=settings.metrics_port, address=settings.metrics_address
        )
        print(f"metrics at {url_of(server)} (data folder id {instance})", flush=True)
    from deployments.build import serve_all  # Prefect is slow to import: only when needed

    serve_all(settings)
    return 0


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    """Add ``serve [--data-dir D]`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "serve",
        help="serve all deployments from this process (scan, metrics, convert, resolve)",
        description="Register the four comic2pdf deployments with the Prefect API "
        "(PREFECT_API_URL) and run their flows here until stopped, serving /metrics on "
        "METRICS_ADDRESS:METRICS_PORT. Use this or 'make deploy' + 'make worker', not both "
        "against one server.",
    )
    parser.add_argument("--data-dir", type=Path, help="data folder (default: DATA_DIR)")
    parser.set_defaults(handler=cmd_serve)
