"""ocrmypdf plugin that reports progress to the parent process on stderr.

Loaded in the OCR child with ``--plugin comic2pdf.ocr.progress``. ocrmypdf
disables its own progress bar when stderr is not a terminal; this one always
reports, one line per update: ``comic2pdf-progress<TAB>desc<TAB>done<TAB>total``.
It never writes to stdout (ocrmypdf reserves stdout for PDF output).
"""

import sys

from ocrmypdf import hookimpl

from comic2pdf.ocr.runner import format_progress


class ParentProgress:
    """ocrmypdf's ProgressBar protocol, reported as lines on stderr."""

    def __init__(self, *, total=None, desc=None, unit=None, disable=False, **kwargs) -> None:
        self.total = total
        self.desc = desc or "ocr"
        self.done = 0.0

    def __enter__(self) -> "ParentProgress":
        self._report()
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, n: float = 1, *, completed: float | None = None) -> None:
        self.done = completed if completed is not None else self.done + n
        self._report()

    def _report(self) -> None:
        print(format_progress(self.desc, self.done, self.total), file=sys.stderr, flush=True)


@hookimpl
def get_progressbar_class():
    return ParentProgress
