"""Issue #14, point by point: real-world archives and pages, built on the fly, no mocks.

Each test asserts the pages (count, order, bytes or pixels), the warnings and
where the input ends. The end-to-end runs (CLI convert, scan pass) are in
test_real_world_cli.py.
"""

import dataclasses
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageOps
from prefect.logging import disable_run_logger

from comic2pdf import publish, rawpdf
from comic2pdf.archive import ExtractLimits, detect_format, extract_pages
from comic2pdf.errors import ComicError
from comic2pdf.inbox import write_error_file
from comic2pdf.settings import load_settings
from tasks.stages import prep
from tests import hostile, realworld

LIMITS = ExtractLimits(
    max_total_bytes=200 * hostile.MIB, max_entries=1000, max_ratio=200, max_image_pixels=10**8
)
DPI = 300


def extract(archive: Path, dest: Path, **limits):
    return extract_pages(archive, dest, limits=dataclasses.replace(LIMITS, **limits))


def entries(result) -> list[tuple[str, str]]:
    return [(page.entry, page.format) for page in result.pages]


def build(images: list[Path], tmp_path: Path, names: list[str] | None = None):
    warnings: list[tuple[str, str]] = []
    out = tmp_path / "raw.pdf"
    count = rawpdf.build_raw_pdf(
        images, out, dpi=DPI, scratch=tmp_path / "scratch", entries=names,
        warn=lambda *warning: warnings.append(warning),
    )  # fmt: skip
    return out, count, warnings


def render(pdf: Path, page: int, tmp_path: Path) -> Image.Image:
    """The page as poppler shows it, at the DPI the image was laid out at."""
    prefix = tmp_path / f"render-{page}"
    subprocess.run(
        ["pdftoppm", "-r", str(DPI), "-f", str(page), "-l", str(page), "-singlefile", "-png",
         str(pdf), str(prefix)],
        check=True,
    )  # fmt: skip
    with Image.open(prefix.with_suffix(".png")) as image:
        return image.convert("RGB")


