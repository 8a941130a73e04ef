"""Run ocrmypdf on ``raw.pdf`` and map what happened to our errors."""

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from comic2pdf import proc
from comic2pdf.errors import (
    ComicError,
    DiskError,
    InvalidPdf,
    MissingTool,
    OcrFailed,
    SettingsError,
)

log = logging.getLogger(__name__)

#: Prefix of the progress lines our ocrmypdf plugin (comic2pdf.ocr_progress) writes on stderr.
PROGRESS_PREFIX = "comic2pdf-progress"


@dataclass(frozen=True)
class OcrOptions:
    """Every ocrmypdf option we set. All of them change the output: they go in the profile."""

    languages: tuple[str, ...] = ("eng",)
    jobs: int = 1
    rotate_pages: bool = False
    deskew: bool = False
    optimize: int = 0
    output_type: str = "pdf"
    downsample_above: int = 1200
    tesseract_timeout: float = 180.0
    #: Rasterize one-JPEG pages by decoding the JPEG at Tesseract's size
    #: (comic2pdf.ocr_raster): faster, and Tesseract sees slightly other pixels.
    fast_raster: bool = True

    def profile(self) -> dict[str, object]:
        """The options that change the output, in a JSON-friendly form (jobs does not)."""
        return {
            "languages": sorted(set(self.languages)),
            "rotate_pages": self.rotate_pages,
            "deskew": self.deskew,
            "optimize": self.optimize,
            "output_type": self.output_type,
            "downsample_above": self.downsample_above,
            "tesseract_timeout": self.tesseract_timeout,
            "fast_raster": self.fast_raster,
        }


@dataclass(frozen=True)
class OcrResult:
    pdf: Path
    pages_without_text: int
    seconds: float


def ocrmypdf_args(raw_pdf: Path, final_pdf: Path, sidecar: Path, options: OcrOptions) -> list[str]:
    """The ocrmypdf command line for comics (see README "Performance" for why)."""
    args = [
        "--plugin", "comic2pdf.ocr_progress",
        "--output-type", options.output_type,
        "--optimize", str(options.optimize),
        "--jobs", str(options.jobs),
        "--language", "+".join(options.languages),
        "--tesseract-timeout", f"{options.tesseract_timeout:g}",
        "--sidecar", os.fspath(sidecar),
    ]  # fmt: skip
    if options.fast_raster:
        args += ["--plugin", "comic2pdf.ocr_raster"]
    if options.downsample_above:
        args += [
            "--tesseract-downsample-large-images",
            "--tesseract-downsample-above", str(options.downsample_above),
        ]  # fmt: skip
    if options.rotate_pages:
        args.append("--rotate-pages")
    if options.deskew:
        args.append("--deskew")
    return [*args, os.fspath(raw_pdf), os.fspath(final_pdf)]


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
        sys.executable, "-m", "comic2pdf.ocr_child", "--parent-pid", str(os.getpid()), "--",
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


# ocrmypdf's ExitCode values (ocrmypdf.exceptions.ExitCode) to our errors.
_EXIT_ERRORS: dict[int, tuple[type[ComicError], str]] = {
    1: (SettingsError, "ocrmypdf rejected its arguments"),
    2: (OcrFailed, "ocrmypdf could not read raw.pdf"),
    3: (MissingTool, "a program ocrmypdf needs is missing (tesseract, language data?)"),
    4: (InvalidPdf, "ocrmypdf produced an invalid PDF"),
    5: (OcrFailed, "ocrmypdf could not access a file"),
    7: (OcrFailed, "a child process of ocrmypdf (tesseract or ghostscript) failed"),
    9: (SettingsError, "ocrmypdf found its configuration invalid"),
    10: (OcrFailed, "the PDF/A conversion failed"),
}


def error_for_exit(returncode: int, stderr_tail: str, *, path: Path) -> ComicError:
    """Translate an ocrmypdf exit code (and its last stderr lines) into our error."""
    if "No space left on device" in stderr_tail:
        return DiskError("the disk filled up during OCR", path=path)
    cls, what = _EXIT_ERRORS.get(returncode, (OcrFailed, "ocrmypdf failed"))
    last_line = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else ""
    return cls(f"{what} (exit {returncode}): {last_line}".rstrip(": "), path=path)


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
