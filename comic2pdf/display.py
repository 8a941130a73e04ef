"""What ``comic2pdf convert`` shows in the terminal while it works, and at the end.

Three forms, after the terminal's conventions: on a terminal a live progress
display (``display_live``) with each comic's stage and its pages done during
OCR; into a pipe or a file plain lines, one per stage, and no bars; with
``--quiet`` only the failures. Results go to stdout, failures (``FILE: REASON: MESSAGE``) to
stderr, in every form.
"""

import logging
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TextIO

from comic2pdf.errors import ComicError
from comic2pdf.pipeline.events import StageEvent
from comic2pdf.pipeline.job import ConvertResult

#: Log lines in plain form (pipes, and the commands without a live display).
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def summary_line(path: Path | str, result: ConvertResult) -> str:
    return (
        f"{path} → {result.output} ({result.pages} pages, "
        f"{result.pages_without_text} without text, {result.seconds:.1f} s)"
    )


def failure_line(path: Path | str, error: ComicError) -> str:
    return f"{path}: {error.reason}: {error.message}"


class Display:
    """Plain lines (the form for pipes); the other forms change what is shown, not when."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self._lock = threading.Lock()  # events arrive from OCR reader threads too

    def __enter__(self) -> "Display":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def log_handler(self) -> logging.Handler:
        handler = logging.StreamHandler(self.err)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        return handler

    def on_event(self, event: StageEvent) -> None:
        if event.done is not None:  # page counts are for the terminal; a log gets the stages
            return
        pages = f" ({event.total:g} pages)" if event.total else ""
        self._write(self.out, f"{event.comic}: {event.stage}{pages}")

    def done(self, path: Path, result: ConvertResult) -> None:
        self._write(self.out, summary_line(path, result))
        self.warn(path, result)

    def warn(self, path: Path, result: ConvertResult) -> None:
        """Pages left out or repaired: named on stderr, whatever the form."""
        for warning in (*result.pages_skipped, *result.page_warnings):
            self._write(self.err, f"{path}: warning: {warning}")

    def failed(self, path: Path, error: ComicError) -> None:
        self._write(self.err, failure_line(path, error))

    def _write(self, stream: TextIO, line: str) -> None:
        # Not print(): inside a Prefect run with log_prints it would become a log line.
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


class QuietDisplay(Display):
    """``--quiet``: failures only."""

    def on_event(self, event: StageEvent) -> None:
        return None

    def done(self, path: Path, result: ConvertResult) -> None:
        self.warn(path, result)


def display_for(*, quiet: bool, out: TextIO | None = None, err: TextIO | None = None) -> Display:
    """The form that suits where stdout goes."""
    out, err = out or sys.stdout, err or sys.stderr
    if quiet:
        return QuietDisplay(out, err)
    if out.isatty():
        from comic2pdf.display_live import TerminalDisplay  # rich: only for a terminal

        return TerminalDisplay(out, err)
    return Display(out, err)
