"""The ``comic2pdf`` command line.

This is the boundary where exceptions become exit codes: a ComicError prints
``file: reason: message`` and exits 1; anything else is a bug and keeps its
traceback.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from comic2pdf import __version__, tools
from comic2pdf.errors import ComicError, InputMissing
from comic2pdf.settings import load_settings

log = logging.getLogger("comic2pdf")


def _prefect_defaults() -> None:
    # Show our domain loggers (and ocrmypdf's) in Prefect's run logs and UI.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "comic2pdf,ocrmypdf")


def cmd_convert(args: argparse.Namespace) -> int:
    settings = load_settings(ocr_lang=args.lang)  # bad settings fail here, before any file
    tools.check_languages(settings.languages)
    _prefect_defaults()
    from flows.convert import convert_comic  # Prefect is slow to import: only when needed

    failures = 0
    for name in args.files:
        path = Path(name)
        print(f"converting {path} …", file=sys.stderr, flush=True)
        try:
            if not path.is_file():
                raise InputMissing("no such file", path=path)
            result = convert_comic(
                path=str(path), out_dir=str(args.out) if args.out else None, lang=args.lang
            )
        except ComicError as e:
            failures += 1
            print(f"{path}: {e.reason}: {e.message}", file=sys.stderr, flush=True)
            continue
        note = f", {result.pages_without_text} without text" if result.pages_without_text else ""
        print(f"{path} → {result.output} ({result.pages} pages{note}, {result.seconds:.1f} s)")
    return 1 if failures else 0


def _describe(error: ValidationError) -> str:
    """One line per rejected setting, named as its environment variable."""
    return "; ".join(
        f"{str(item['loc'][0]).upper() if item['loc'] else 'settings'}: {item['msg']}"
        for item in error.errors()
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="comic2pdf", description="Comic archives in, searchable PDFs out."
    )
    parser.add_argument("--version", action="version", version=f"comic2pdf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="convert archives now, without a server")
    convert.add_argument("files", nargs="+", metavar="FILE", help=".cbz/.cbr/.cb7/.cbt archives")
    convert.add_argument("--out", type=Path, help="output folder (default: DATA_DIR/out)")
    convert.add_argument("--lang", help="Tesseract languages, e.g. eng+fra (default: OCR_LANG)")
    convert.set_defaults(handler=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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
