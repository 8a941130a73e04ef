"""Check a finished PDF before it is published."""

from pathlib import Path

import pikepdf

from comic2pdf.errors import InvalidPdf

#: Document-info key holding the job key of the conversion that made a PDF.
JOB_KEY_FIELD = "/Comic2pdfJobKey"


def validate_pdf(path: Path, *, min_size: int, expected_pages: int) -> None:
    """Raise InvalidPdf unless *path* is a readable PDF with *expected_pages* pages."""
    if not path.is_file():
        raise InvalidPdf("the PDF is missing", path=path)
    with path.open("rb") as stream:
        if stream.read(5) != b"%PDF-":
            raise InvalidPdf("the file does not start with %PDF-", path=path)
    size = path.stat().st_size
    if size < min_size:
        raise InvalidPdf(f"only {size} bytes (MIN_PDF_SIZE_BYTES={min_size})", path=path)
    try:
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
    except pikepdf.PdfError as e:
        raise InvalidPdf(f"pikepdf cannot open it: {e}", path=path) from e
    if pages != expected_pages:
        raise InvalidPdf(f"{pages} pages, expected {expected_pages}", path=path)


def read_job_key(path: Path) -> str | None:
    """The job key recorded in a PDF comic2pdf made, or None for any other file."""
    try:
        with pikepdf.open(path) as pdf:
            value = pdf.docinfo.get(JOB_KEY_FIELD)
    except (pikepdf.PdfError, OSError):
        return None  # not ours, or unreadable: never replace it
    return str(value) if value is not None else None
