"""The comic OCR engine (OCR_MODE=comic) on real and sample comic pages, real Tesseract."""

import importlib.util
import io
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from comic2pdf.errors import OcrFailed
from comic2pdf.ocr import OcrOptions, run_ocr
from comic2pdf.ocr.page import page_text, read_page
from comic2pdf.ocr.regions import find_balloons, find_lettering
from comic2pdf.rawpdf import build_raw_pdf
from comic2pdf.samples import make_comic
from tests.fakes import alive, fake_tesseract, path_with

COMICS_DEV = Path(__file__).resolve().parents[2] / "shared" / "comics-dev"
#: Pages where whole-page Tesseract loses words to colour art and balloon outlines.
DEV_PAGES = ("peppercarrot-e21-p07", "peppercarrot-e22-p04", "littlenemo-1906-09-23")
DPI = 300  # raw.pdf's resolution in these tests


def recall_module():
    """comics-dev's recall.py (stdlib only), imported from where it lives."""
    spec = importlib.util.spec_from_file_location("comics_dev_recall", COMICS_DEV / "recall.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_texts(pdf: Path, pages: int) -> list[str]:
    return [
        subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in range(1, pages + 1)
    ]


def word_boxes(pdf: Path) -> list[list[tuple[str, tuple[float, ...]]]]:
    """Each page's words with their boxes in points, from ``pdftotext -bbox``."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<'
    return [
        [(word, tuple(map(float, box))) for *box, word in re.findall(pattern, page)]
        for page in html.split("<page ")[1:]
    ]


def raw_pdf(folder: Path, images: list[Path]) -> Path:
    out = folder / "raw.pdf"
    build_raw_pdf(images, out, dpi=DPI, scratch=folder / "scratch")
    return out


@pytest.mark.slow
def test_comic_mode_reads_real_comic_pages_far_better_than_page_mode(tmp_path):
    recall = recall_module()
    images = [COMICS_DEV / "pages" / f"{stem}.jpg" for stem in DEV_PAGES]
    truth = " ".join((COMICS_DEV / "truth" / f"{stem}.txt").read_text() for stem in DEV_PAGES)
    raw = raw_pdf(tmp_path, images)
    scores = {}
    for mode in ("comic", "page"):
        final = tmp_path / f"{mode}.pdf"
        run_ocr(raw, final, options=OcrOptions(mode=mode, jobs=2), pages=3, timeout=300)
        matched, words, found = recall.score(truth, " ".join(page_texts(final, 3)))
        scores[mode] = (matched / words, matched / max(found, 1))
    (comic_recall, comic_precision), (page_recall, _) = scores["comic"], scores["page"]
    assert comic_recall >= 0.78, scores  # measured 0.81
    assert comic_precision >= 0.78, scores  # measured 0.82
    assert comic_recall >= page_recall + 0.3, scores


@pytest.mark.slow
def test_words_lie_over_their_balloons_and_page_images_stay_untouched(tmp_path):
    comic = make_comic(tmp_path / "x.cbz", title="T", pages=2, image_format=("JPEG", "PNG"), seed=5)
    pages = []
    with zipfile.ZipFile(comic.path) as archive:
        for name in ("page 001.jpg", "page 002.png"):
            (tmp_path / name).write_bytes(archive.read(name))
            pages.append(tmp_path / name)
    final = tmp_path / "final.pdf"
    run_ocr(raw_pdf(tmp_path, pages), final, options=OcrOptions(jobs=2), pages=2, timeout=300)

    to_pt = 72 / DPI
    for balloons, boxes in zip(comic.page_balloons, word_boxes(final), strict=True):
        for balloon in balloons:
            left, top, right, bottom = (value * to_pt for value in balloon.box)
            for word in balloon.words:
                placed = [box for text, box in boxes if text.lower() == word]
                assert placed, (word, [text for text, _ in boxes])
                x0, y0, x1, y1 = placed[0]
                assert left <= x0 < x1 <= right and top <= y0 < y1 <= bottom, (word, placed)
    with pikepdf.open(final) as pdf:
        images = [next(iter(page.images.values())) for page in pdf.pages]
        assert images[0].read_raw_bytes() == pages[0].read_bytes()  # the JPEG, byte for byte
        decoded = pikepdf.PdfImage(images[1]).as_pil_image()
        assert np.array_equal(np.asarray(decoded), np.asarray(Image.open(pages[1])))


def test_balloons_of_sample_pages_are_found_where_they_were_drawn(tmp_path):
    comic = make_comic(tmp_path / "x.cbz", title="T", pages=3, image_format="PNG", seed=7)
    with zipfile.ZipFile(comic.path) as archive:
        for number, drawn in enumerate(comic.page_balloons, 1):
            page = Image.open(io.BytesIO(archive.read(f"page {number:03d}.png")))
            found = [region.box for region in find_balloons(np.asarray(page.convert("L")))]
            for balloon in drawn:
                # Inside the black outline: the found box is within the drawn one.
                assert any(
                    balloon.box[0] <= x0 < x1 <= balloon.box[2] + 1
                    and balloon.box[1] <= y0 < y1 <= balloon.box[3] + 1
                    and (x1 - x0) > 0.8 * (balloon.box[2] - balloon.box[0])
                    for x0, y0, x1, y1 in found
                ), (balloon, found)


def test_a_panel_whose_open_balloons_join_its_background_is_not_a_balloon():
    # Baron Bean (1917): the balloons' tails open into the panels, so each panel is one
    # light area with letters and figures as holes; read as one block it was garbage.
    page = Image.open(COMICS_DEV / "pages" / "baronbean-1917.jpg").convert("L")
    gray = np.asarray(page)
    panel = 0.1 * gray.size  # the strip has four panels
    assert [r.box for r in find_balloons(gray) if r.mask.size > panel] == []
    # The first panel's lettering is then found as lettering on plain ground.
    lettering = [region.box for region in find_lettering(gray, find_balloons(gray))]
    assert any(x0 < 270 and y0 < 40 for x0, y0, _, _ in lettering), lettering


@pytest.mark.slow
def test_letters_touching_a_balloons_outline_are_read(tmp_path):
    # Little Nemo (1906): "MY! THOSE / FELLOWS / WERE EX-", the F and the W touch the
    # outline; they were left out of the balloon and read "ELLOWS", "ERE".
    page = Image.open(COMICS_DEV / "pages" / "littlenemo-1906-09-23.jpg").convert("L")
    corner = np.asarray(page)[1650:2050, 0:450]
    words = read_page(corner, languages=["eng"], timeout=60, workdir=tmp_path)
    assert {"FELLOWS", "WERE"} <= {word.text for word in words}, page_text(words)


def xkcd_with_fake_tesseract(tmp_path, monkeypatch, *, behaviour: str) -> tuple[Path, Path]:
    """raw.pdf of one real page, and the pid log of a misbehaving tesseract put on PATH.

    A hung engine obeying the OCR stage timeout: tests/test_ocr.py (both modes).
    """
    pid_log = tmp_path / "pids"
    fake = fake_tesseract(tmp_path / "bin", behaviour=behaviour, pid_log=pid_log)
    monkeypatch.setenv("PATH", path_with(fake))
    return raw_pdf(tmp_path, [COMICS_DEV / "pages" / "xkcd-0327.png"]), pid_log


@pytest.mark.slow
def test_a_tesseract_past_its_page_timeout_leaves_the_page_without_text(tmp_path, monkeypatch):
    """As ocrmypdf's own engine does: the page is kept, counted as without text."""
    raw, pid_log = xkcd_with_fake_tesseract(tmp_path, monkeypatch, behaviour="hang")
    options = OcrOptions(tesseract_timeout=2)
    result = run_ocr(raw, tmp_path / "final.pdf", options=options, pages=1, timeout=120)
    assert result.pages_without_text == 1
    assert alive([int(p) for p in pid_log.read_text().split()]) == []


@pytest.mark.slow
def test_a_crashing_tesseract_fails_the_attempt_and_the_next_one_succeeds(tmp_path, monkeypatch):
    raw, pid_log = xkcd_with_fake_tesseract(tmp_path, monkeypatch, behaviour="crash-once")
    with pytest.raises(OcrFailed) as info:
        run_ocr(raw, tmp_path / "final.pdf", options=OcrOptions(), pages=1, timeout=120)
    assert info.value.retryable and not (tmp_path / "final.pdf").exists()
    result = run_ocr(raw, tmp_path / "final.pdf", options=OcrOptions(), pages=1, timeout=120)
    assert "ROBERT" in " ".join(page_texts(result.pdf, 1)).upper()
    assert alive([int(p) for p in pid_log.read_text().split()]) == []


def test_the_engine_is_ocrmypdfs_choice_unless_another_is_named():
    from types import SimpleNamespace

    from comic2pdf.ocr.engine import ComicOcrEngine, get_ocr_engine

    assert isinstance(get_ocr_engine(SimpleNamespace(ocr_engine="auto")), ComicOcrEngine)
    assert get_ocr_engine(SimpleNamespace(ocr_engine="tesseract")) is None


def test_tightly_lettered_words_stay_apart_in_the_text_layer(tmp_path):
    import ocrmypdf
    from ocrmypdf.font import MultiFontManager
    from ocrmypdf.fpdf_renderer import Fpdf2PdfRenderer

    from comic2pdf.ocr.engine import page_tree
    from comic2pdf.ocr.tesseract import Word

    # Boxes as Tesseract gives them for hand lettering: each word's box touches the next.
    line = [("WE", 100, 140), ("THINKS", 140, 260), ("HEY", 261, 320)]
    words = [Word(text, (left, 100, right, 128), 90.0, (0, 1)) for text, left, right in line]
    tree = page_tree(words, width=600, height=300, dpi=72)
    fonts = MultiFontManager(Path(ocrmypdf.__file__).parent / "data")
    Fpdf2PdfRenderer(tree, 72, fonts).render(tmp_path / "layer.pdf")

    assert page_texts(tmp_path / "layer.pdf", 1)[0].split() == ["WE", "THINKS", "HEY"]
    # Every word still starts where it is on the art.
    assert [box[0] for _, box in word_boxes(tmp_path / "layer.pdf")[0]] == pytest.approx(
        [100, 140, 261], abs=0.5
    )


def test_comic_font_confusions_are_repaired_only_to_the_one_dictionary_word_they_reach():
    from comic2pdf.ocr.repair import repaired
    from comic2pdf.ocr.words import english_words

    known = english_words()
    assert "dave" in known and len(known) > 10_000
    assert repaired("“OAVE,", known) == "“DAVE,"  # D read as O
    assert repaired("MAPE!", known) == "MADE!"  # D read as P
    # Dictionary words, lower case, short words and numbers stay as read.
    for text in ("HELLO", "reo", "C2", "1906", "OAVe"):
        assert repaired(text, known) == text


def test_the_word_list_is_unpacked_once_then_read_from_the_cache(tmp_path, monkeypatch):
    from comic2pdf.ocr import words

    monkeypatch.setattr(words, "CACHE_DIR", tmp_path / "cache")
    words.english_words.cache_clear()
    unpacked = words.english_words()
    [cached] = (tmp_path / "cache").iterdir()
    assert cached.name.startswith("eng-words-")

    def no_unpacking(traineddata):
        raise AssertionError("unpacked again although cached")

    monkeypatch.setattr(words, "unpack_words", no_unpacking)
    words.english_words.cache_clear()
    try:
        assert words.english_words() == unpacked
    finally:
        words.english_words.cache_clear()  # other tests get the real cache again


def test_without_a_writable_cache_the_word_list_is_still_used(tmp_path, monkeypatch, caplog):
    from comic2pdf.ocr import words

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setattr(words, "CACHE_DIR", blocked / "comic2pdf")
    words.english_words.cache_clear()
    try:
        with caplog.at_level("INFO", logger=words.__name__):
            assert "dave" in words.english_words()
    finally:
        words.english_words.cache_clear()
    assert "not cached" in caplog.text


@pytest.mark.slow
def test_a_word_starting_with_a_solid_stroke_is_read(tmp_path):
    # DejaVu Sans' l is a bar, Tesseract's I too: it read "lighthouse" at confidence 14 and,
    # widened, "lignthouse" at 88; a dictionary word now counts as certain.
    page = Image.new("L", (1200, 200), 255)
    face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    ImageDraw.Draw(page).text((80, 60), "the lighthouse keeper kept a record", font=face)
    scan = np.asarray(page.point(lambda v: 255 if v > 128 else 0))
    words = read_page(scan, languages=["eng"], timeout=60, workdir=tmp_path)
    assert "lighthouse" in page_text(words).split(), page_text(words)
