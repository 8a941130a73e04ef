"""``comic2pdf convert``: archives in, PDFs out, now; with Prefect only when it is there.

Without a Prefect API (no PREFECT_API_URL, in the environment or the active
profile) and without ``--prefect``, the comics go through the same pipeline
in this process (``comic2pdf.pipeline.local``): Prefect is not even imported,
which with its temporary server cost seconds per call. With an API, or
``--prefect``, each comic is a ``convert-comic`` flow run, visible in the UI.
"""

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

from comic2pdf import tools
from comic2pdf.display import display_for
from comic2pdf.errors import ComicError, StageTimeout
from comic2pdf.inbox import is_inside
from comic2pdf.pipeline import events
from comic2pdf.pipeline.job import ConvertResult, require_file
from comic2pdf.pipeline.local import convert_files
from comic2pdf.settings import (
    Settings,
    load_settings,
    prefect_api_configured,
    prepare_flow_environment,
)

Outcome = tuple[Path, ConvertResult | ComicError]


def cmd_convert(args: argparse.Namespace) -> int:
    settings = load_settings(ocr_lang=args.lang)  # bad settings fail here, before any file
    tools.check_languages(settings.languages)
    paths = [Path(name) for name in args.files]
    display = display_for(quiet=args.quiet)
    log_to(display.log_handler(), verbose=args.verbose)
    failures = 0
    with display, events.listening(display.on_event):
        for path, outcome in _outcomes(paths, settings, args):
            if isinstance(outcome, ComicError):
                failures += 1
                display.failed(path, outcome)
            else:
                display.done(path, outcome)
    return 1 if failures else 0


def _outcomes(paths: list[Path], settings: Settings, args: argparse.Namespace) -> Iterator[Outcome]:
    """Each file with its result or error, converted with Prefect or without."""
    if args.prefect or prefect_api_configured() or _inbox_files(paths, settings):
        yield from _with_prefect(paths, args)
    else:
        yield from convert_files(paths, args.out or settings.out_dir, settings)


def _inbox_files(paths: list[Path], settings: Settings) -> bool:
    """Files inside DATA_DIR are inbox jobs: recorded, and under the global stage limits."""
    return any(is_inside(path.absolute(), settings.data_dir) for path in paths)


def _with_prefect(paths: list[Path], args: argparse.Namespace) -> Iterator[Outcome]:
    prepare_flow_environment(verbose=args.verbose)
    from flows.convert import convert_comic  # Prefect is slow to import: only when needed

    hide_run_logs(verbose=args.verbose)
    for path in paths:
        try:
            out_dir = str(args.out) if args.out else ""
            result = convert_comic(
                path=str(require_file(path)), out_dir=out_dir, lang=args.lang or ""
            )
        except ComicError as e:
            yield path, e
        except TimeoutError as e:  # Prefect's own time limit of the flow run
            yield path, StageTimeout(f"the conversion ran past its time limit ({e})", path=path)
        else:
            yield path, result


def log_to(handler: logging.Handler, *, verbose: bool) -> None:
    """Warnings always; with --verbose also the tools' own lines (ocrmypdf's) and ours.

    Our loggers stay at INFO either way: with Prefect the run logs in the UI get
    those lines, whatever the terminal shows.
    """
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("comic2pdf").setLevel(logging.INFO)


def hide_run_logs(*, verbose: bool) -> None:
    """Once Prefect is imported: its run and task lines reach the terminal only with --verbose.

    They still reach the UI through the API handler Prefect attaches to these
    loggers (states, a failure's traceback, its warnings about our tasks); the
    terminal has our own lines for the same events.
    """
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).propagate = verbose


def add_convert_command(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser("convert", help="convert archives now (no server needed)")
    convert.add_argument("files", nargs="+", metavar="FILE", help=".cbz/.cbr/.cb7/.cbt archives")
    convert.add_argument("--out", type=Path, help="output folder (default: DATA_DIR/out)")
    convert.add_argument("--lang", help="Tesseract languages, e.g. eng+fra (default: OCR_LANG)")
    convert.add_argument(
        "--prefect",
        action="store_true",
        help="run each comic as a convert-comic flow run (default when PREFECT_API_URL is set)",
    )
    shown = convert.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    shown.add_argument(
        "-v", "--verbose", action="store_true", help="also the tools' own lines (ocrmypdf, Prefect)"
    )
    convert.set_defaults(handler=cmd_convert)