def corner_colours(image: Image.Image) -> list[tuple[int, int, int]]:
    """The colours at the centres of the four quadrants (TL, TR, BL, BR)."""
    w, h = image.size
    points = (
        (w // 4, h // 4),
        (3 * w // 4, h // 4),
        (w // 4, 3 * h // 4),
        (3 * w // 4, 3 * h // 4),
    )
    return [image.getpixel(point) for point in points]


def close(a, b, tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for pa, pb in zip(a, b, strict=True) for x, y in zip(pa, pb))


@dataclasses.dataclass
class Embedded:
    filters: list[str]
    raw: bytes  # the stream as stored (a JPEG's own bytes)
    pixels: Image.Image


def pdf_images(pdf_path: Path) -> list[Embedded]:
    """The one image of each page, in page order."""
    found = []
    with pikepdf.open(pdf_path) as pdf:
        for page in pdf.pages:
            image = pikepdf.PdfImage(next(iter(page.images.values())))
            pixels = image.as_pil_image()  # decodes completely, like ocrmypdf's check
            pixels.load()
            found.append(Embedded(image.filters, image.obj.read_raw_bytes(), pixels))
    return found


# --- 1. no silent loss ------------------------------------------------------------------------


def test_avif_heic_jxl_pages_are_pages_and_their_pixels_survive(tmp_path):
    page = realworld.quadrants()
    archive = realworld.write_zip(tmp_path / "web.cbz", [
        ("01.png", realworld.encoded(page, "PNG")),
        ("02.avif", realworld.encoded(page, "AVIF", quality=100)),
        ("03.heic", realworld.encoded(page, "HEIF", quality=-1)),
        ("04.jxl", realworld.encoded(page, "JXL", lossless=True)),
    ])  # fmt: skip
    result = extract(archive, tmp_path / "x")
    assert entries(result) == [
        ("01.png", "PNG"), ("02.avif", "AVIF"), ("03.heic", "HEIF"), ("04.jxl", "JXL")
    ]  # fmt: skip
    assert result.skipped == []
    pdf, count, warnings = build([p.path for p in result.pages], tmp_path)
    assert (count, warnings) == (4, [])
    for source, embedded in zip(result.pages, pdf_images(pdf), strict=True):
        with Image.open(source.path) as decoded:  # converted losslessly: same pixels
            assert embedded.pixels.convert("RGB").tobytes() == decoded.convert("RGB").tobytes()


def test_every_page_looking_entry_is_a_page_or_named_with_its_reason(tmp_path):
    archive = realworld.write_zip(tmp_path / "mixed.cbz", [
        ("p1.png", hostile.tiny_png()),
        ("p2.jpg", b"<html>404 Not Found</html>"),  # a web rip's error page
        ("p3.tif", realworld.multipage_tiff(3)),
        ("bonus.cbz", realworld.nested_zip()),
        ("p4.png", b""),
        ("p5.png", b"\x89PNG\r\n\x1a\n" + b"cut short"),
        ("notes.txt", b"not a page, not named"),
    ])  # fmt: skip
    result = extract(archive, tmp_path / "x")
    assert [page.entry for page in result.pages] == ["p1.png", "p3.tif", "p3.tif", "p3.tif"]
    with Image.open(result.pages[2].path) as second:
        assert second.getpixel((0, 0)) == 60  # the TIFF's second page, not its first again
    assert [str(skipped) for skipped in result.skipped] == [
        "p4.png: empty file",
        "bonus.cbz: a nested zip archive: convert it on its own",
        "p2.jpg: not an image (its content is no known format)",
        "p5.png: looks like PNG but its header is unreadable: Truncated File Read",
    ]


def test_no_readable_page_is_no_images_naming_what_was_skipped(tmp_path):
    archive = realworld.write_zip(tmp_path / "x.cbz", [("p.jpg", b"nothing")])
    with pytest.raises(ComicError) as caught:
        extract(archive, tmp_path / "x")
    assert caught.value.reason == "no_images"
    assert "p.jpg: not an image" in caught.value.message


# --- 2. damaged JPEGs ------------------------------------------------------------------------


def test_damaged_jpegs_are_repaired_losslessly_or_kept_as_they_are(tmp_path):
    damaged = realworld.damaged_jpegs()
    paths = []
    for name, data in damaged.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    pdf, count, warnings = build(paths, tmp_path, names=[f"ch1/{name}" for name in damaged])
    assert count == 3
    assert [entry for entry, _ in warnings] == ["ch1/no-eoi.jpg", "ch1/truncated.jpg"]
    assert all("re-encoded losslessly (PNG) from what decodes" in text for _, text in warnings)
    images = pdf_images(pdf)
    assert [image.filters for image in images] == [["/FlateDecode"]] * 2 + [["/DCTDecode"]]
    assert images[2].raw == damaged["corrupt-scan.jpg"]  # kept, byte for byte


# --- 3. names of any length ------------------------------------------------------------------

CJK_NAME = "進撃の巨人" * 17 + " 第1巻.cbz"  # 91 characters, 263 bytes


def test_every_name_we_build_fits_255_bytes(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    placed = []
    for _ in range(3):
        incoming = source / "in.cbz"
        incoming.write_bytes(b"x")
        placed.append(publish.place_file(incoming, tmp_path / "out", CJK_NAME))
    assert [len(p.name.encode()) <= 255 for p in placed] == [True] * 3
    assert placed[1].name.endswith("… (2).cbz") and placed[2].name.endswith("… (3).cbz")
    assert all(p.name.startswith("進撃の巨人") for p in placed)
    report = write_error_file(
        placed[0], reason="corrupt", message="m", stage="prep", attempts=1, job_key=None
    )
    assert report.name.endswith(".error.json") and len(report.name.encode()) <= 255
    longest = tmp_path / "out" / ("é" * 125 + ".json")  # 255 bytes: its temporary name is longer
    publish.write_atomically(longest, b"{}")
    assert longest.read_bytes() == b"{}"


def test_fit_name_cuts_on_a_character_boundary():
    name = publish.fit_name("a" + "é" * 200 + ".cbz")
    assert len(name.encode()) <= 255 and name.endswith("….cbz")
    name.encode().decode()  # still valid UTF-8


@pytest.mark.parametrize(
    ("name", "pdf"),
    [
        ("Spider-Man Vol. 2 #15", "Spider-Man Vol. 2 #15.pdf"),
        ("Spider-Man Vol. 2 #15.cbz", "Spider-Man Vol. 2 #15.pdf"),
        ("Tintin 03.CBR", "Tintin 03.pdf"),
        ("scan.v2.jpg", "scan.v2.jpg.pdf"),
    ],
)
def test_output_names_keep_the_dots_of_the_name(name, pdf):
    assert publish.output_name(name) == pdf


# --- 4. tiny pages -----------------------------------------------------------------------------


def test_tiny_pages_get_a_page_ocrmypdf_accepts(tmp_path):
    sizes = [(1, 1), (4, 2000), (2000, 4)]
    paths = []
    for number, size in enumerate(sizes):
        paths.append(tmp_path / f"{number}.png")
        Image.new("L", size, 0).save(paths[-1])
    pdf, count, warnings = build(paths, tmp_path)
    assert (count, warnings) == (3, [])
    with pikepdf.open(pdf) as document:
        for page, (width, height) in zip(document.pages, sizes, strict=True):
            _, _, page_w, page_h = (float(v) for v in page.MediaBox)
            assert 3 <= page_w <= 14400 and 3 <= page_h <= 14400
            # The image keeps its DPI: only the page around it grows.
            assert page_w == pytest.approx(max(3, width * 72 / DPI))
            assert page_h == pytest.approx(max(3, height * 72 / DPI))


# --- 5. geometry -------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_shown_upright_with_the_jpeg_bytes_kept(orientation, tmp_path):
    data = realworld.jpeg_with_orientation(orientation)
    source = tmp_path / "page.jpg"
    source.write_bytes(data)
    pdf, _, _ = build([source], tmp_path)
    (image,) = pdf_images(pdf)
    assert image.raw == data  # untouched
    with Image.open(source) as original:
        upright = ImageOps.exif_transpose(original).convert("RGB")
    shown = render(pdf, 1, tmp_path)
    assert shown.size == upright.size
    assert close(corner_colours(shown), corner_colours(upright))


@pytest.mark.parametrize("orientation", [3, 6, 7])
def test_tiff_orientation_is_applied_once(orientation, tmp_path):
    source = tmp_path / "page.tif"
    source.write_bytes(realworld.tiff_with_orientation(orientation))
    pdf, _, _ = build([source], tmp_path)
    jpeg = tmp_path / "same.jpg"
    jpeg.write_bytes(realworld.jpeg_with_orientation(orientation))
    with Image.open(jpeg) as reference:
        upright = ImageOps.exif_transpose(reference).convert("RGB")
    shown = render(pdf, 1, tmp_path)
    assert shown.size == upright.size
    assert close(corner_colours(shown), corner_colours(upright))


# --- 6. the ratio limit knows uncompressed pages ------------------------------------------------


def test_uncompressed_pages_are_not_bombs(tmp_path):
    bmp, png = realworld.blank_bmp(), realworld.uncompressed_png()
    archive = realworld.write_zip(tmp_path / "scan.cbz", [("01.bmp", bmp), ("02.png", png)])
    with zipfile.ZipFile(archive) as check:
        assert check.getinfo("01.bmp").file_size / check.getinfo("01.bmp").compress_size > 1000
    result = extract(archive, tmp_path / "x")
    assert entries(result) == [("01.bmp", "BMP"), ("02.png", "PNG")]
    assert result.pages[0].path.read_bytes() == bmp


def test_uncompressed_pages_still_obey_the_total_and_pixel_limits(tmp_path):
    archive = realworld.write_zip(tmp_path / "scan.cbz", [("01.bmp", realworld.blank_bmp())])
    assert extract_failure(archive, tmp_path / "a", max_total_bytes=hostile.MIB) == "too_large"
    assert extract_failure(archive, tmp_path / "b", max_image_pixels=10**6) == "too_large"


def extract_failure(archive: Path, dest: Path, **limits) -> str:
    with pytest.raises(ComicError) as caught:
        extract(archive, dest, **limits)
    return caught.value.reason


# --- 7. archives 7-Zip opens -------------------------------------------------------------------

PAGES = {"p1.png": realworld.encoded(realworld.quadrants(300, 200), "PNG", compress_level=0),
         "p2.bmp": realworld.encoded(realworld.quadrants(200, 300), "BMP")}  # fmt: skip


def odd_archives(folder: Path) -> dict[str, Path]:
    items = list(PAGES.items())
    plain = realworld.write_zip(folder / "plain.zip", items)
    built = {
        f"zip-{method}": realworld.sevenzip(
            folder / f"{method}.cbz", PAGES, "-tzip", f"-mm={method}"
        )
        for method in ("Deflate64", "PPMd", "XZ")
    }
    built["zip-zstd"] = realworld.raw_zip(
        folder / "zstd.cbz", items, method=93, compress=realworld.zstd
    )
    built["7z-arm64"] = realworld.sevenzip(folder / "arm64.cb7", PAGES, "-t7z", "-mf=ARM64")
    built["zip-padded"] = folder / "padded.cbz"
    built["zip-padded"].write_bytes(plain.read_bytes() + bytes(100_000))
    built["zip-sfx"] = folder / "sfx.exe"
    built["zip-sfx"].write_bytes(b"MZ" + bytes(30_000) + plain.read_bytes())
    built["zip-utf8-central"] = realworld.utf8_flag_only_in_central_directory(
        folder / "utf8.cbz", items
    )
    return built


def test_archives_seven_zip_opens_give_their_pages_byte_for_byte(tmp_path):
    folder = tmp_path / "archives"
    folder.mkdir()
    for label, archive in odd_archives(folder).items():
        result = extract(archive, tmp_path / label)
        assert [page.entry for page in result.pages] == list(PAGES), label
        assert [page.path.read_bytes() for page in result.pages] == list(PAGES.values()), label
    assert detect_format(folder / "sfx.exe") == "zip"


def test_a_method_nobody_reads_is_unsupported_method(tmp_path):
    archive = realworld.raw_zip(
        tmp_path / "odd.cbz", [("p1.png", hostile.tiny_png())], method=97, compress=bytes
    )
    with pytest.raises(ComicError) as caught:
        extract(archive, tmp_path / "x")
    assert caught.value.reason == "unsupported_method"
    assert "7-Zip cannot read either" in caught.value.message


def test_encrypted_7z_message_has_no_library_internals(tmp_path):
    import py7zr

    archive = tmp_path / "locked.cb7"
    with py7zr.SevenZipFile(archive, "w", password="secret", header_encryption=True) as seven:
        seven.writestr(hostile.tiny_png(), "p1.png")
    with pytest.raises(ComicError) as caught:
        extract(archive, tmp_path / "x")
    assert str(caught.value) == (
        "locked.cb7: encrypted: is password-protected: remove the password and drop the file again"
    )


# --- 8. order ----------------------------------------------------------------------------------


def test_mac_and_windows_names_sort_together_and_a_root_cover_comes_first(tmp_path):
    png = hostile.tiny_png()
    nfd = unicodedata.normalize("NFD", "Épisode")
    names = [f"{nfd} 10.png", "Épisode 2.png", f"{nfd} 1.png", "Chapter 1/p1.png", "Cover.png"]
    archive = realworld.write_zip(tmp_path / "mac.cbz", [(name, png) for name in names])
    result = extract(archive, tmp_path / "x")
    assert [page.entry for page in result.pages] == [
        "Cover.png", "Chapter 1/p1.png", f"{nfd} 1.png", "Épisode 2.png", f"{nfd} 10.png"
    ]  # fmt: skip


# --- 9. ComicInfo in the PDF -------------------------------------------------------------------

COMICINFO = b"""<?xml version="1.0" encoding="utf-8"?>
<ComicInfo><Title>Ken</Title><Manga>YesAndRightToLeft</Manga><Pages>
<Page Image="0" Bookmark="Start"/><Page Image="1" Type="Deleted"/>
<Page Image="2" Type="FrontCover"/><Page Image="3" Bookmark="Chapter 2"/>
</Pages></ComicInfo>"""


def test_prep_applies_comicinfo_pages_bookmarks_and_direction(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    colours = [(10, 10, 10), (80, 80, 80), (160, 160, 160), (240, 240, 240)]
    pages = [(f"p{n}.png", hostile.tiny_png(colour)) for n, colour in enumerate(colours)]
    archive = realworld.write_zip(tmp_path / "manga.cbz", [*pages, ("ComicInfo.xml", COMICINFO)])
    with disable_run_logger():
        prepared = prep.fn(archive, tmp_path / "work", "key", load_settings())
    assert prepared.pages == 3
    assert prepared.pages_skipped == ["p1.png: marked Deleted in ComicInfo.xml"]
    firsts = [image.pixels.getpixel((0, 0)) for image in pdf_images(prepared.raw_pdf)]
    assert firsts == [colours[2], colours[0], colours[3]]  # cover first, deleted page gone
    with pikepdf.open(prepared.raw_pdf) as pdf:
        assert pdf.Root.ViewerPreferences.Direction == pikepdf.Name.R2L
        with pdf.open_outline() as outline:
            marks = [(item.title, pdf.pages.index(pikepdf.Page(item.destination[0])))
                     for item in outline.root]  # fmt: skip
        assert marks == [("Start", 1), ("Chapter 2", 2)]
        assert str(pdf.docinfo["/Comic2pdfSourceName"]) == "manga.cbz"


def test_a_tiff_of_more_pages_than_the_entry_limit_is_refused(tmp_path):
    archive = realworld.write_zip(tmp_path / "t.cbz", [("p.tif", realworld.multipage_tiff(4))])
    assert extract_failure(archive, tmp_path / "x", max_entries=3) == "image_too_large"


def test_a_fake_heic_is_named_without_any_scratch_path(tmp_path):
    fake = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"garbage" * 10
    archive = realworld.write_zip(
        tmp_path / "x.cbz", [("p1.png", hostile.tiny_png()), ("p2.heic", fake)]
    )
    result = extract(archive, tmp_path / "x")
    assert [str(skipped) for skipped in result.skipped] == [
        "p2.heic: looks like HEIF but is unreadable"
    ]
