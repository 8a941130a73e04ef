"""On real comic pages (../shared/comics-dev), the resolution and speed defaults lose no words.

Real Tesseract through ocrmypdf on two small pages whose declared resolution misleads:
a 1950 comic page scanned at 150 DPI and an xkcd strip that declares none. The scores
are the corpus's own ``recall.py``; ``make bench`` measures all 17 pages.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from comic2pdf.ocr import OcrOptions, run_ocr
from comic2pdf.rawpdf import build_raw_pdf

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "comics-dev"
STEMS = ["strangeworlds-01-p08", "xkcd-0327"]


def recall(tmp_path: Path, *, dpi: int, options: OcrOptions) -> float:
    """Overall word recall of the text layer ocrmypdf makes of the STEMS pages."""
    images = [next((CORPUS / "pages").glob(f"{stem}.*")) for stem in STEMS]
    folder = (
        tmp_path / f"{options.mode}-dpi{dpi}-ds{options.downsample_above}-fast{options.fast_raster}"
    )
    got = folder / "got"
    got.mkdir(parents=True)
    raw, final = folder / "raw.pdf", folder / "final.pdf"
    build_raw_pdf(images, raw, dpi=dpi, scratch=folder / "scratch")
    run_ocr(raw, final, options=options, pages=len(STEMS), timeout=600)
    for number, stem in enumerate(STEMS, start=1):
        subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), final, got / f"{stem}.txt"],
            check=True,
        )
    table = subprocess.run(
        [sys.executable, CORPUS / "recall.py", "--dir", CORPUS / "truth", got, "--skip-missing"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    overall = next(line for line in table.splitlines() if line.startswith("OVERALL"))
    return float(overall.split()[-1])


# Page mode: whole-page Tesseract judges text size by the declared DPI, and only it
# downsamples. Comic mode measures each region's letters and scales them itself.


def test_automatic_resolution_reads_more_than_a_fixed_300_dpi(tmp_path):
    options = OcrOptions(mode="page", jobs=2, downsample_above=0)
    auto = recall(tmp_path, dpi=0, options=options)
    fixed = recall(tmp_path, dpi=300, options=options)
    assert auto >= fixed + 0.1, (auto, fixed)  # measured: 0.82 against 0.59


def test_speed_settings_kept_lose_no_words(tmp_path):
    kept = OcrOptions(mode="page", jobs=2, downsample_above=0, fast_raster=True)
    fast = recall(tmp_path, dpi=0, options=kept)
    plain = recall(tmp_path, dpi=0, options=OcrOptions(mode="page", jobs=2, fast_raster=False))
    downsampled = recall(
        tmp_path, dpi=0, options=OcrOptions(mode="page", jobs=2, downsample_above=1200)
    )
    assert fast >= plain, (fast, plain)  # the JPEG raster plugin; measured 0.82 against 0.76
    assert fast > downsampled, (fast, downsampled)  # OCR_DOWNSAMPLE_ABOVE=1200: 0.70
