"""ocrmypdf's exit codes to our errors, by a table.

Codes that mean "this input" (2 input file, 4 output invalid, 6 already has
text, 8 encrypted) raise errors that are not retried: another attempt on the
same raw.pdf fails the same way, so a deterministic failure costs one OCR run.
ocrmypdf exits 4 even after writing a good PDF when a page's JPEG is damaged.
"""

from pathlib import Path

from comic2pdf.errors import (
    ComicError,
    DiskError,
    InvalidOcrOutput,
    MissingTool,
    OcrFailed,
    OcrInputRefused,
    SettingsError,
)

#: What a failed write says, from any program ocrmypdf runs.
NO_SPACE = "No space left on device"

# ocrmypdf's ExitCode values (ocrmypdf.exceptions.ExitCode) to our errors.
EXIT_ERRORS: dict[int, tuple[type[ComicError], str]] = {
    1: (SettingsError, "ocrmypdf rejected its arguments"),
    2: (OcrInputRefused, "ocrmypdf could not read raw.pdf"),
    3: (MissingTool, "a program ocrmypdf needs is missing (tesseract, language data?)"),
    4: (InvalidOcrOutput, "ocrmypdf produced an invalid PDF"),
    5: (OcrFailed, "ocrmypdf could not access a file"),
    6: (OcrInputRefused, "raw.pdf already has text"),
    7: (OcrFailed, "a child process of ocrmypdf (tesseract or ghostscript) failed"),
    8: (OcrInputRefused, "raw.pdf is encrypted"),
    9: (SettingsError, "ocrmypdf found its configuration invalid"),
    10: (OcrFailed, "the PDF/A conversion failed"),
}


def error_for_exit(returncode: int, stderr_tail: str, *, path: Path) -> ComicError:
    """Translate an ocrmypdf exit code (and its last stderr lines) into our error."""
    if NO_SPACE in stderr_tail:
        return DiskError("the disk filled up during OCR", path=path)
    cls, what = EXIT_ERRORS.get(returncode, (OcrFailed, "ocrmypdf failed"))
    last_line = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else ""
    return cls(f"{what} (exit {returncode}): {last_line}".rstrip(": "), path=path)
