"""Run ocrmypdf on ``raw.pdf`` in a killable child and map what happened to our errors."""

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from comic2pdf import proc
from comic2pdf.errors import DiskError, InvalidPdf
from comic2pdf.ocr.exits import NO_SPACE, error_for_exit
from comic2pdf.ocr.options import OcrOptions, ocrmypdf_args

log = logging.getLogger(__name__)

#: Prefix of the progress lines our ocrmypdf plugin (comic2pdf.ocr.progress) writes on stderr.
PROGRESS_PREFIX = "comic2pdf-progress"


@dataclass(frozen=True)
class OcrResult:
    pdf: Path
    pages_without_text: int
    seconds: float


def run_ocr(
    raw_pdf: Path,
    final_pdf: Path,
    *,
    options: OcrOptions,
    pages: int,
    timeout: float,
    on_progress: Callable[[str, float, float | None], None] | None = None,
) -> OcrResult:
    """OCR *raw_pdf* into *final_pdf* in a killable child process group.

    *on_progress(step, done, total)* is called as ocrmypdf advances (e.g. page
    by page during OCR).
    """
    raw_pdf, final_pdf = raw_pdf.absolute(), final_pdf.absolute()  # the child runs elsewhere
    sidecar = final_pdf.with_suffix(".txt")
    final_pdf.unlink(missing_ok=True)
    argv = [
        sys.executable, "-m", "comic2pdf.ocr.child", "--parent-pid", str(os.getpid()), "--",
        *ocrmypdf_args(raw_pdf, final_pdf, sidecar, options),
    ]  # fmt: skip
    stderr = _StderrWatch(on_progress)
    try:
        done = proc.run(
            argv,
            name="ocrmypdf",
            timeout=timeout,
            cwd=final_pdf.parent,
            on_stderr_line=stderr,
        )
    except BaseException:
        final_pdf.unlink(missing_ok=True)  # never leave half an output behind
        raise
    if done.returncode != 0:
        final_pdf.unlink(missing_ok=True)
        if stderr.disk_full or (room := _short_of_room(raw_pdf, final_pdf.parent)):
            where = "" if stderr.disk_full else f" ({room})"
            raise DiskError(f"the disk filled up during OCR{where}", path=raw_pdf)
        raise error_for_exit(done.returncode, done.stderr_tail, path=raw_pdf)
    if not final_pdf.is_file():
        raise InvalidPdf("ocrmypdf exited 0 but wrote no output", path=raw_pdf)
    return OcrResult(final_pdf, count_pages_without_text(sidecar, pages), done.seconds)


def format_progress(desc: str, done: float, total: float | None) -> str:
    return f"{PROGRESS_PREFIX}\t{desc}\t{done:g}\t{'' if total is None else f'{total:g}'}"


def parse_progress(line: str) -> tuple[str, float, float | None] | None:
    """(step, done, total) from a progress line, or None for any other line."""
    parts = line.split("\t")
    if len(parts) != 4 or parts[0] != PROGRESS_PREFIX:
        return None
    try:
        return parts[1], float(parts[2]), float(parts[3]) if parts[3] else None
    except ValueError:
        return None


#: ocrmypdf's temporary files for a comic take about this many times its raw.pdf.
OCR_ROOM_FACTOR = 3


def _short_of_room(raw_pdf: Path, out_dir: Path) -> str:
    """Where OCR had less room than it needs, as a phrase; "" when it had enough.

    A full disk does not always say so: ocrmypdf can end with a truncated output
    ("The generated PDF is INVALID", exit 4) and no ENOSPC in its output, and its
    temporary files are gone by the time it exits. A failure with less free disk
    than OCR needs is taken for what it most likely is.
    """
    need = OCR_ROOM_FACTOR * raw_pdf.stat().st_size
    for folder in (out_dir, Path(tempfile.gettempdir())):
        free = shutil.disk_usage(folder).free
        if free < need:
            return f"{free // 1024} KiB free in {folder}, about {need // 1024} KiB needed"
    return ""


class _StderrWatch:
    """ocrmypdf's stderr, line by line: progress lines go on; a full disk is noted.

    A full disk can surface anywhere (a page image our engine writes, a
    Tesseract output) and end in a later, other failure (exit 4, an invalid
    output): the last lines alone do not always show it.
    """

    def __init__(self, on_progress: Callable[[str, float, float | None], None] | None) -> None:
        self.on_progress = on_progress
        self.disk_full = False

    def __call__(self, line: str) -> bool:
        if NO_SPACE in line:
            self.disk_full = True
        return _progress(line, self.on_progress)


def _progress(line: str, on_progress: Callable[[str, float, float | None], None] | None) -> bool:
    parsed = parse_progress(line)
    if parsed is None:
        return False
    if on_progress is not None:
        on_progress(*parsed)
    return True


def count_pages_without_text(sidecar: Path, pages: int) -> int:
    """Pages whose OCR text is empty; the sidecar separates pages with form feeds.

    ocrmypdf exits 0 when Tesseract times out on a page or skips it, so this is
    how such pages are noticed. Pages without words (splash pages) count too.
    """
    if not sidecar.is_file():
        return pages
    texts = sidecar.read_text(encoding="utf-8", errors="replace").split("\f")[:pages]
    texts += [""] * (pages - len(texts))
    return sum(1 for text in texts if not text.strip() or "[OCR skipped on page" in text)
