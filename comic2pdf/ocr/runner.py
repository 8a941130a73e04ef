"""Run ocrmypdf on ``raw.pdf`` in a killable child and map what happened to our errors."""

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from comic2pdf import proc
from comic2pdf.errors import InvalidPdf
from comic2pdf.ocr.exits import error_for_exit
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
    try:
        done = proc.run(
            argv,
            name="ocrmypdf",
            timeout=timeout,
            cwd=final_pdf.parent,
            on_stderr_line=lambda line: _progress(line, on_progress),
        )
    except BaseException:
        final_pdf.unlink(missing_ok=True)  # never leave half an output behind
        raise
    if done.returncode != 0:
        final_pdf.unlink(missing_ok=True)
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
