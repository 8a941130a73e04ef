"""Sample comics: deterministic archives that look like comics, with known balloons."""

import io
import subprocess
import tarfile
import zipfile

import cv2
import numpy as np
import py7zr
import pytest
from PIL import Image

from comic2pdf import samples
from comic2pdf.comicinfo import read_comicinfo
from comic2pdf.ocr.page import read_page


def test_the_same_arguments_give_the_same_bytes(tmp_path):
    for container in ("zip", "7z", "tar"):
        first = samples.make_comic(tmp_path / f"a.{container}", title="T", container=container)
        second = samples.make_comic(tmp_path / f"b.{container}", title="T", container=container)
        assert first.path.read_bytes() == second.path.read_bytes(), container
        assert first.words == second.words


def test_another_seed_gives_other_words(tmp_path):
    one = samples.make_comic(tmp_path / "one.cbz", title="T", seed=1)
    two = samples.make_comic(tmp_path / "two.cbz", title="T", seed=2)
    assert one.words != two.words


def test_a_zip_comic_holds_its_pages_and_comicinfo(tmp_path):
    comic = samples.make_comic(
        tmp_path / "x.cbz", title="Harbor", pages=3, size=(400, 600), image_format=("JPEG", "PNG")
    )
    assert comic.pages == 3
    assert comic.words == [word for words in comic.page_words for word in words]
    assert comic.words and all(word in samples.WORDS for word in comic.words)
    assert comic.words == [
        word for page in comic.page_balloons for balloon in page for word in balloon.words
    ]
    with zipfile.ZipFile(comic.path) as archive:
        assert sorted(archive.namelist()) == [
            "ComicInfo.xml",
            "page 001.jpg",
            "page 002.png",
            "page 003.jpg",
        ]
        assert {info.date_time for info in archive.infolist()} == {samples.ENTRY_DATE}
        page = Image.open(io.BytesIO(archive.read("page 002.png")))
        assert (page.format, page.size) == ("PNG", (400, 600))
        (tmp_path / "ComicInfo.xml").write_bytes(archive.read("ComicInfo.xml"))
    metadata = read_comicinfo(tmp_path / "ComicInfo.xml")
    assert (metadata.title, metadata.subject, metadata.language) == ("Harbor", "Harbor #1", "en")


def test_7z_and_tar_comics_hold_their_pages(tmp_path):
    cb7 = samples.make_comic(
        tmp_path / "x.cb7", title="T", pages=2, container="7z", comicinfo=False
    )
    with py7zr.SevenZipFile(cb7.path) as archive:
        assert sorted(archive.getnames()) == ["page 001.jpg", "page 002.jpg"]
    cbt = samples.make_comic(tmp_path / "x.cbt", title="T", pages=2, container="tar")
    with tarfile.open(cbt.path) as archive:
        assert sorted(archive.getnames()) == ["ComicInfo.xml", "page 001.jpg", "page 002.jpg"]


def test_unknown_container_or_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="container"):
        samples.make_comic(tmp_path / "x.cbr", title="T", container="rar")
    with pytest.raises(ValueError, match="image_format"):
        samples.make_comic(tmp_path / "x.cbz", title="T", image_format="GIF")


def test_the_demo_set(tmp_path, capsys):
    assert samples.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split("\n")
    comics = samples.generate_samples(tmp_path / "again")
    assert [c.path.name for c in comics] == ["Harbor Days.cbz", "Night Garden.cb7", "Long Road.cbz"]
    assert printed[:3] == [str(tmp_path / c.path.name) for c in comics]
    for comic in comics:
        assert (tmp_path / comic.path.name).read_bytes() == comic.path.read_bytes()
    with zipfile.ZipFile(comics[2].path) as archive:
        names = archive.namelist()
    assert "chapter 1/page 2.png" in names and "chapter 1/page 10.png" in names
    assert {n.rsplit(".", 1)[1] for n in names} == {"jpg", "png", "xml"}


def test_a_missing_font_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(samples.drawing, "FONT_ROOT", tmp_path)
    samples.drawing._font_path.cache_clear()
    samples.drawing._font.cache_clear()
    try:
        with pytest.raises(samples.MissingTool, match="fonts-dejavu-core"):
            samples.make_comic(tmp_path / "x.cbz", title="T")
    finally:
        samples.drawing._font_path.cache_clear()
        samples.drawing._font.cache_clear()


def test_pages_look_like_screen_scans_of_comics(tmp_path):
    """72 dpi, small capitals, white balloons ringed in black on colour art."""
    comic = samples.make_comic(tmp_path / "x.cbz", title="T", pages=1, image_format="PNG")
    with zipfile.ZipFile(comic.path) as archive:
        page = Image.open(io.BytesIO(archive.read("page 001.png")))
        page.load()
    assert page.info["dpi"] == pytest.approx((72, 72), abs=0.01)  # PNG stores dots per metre
    gray = np.asarray(page.convert("L"))
    for balloon in comic.page_balloons[0]:
        left, top, right, bottom = balloon.box
        assert gray[top + 1, (left + right) // 2] < 60  # the black outline
        inside = (gray[top + 8 : bottom - 8, left + 30 : right - 30] < 128).astype(np.uint8)
        _, _, stats, _ = cv2.connectedComponentsWithStats(inside)
        letter_heights = sorted(int(h) for h in stats[1:, cv2.CC_STAT_HEIGHT])
        assert 8 <= letter_heights[len(letter_heights) // 2] <= 11, letter_heights
    assert np.median(gray[300:500, 60:740]) < 230  # the art is coloured, not white paper


def test_whole_page_tesseract_misses_words_the_comic_reader_finds(tmp_path):
    """The pages are as hard as real ones for plain Tesseract, easy for the comic engine."""
    comic = samples.make_comic(tmp_path / "x.cbz", title="T", pages=3, image_format="PNG", seed=4)
    page_found = comic_found = 0
    with zipfile.ZipFile(comic.path) as archive:
        for number, truth in enumerate(comic.page_words, 1):
            image = Image.open(io.BytesIO(archive.read(f"page {number:03d}.png")))
            (tmp_path / "page.png").write_bytes(archive.read(f"page {number:03d}.png"))
            plain = subprocess.run(
                ["tesseract", tmp_path / "page.png", "-", "--dpi", "72"],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout.lower().split()
            words = read_page(
                np.asarray(image.convert("L")), languages=["eng"], timeout=120, workdir=tmp_path
            )
            comic_found += sum(word in [w.text.lower() for w in words] for word in truth)
            page_found += sum(word in plain for word in truth)
    assert comic_found >= 0.95 * len(comic.words), comic.words
    assert page_found < comic_found
