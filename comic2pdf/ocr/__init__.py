"""OCR: ocrmypdf in a killable child process, and our plugins that run inside it.

``runner`` starts the child (``python -m comic2pdf.ocr.child``) and maps its
exit (``exits``); ``options`` builds the command line. Plugins loaded in the
child with ``--plugin``: ``comic2pdf.ocr.progress`` (progress lines),
``comic2pdf.ocr.raster`` (fast rasterizing) and ``comic2pdf.ocr.engine`` (the
comic OCR engine of ``OCR_MODE=comic``: ``page`` reads with ``regions``,
``reading`` and ``repair``, with Tesseract's word list from ``words``).
"""

from comic2pdf.ocr.exits import error_for_exit
from comic2pdf.ocr.options import OcrOptions, ocrmypdf_args
from comic2pdf.ocr.runner import OcrResult, count_pages_without_text, run_ocr

__all__ = [
    "OcrOptions",
    "OcrResult",
    "count_pages_without_text",
    "error_for_exit",
    "ocrmypdf_args",
    "run_ocr",
]
