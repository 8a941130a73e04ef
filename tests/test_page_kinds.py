"""Every kind of page a comic holds converts, with real OCR: none is lost, none is changed.

A page with no text at all, a full-bleed splash (art to every edge), a page of pure
prose (an afterword) and a 1-bit scan go through the convert-comic flow together.
"""

import subprocess
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from flows.convert import convert_comic

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

FONTS = Path("/usr/share/fonts/truetype/dejavu")
AFTERWORD = (
    "This story began on a rainy evening when the harbour lights went out one by one. "
    "Nobody in the village believed the keeper when he spoke of ships without sails, "
    "so he wrote everything down in a notebook that his granddaughter found many years "
    "later. These pages are her drawings of what the notebook described, and the "
    "words of the keeper are printed here exactly as he left them."
)
SCAN_WORDS = "the lighthouse keeper kept a careful record of every storm and every ship"
SPLASH_TITLE = "HARBOUR"


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def wrapped(draw: ImageDraw.ImageDraw, text: str, face, *, left: int, top: int, width: int):
    """Draw *text* as justified-left lines no wider than *width*."""
    line, y = "", top
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=face) > width and line:
            draw.text((left, y), line, fill=0, font=face)
            line, y = word, y + round(face.size * 1.5)
        else:
            line = trial
    draw.text((left, y), line, fill=0, font=face)


def no_text_page(path: Path) -> Path:
    """Art without a single letter: soft shapes on a gradient."""
    page = Image.linear_gradient("L").resize((1000, 1500)).convert("RGB")
    draw = ImageDraw.Draw(page)
    draw.ellipse((150, 300, 850, 1000), fill=(40, 90, 160))
    draw.ellipse((350, 500, 650, 800), fill=(230, 200, 80))
    page.save(path)
    return path


def splash_page(path: Path) -> Path:
    """Art to every edge (no margin), a title lettered large across it."""
    page = Image.new("RGB", (1000, 1500), (250, 220, 170))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 1000, 999, 1499), fill=(60, 110, 60))  # the ground runs off the page
    draw.polygon([(0, 1000), (500, 620), (999, 1000)], fill=(120, 80, 50))
    draw.text((110, 200), SPLASH_TITLE, fill=(0, 0, 0), font=font("DejaVuSans-Bold.ttf", 150))
    page.save(path, quality=90)
    return path


def prose_page(path: Path) -> Path:
    page = Image.new("L", (1000, 1500), 255)
    draw = ImageDraw.Draw(page)
    wrapped(draw, AFTERWORD, font("DejaVuSerif.ttf", 30), left=100, top=150, width=800)
    page.save(path)
    return path


def bilevel_scan(path: Path) -> Path:
    """A 1-bit page as a scanner's black-and-white mode makes it."""
    page = Image.new("L", (1200, 800), 255)
    draw = ImageDraw.Draw(page)
    wrapped(draw, SCAN_WORDS, font("DejaVuSans.ttf", 40), left=80, top=120, width=1040)
    page.point(lambda v: 255 if v > 128 else 0).convert("1").save(path, dpi=(150, 150))
    return path


def pdf_page_text(pdf: Path, number: int) -> str:
    return subprocess.run(
        ["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def words(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


def test_every_page_kind_converts_and_keeps_its_image(data_dir, tmp_path):
    pages = [
        no_text_page(tmp_path / "01 art.png"),
        splash_page(tmp_path / "02 splash.jpg"),
        prose_page(tmp_path / "03 afterword.png"),
        bilevel_scan(tmp_path / "04 scan.png"),
    ]
    archive = tmp_path / "Harbour.cbz"
    with zipfile.ZipFile(archive, "w") as cbz:
        for page in pages:
            cbz.write(page, page.name)

    result = convert_comic(path=str(archive))

    assert result.pages == 4
    assert result.pages_without_text == 1  # the art page; reported, not an error
    pdf = result.output
    assert not pdf_page_text(pdf, 1).strip()
    assert SPLASH_TITLE.lower() in words(pdf_page_text(pdf, 2))
    prose = words(pdf_page_text(pdf, 3))
    found = [word for word in words(AFTERWORD) if word in prose]
    assert len(found) >= 0.95 * len(words(AFTERWORD)), prose
    scan = words(pdf_page_text(pdf, 4))
    # Every word, "lighthouse" too: its first letter, a solid stroke, was once lost.
    assert [word for word in SCAN_WORDS.split() if word not in scan] == [], scan
    with pikepdf.open(pdf) as doc:
        images = [next(iter(page.images.values())) for page in doc.pages]
        assert images[1].read_raw_bytes() == pages[1].read_bytes()  # the JPEG, byte for byte
        for number in (0, 2, 3):
            kept = pikepdf.PdfImage(images[number]).as_pil_image()
            with Image.open(pages[number]) as original:
                assert kept.mode == original.mode
                assert kept.tobytes() == original.tobytes(), pages[number].name
