"""The resolution each page is declared at: its own when plausible, else a printed page's."""

from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from comic2pdf import rawpdf
from comic2pdf.errors import ImageTooLarge
from comic2pdf.resolution import MAX_DPI, MIN_DPI, estimated_dpi, image_dpi, page_dpi
from comic2pdf.settings import Settings

COMICS_DEV = Path(__file__).resolve().parents[2] / "shared" / "comics-dev" / "pages"


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        ((1000, 1500), 152),  # a screen-resolution comic page: 6.6 in wide, 9.9 in tall
        ((992, 1373), 150),  # Pepper&Carrot's published pages
        ((1980, 3060), 300),  # a 300 DPI scan of a comic book
        ((600, 200), 91),  # a daily strip printed across a comic page
        ((3000, 1500), 227),  # a double-page spread, two pages wide
        ((1000, 2000), 196),  # taller than a page's proportions: the height decides
        ((100, 150), MIN_DPI),  # a thumbnail is never declared below what Tesseract takes
        ((30000, 20000), MAX_DPI),
    ],
)
def test_estimate_prints_the_image_as_a_comic_page(pixels, expected):
    assert estimated_dpi(pixels) == expected
    assert page_dpi(pixels=pixels, declared=None) == expected


@pytest.mark.parametrize(
    ("pixels", "declared", "expected"),
    [
        ((1152, 1644), (150, 150), 150),  # a 1950 comic scanned at 150 DPI: believed
        ((1760, 2332), (199, 199), 199),  # a newspaper page 8.8 in wide: believed
        ((992, 1373), (38.1, 38.1), 150),  # 15 dots/cm of a screen render: 26 in tall, no
        ((1000, 1500), (300, 300), 152),  # 5 in tall at 300 DPI: a re-saved scan, no
        ((1000, 1500), (72, 72), 152),  # an editor's default: 21 in tall, no
        ((1000, 1500), (150, 100), 152),  # not square
        ((1000, 1500), (0, 0), 152),
        ((4654, 1390), (300, 300), 300),  # a 1915 strip 15.5 in wide, as newspapers printed it
        ((4654, 1390), (100, 100), 705),  # 46 in wide: no
        ((1080, 266), (72, 72), 72),  # a 15 in wide strip
    ],
)
def test_declared_dpi_is_kept_only_when_plausible(pixels, declared, expected):
    assert page_dpi(pixels=pixels, declared=declared) == expected


def test_image_header_decides_and_forced_dpi_wins(tmp_path):
    scan = tmp_path / "scan.png"
    Image.new("L", (1152, 1644), 255).save(scan, dpi=(150, 150))
    bare = tmp_path / "bare.png"
    Image.new("L", (600, 200), 255).save(bare)
    assert image_dpi(scan) == 150
    assert image_dpi(bare) == 91
    assert image_dpi(scan, forced=300) == image_dpi(bare, forced=300) == 300


def test_exif_quarter_turn_swaps_width_and_height(tmp_path):
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: the 1500x1000 file is a 1000x1500 page
    Image.new("RGB", (1500, 1000), "white").save(turned, exif=exif)
    assert image_dpi(turned) == 152


def test_unreadable_header_gets_a_comic_page_estimate(tmp_path):
    odd = tmp_path / "page.jp2"
    odd.write_bytes(b"not an image Pillow knows")
    assert image_dpi(odd) == estimated_dpi((1000, 1500))


def test_a_decompression_bomb_is_refused_by_name(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    Image.new("L", (1000, 1500), 255).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # more than twice over: an error
    with pytest.raises(ImageTooLarge) as raised:
        rawpdf.build_raw_pdf([bomb], tmp_path / "raw.pdf", dpi=0, scratch=tmp_path / "scratch")
    assert raised.value.path == bomb
    assert not (tmp_path / "raw.pdf").exists()


def test_raw_pdf_pages_have_the_size_of_a_printed_comic(tmp_path):
    images = [COMICS_DEV / "peppercarrot-e06-p04.jpg", COMICS_DEV / "strangeworlds-01-p08.jpg"]
    out = tmp_path / "raw.pdf"
    rawpdf.build_raw_pdf(images, out, dpi=0, scratch=tmp_path / "scratch")
    with pikepdf.open(out) as pdf:
        inches = [(float(p.mediabox[2]) / 72, float(p.mediabox[3]) / 72) for p in pdf.pages]
    assert inches == [
        pytest.approx((992 / 150, 1373 / 150)),  # estimated
        pytest.approx((1152 / 150, 1644 / 150)),  # its own 150 DPI
    ]


def test_ocr_dpi_is_automatic_by_default_and_refuses_what_tesseract_cannot_take():
    assert Settings().ocr_dpi == 0
    assert Settings(ocr_dpi=96).ocr_dpi == 96
    with pytest.raises(ValueError, match="OCR_DPI"):
        Settings(ocr_dpi=50)
