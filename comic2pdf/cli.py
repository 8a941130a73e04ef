"""The ``comic2pdf`` command line.

This is the boundary where exceptions become exit codes: a ComicError prints
``file: reason: message`` and exits 1; anything else is a bug and keeps its
traceback.
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from comic2pdf import __version__, tools
from comic2pdf.cli_convert import add_convert_command, hide_run_logs, log_to
from comic2pdf.cli_duplicates import add_duplicates_command
from comic2pdf.cli_metrics import add_metrics_command
from comic2pdf.cli_serve import add_serve_command
from comic2pdf.display import LOG_FORMAT
from comic2pdf.errors import ComicError
from comic2pdf.inbox import ensure_layout
from comic2pdf.metrics.reporting import after_scan
from comic2pdf.settings import load_settings, prepare_flow_environment
from comic2pdf.store import JobDB

#: `scan --once` gives up waiting for files that never become stable after this many passes.
MAX_ONCE_PASSES = 1000


def _describe(error: ValidationError) -> str:
    """One line per rejected setting, named as its environment variable."""
    return "; ".join(
        f"{str(item['loc'][0]).upper() if item['loc'] else 'settings'}: {item['msg']}"
        for item in error.errors()
    )


def cmd_scan(args: argparse.Namespace) -> int:
    settings = load_settings(data_dir=args.data_dir)
    ensure_layout(settings)
    tools.check_languages(settings.languages)
    # A watching scan is a service: its log keeps Prefect's lines; --once is a command.
    verbose = args.verbose or not args.once
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log_to(handler, verbose=verbose)
    prepare_flow_environment(settings, verbose=verbose)
    from flows.scan import has_work, scan_inbox, waiting_files

    hide_run_logs(verbose=verbose)

    def scan_pass() -> tuple[int, int]:
        """(started, waiting); an idle pass starts no flow run (README Performance)."""
        if not has_work(settings):
            if not args.once:
                return 0, 0
            waiting = waiting_files(settings)  # whether --once is done
            print(f"scan: nothing to start, {waiting} waiting")
            return 0, waiting
        report = scan_inbox()
        print(f"scan: started {report.started} {report.outcomes}, {report.waiting} waiting")
        return report.started, report.waiting

    if not args.once:
        while True:
            scan_pass()
            after_scan(settings)  # the last scan time and metrics.json, after every pass
            time.sleep(settings.scan_interval_seconds)
    for _ in range(MAX_ONCE_PASSES):
        started, waiting = scan_pass()
        after_scan(settings)
        if started:
            continue  # more may be claimable right away
        if waiting == 0:
            return 0
        time.sleep(min(settings.stable_seconds, 1))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings(data_dir=args.data_dir)
    ensure_layout(settings)
    with JobDB.from_settings(settings) as db:
        jobs = db.list_jobs()
    rows = [
        {
            "jobKey": job.job_key,
            "input": job.input_name,
            "state": str(job.state),
            "stage": str(job.stage) if job.stage else None,
            "attempts": {"prep": job.attempts_prep, "ocr": job.attempts_ocr},
            "output": str(job.output_path) if job.output_path else None,
            "reason": job.error_reason,
            "pagesSkipped": list(job.pages_skipped),
            "updatedAt": job.updated_at.isoformat(),
        }
        for job in jobs
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        detail = row["output"] or row["reason"] or row["stage"] or ""
        print(f"{row['state']:<8} {row['input']}  {detail}")
    print(f"{len(rows)} jobs")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="comic2pdf", description="Comic archives in, searchable PDFs out."
    )
    parser.add_argument("--version", action="version", version=f"comic2pdf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_convert_command(commands)

    scan = commands.add_parser("scan", help="watch DATA_DIR/in and convert what arrives")
    scan.add_argument("--data-dir", type=Path, help="default: DATA_DIR")
    scan.add_argument(
        "--once", action="store_true", help="process everything now in in/, then exit"
    )
    scan.add_argument(
        "-v", "--verbose", action="store_true", help="Prefect's own lines with --once too"
    )
    scan.set_defaults(handler=cmd_scan)

    status = commands.add_parser("status", help="jobs, their states, attempts and outputs")
    status.add_argument("--data-dir", type=Path, help="default: DATA_DIR")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)

    add_duplicates_command(commands)
    add_metrics_command(commands)
    add_serve_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    try:
        return args.handler(args)
    except ComicError as e:  # a failure before any file was touched (tools)
        print(f"comic2pdf: {e.reason}: {e}", file=sys.stderr)
        return 2
    except ValidationError as e:
        print(f"comic2pdf: bad_settings: {_describe(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
