"""The live form of the display, for a terminal: a line per comic being converted (rich)."""

import logging
from pathlib import Path
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from comic2pdf.display import Display, failure_line, summary_line
from comic2pdf.errors import ComicError
from comic2pdf.pipeline.events import StageEvent
from comic2pdf.pipeline.job import ConvertResult


class TerminalDisplay(Display):
    """A live line per comic being converted: its stage, and a page counter during OCR."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        super().__init__(out, err)
        self.console = Console(file=out)
        # Not bound to the stream: while the display runs, sys.stderr is rich's proxy
        # that prints above the live lines.
        self.err_console = Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[comic]}", markup=False),
            TextColumn("{task.fields[stage]:<8}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("pages"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "TerminalDisplay":
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def log_handler(self) -> logging.Handler:
        return RichHandler(console=self.err_console, show_time=False, show_path=False, markup=False)

    def on_event(self, event: StageEvent) -> None:
        with self._lock:
            task = self._tasks.get(event.comic)
            if task is None:
                task = self.progress.add_task("", comic=event.comic, stage="", total=None)
                self._tasks[event.comic] = task
        if event.total:
            self.progress.update(task, total=event.total)
        # A new stage is drawn at once (prep can be over before the next redraw);
        # page counts wait for the next redraw.
        self.progress.update(
            task, stage=event.stage, completed=event.done or 0, refresh=event.done is None
        )

    def done(self, path: Path, result: ConvertResult) -> None:
        self._forget(path)
        self.console.print(
            summary_line(path, result), markup=False, highlight=False, soft_wrap=True
        )
        for warning in (*result.pages_skipped, *result.page_warnings):
            self.err_console.print(
                f"{path}: warning: {warning}", markup=False, highlight=False, soft_wrap=True,
                style="yellow",
            )  # fmt: skip

    def failed(self, path: Path, error: ComicError) -> None:
        self._forget(path)
        self.err_console.print(
            failure_line(path, error), markup=False, highlight=False, soft_wrap=True, style="red"
        )

    def _forget(self, path: Path) -> None:
        with self._lock:
            task = self._tasks.pop(path.name, None)
        if task is not None:
            self.progress.remove_task(task)
            self.progress.refresh()  # else the line printed next comes with the stale one
