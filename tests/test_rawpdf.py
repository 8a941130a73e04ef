"""raw.pdf: every page image survives losslessly, in order, at the fixed DPI."""

import hashlib
import struct
import subprocess
import zlib
from pathlib import Path

import img2pdf
import pikepdf
import pytest
from PIL import Image, ImageChops

from comic2pdf import rawpdf
from comic2pdf.comicinfo import ComicMetadata
from comic2pdf.errors import BadImage, ImageTooLarge, InvalidPdf, NoImages

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
PAGES = FIXTURES / "pages"
DPI = 300


def build(images, tmp_path, **kwargs) -> Path:
    out = tmp_path / "raw.pdf"
    kwargs.setdefault("dpi", DPI)
    pages = rawpdf.build_raw_pdf(images, out, scratch=tmp_path / "scratch", **kwargs)
    assert pages == len(images)
    return out


def page_images(pdf: pikepdf.Pdf) -> list[pikepdf.Stream]:
    """The one image XObject of each page, in page order."""
    result = []
    for page in pdf.pages:
        (image,) = page.get_images().values()
        result.append(image)
    return result


def extracted_pixels(pdf_path: Path) -> Image.Image:
    """The pixels of the only page's image, decoded by pikepdf."""
    with pikepdf.open(pdf_path) as pdf:
        (image,) = page_images(pdf)
        pixels = pikepdf.PdfImage(image).as_pil_image()
        pixels.load()
        return pixels


def only_image(pdf_path: Path) -> tuple[int, bytes]:
    """Bits per component and decoded samples of the only page's image."""
    with pikepdf.open(pdf_path) as pdf:
        (image,) = page_images(pdf)
        return int(image.BitsPerComponent), image.read_bytes()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same_pixels(actual: Image.Image, expected: Image.Image, tolerance: int = 0) -> None:
    assert actual.size == expected.size
    difference = ImageChops.difference(actual.convert("RGB"), expected.convert("RGB"))
    assert max(high for _low, high in difference.getextrema()) <= tolerance


def on_white(im: Image.Image) -> Image.Image:
    """The test's own flattening, independent of the module's: alpha_composite."""
    rgba = im.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")


def png16(path: Path, width: int, height: int, channels: int, samples: bytes) -> Path:
    """Write a 16-bit PNG by hand (Pillow cannot write 16-bit RGB or RGBA)."""
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    stride = width * channels * 2
    rows = b"".join(b"\x00" + samples[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def samples16(count: int) -> bytes:
    """Deterministic 16-bit samples whose low bytes matter."""
    return b"".join(struct.pack(">H", (i * 7919) % 65536) for i in range(count))


# --- the fixtures: real files made by other tools ----------------------------------


@pytest.mark.parametrize("name", ["baiona_color.jpg", "baiona_cmyk.jpg"])
def test_jpeg_pages_are_embedded_byte_for_byte(tmp_path, name):
    out = build([PAGES / name], tmp_path)
    subprocess.run(["pdfimages", "-all", out, tmp_path / "img"], check=True, timeout=60)
    (extracted,) = tmp_path.glob("img-*")
    assert extracted.suffix == ".jpg"
    assert sha256(extracted) == sha256(PAGES / name)


@pytest.mark.parametrize(
    "name", ["baiona.png", "baiona_gray.png", "baiona_colormapped.png", "typewriter.png"]
)
def test_png_pages_keep_their_pixels(tmp_path, name):
    source = Image.open(PAGES / name)
    pixels = extracted_pixels(build([PAGES / name], tmp_path))
    assert pixels.mode == source.mode  # palette stays palette, gray stays gray
    assert_same_pixels(pixels, source)


def test_png_with_alpha_is_flattened_onto_white(tmp_path):
    source = Image.open(PAGES / "baiona_alpha.png")
    pixels = extracted_pixels(build([PAGES / "baiona_alpha.png"], tmp_path))
    assert pixels.mode == "RGB"
    # Rounding of the two compositing methods may differ by one.
    assert_same_pixels(pixels, on_white(source), tolerance=1)


# --- what img2pdf would not embed as it is --------------------------------------


def test_palette_png_with_transparency_stays_a_palette_image(tmp_path):
    source = Image.open(PAGES / "baiona_colormapped.png")
    alpha = bytes(range(0, 256, 2)) + bytes(128)  # every entry a different opacity
    source.save(tmp_path / "trns.png", transparency=alpha)
    source = Image.open(tmp_path / "trns.png")
    pixels = extracted_pixels(build([tmp_path / "trns.png"], tmp_path))
    assert pixels.mode == "P"
    assert_same_pixels(pixels, on_white(source), tolerance=1)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_lossless_webp_keeps_its_pixels(tmp_path, mode):
    source = Image.open(PAGES / "baiona_alpha.png").convert(mode)
    source.save(tmp_path / "page.webp", lossless=True, exact=True)
    source = Image.open(tmp_path / "page.webp")
    pixels = extracted_pixels(build([tmp_path / "page.webp"], tmp_path))
    assert_same_pixels(pixels, on_white(source), tolerance=1 if mode == "RGBA" else 0)


def test_gif_keeps_its_first_frame(tmp_path):
    first = Image.open(PAGES / "baiona_colormapped.png")
    second = Image.new("P", first.size)
    first.save(tmp_path / "page.gif", save_all=True, append_images=[second])
    pixels = extracted_pixels(build([tmp_path / "page.gif"], tmp_path))
    assert pixels.mode == "P"
    assert_same_pixels(pixels, first)


def test_16_bit_png_is_embedded_at_16_bits(tmp_path):
    # img2pdf 0.6 embeds 16-bit PNGs without alpha as they are: nothing lost.
    samples = samples16(40 * 30 * 3)
    out = build([png16(tmp_path / "rgb16.png", 40, 30, 3, samples)], tmp_path)
    assert only_image(out) == (16, samples)


def test_16_bit_gray_png_is_embedded_at_16_bits(tmp_path):
    source = Image.new("I;16", (40, 30))
    source.putdata([(i * 7919) % 65536 for i in range(40 * 30)])
    source.save(tmp_path / "gray16.png")
    out = build([tmp_path / "gray16.png"], tmp_path)
    assert only_image(out) == (16, source.tobytes("raw", "I;16B"))


def test_16_bit_png_with_alpha_becomes_8_bit_on_white(tmp_path):
    path = png16(tmp_path / "rgba16.png", 40, 30, 4, samples16(40 * 30 * 4))
    with pytest.raises(img2pdf.AlphaChannelError):  # why the module steps in
        img2pdf.convert(path.read_bytes())
    pixels = extracted_pixels(build([path], tmp_path))
    assert pixels.mode == "RGB"
    # 16 → 8 bits is the one loss; the 8-bit pixels are what Pillow decodes.
    assert_same_pixels(pixels, on_white(Image.open(path)), tolerance=1)


def test_16_bit_tiff_that_img2pdf_refuses_is_converted_without_loss(tmp_path):
    source = Image.new("I;16", (40, 30))
    source.putdata([(i * 7919) % 65536 for i in range(40 * 30)])
    source.save(tmp_path / "gray16.tiff")
    with pytest.raises(ValueError, match="more than 8 bits"):
        img2pdf.convert((tmp_path / "gray16.tiff").read_bytes())
    out = build([tmp_path / "gray16.tiff"], tmp_path)
    assert only_image(out) == (16, source.tobytes("raw", "I;16B"))


# --- the document ---------------------------------------------------------------------


def test_pages_are_in_order_at_the_fixed_dpi(tmp_path):
    sizes = [(300, 450), (640, 682), (200, 100), (450, 300)]
    images = []
    for number, size in enumerate(sizes):
        images.append(tmp_path / f"{number}.png")
        Image.new("RGB", size, (number * 60, 0, 0)).save(images[-1], dpi=(72, 72))
    with pikepdf.open(build(images, tmp_path, dpi=150)) as pdf:
        assert len(pdf.pages) == len(sizes)
        for page, (width, height) in zip(pdf.pages, sizes, strict=True):
            assert [float(v) for v in page.mediabox] == pytest.approx(
                [0, 0, width * 72 / 150, height * 72 / 150]
            )
        assert [image.Width for image in page_images(pdf)] == [w for w, _h in sizes]


def test_metadata_goes_to_docinfo_and_xmp(tmp_path):
    metadata = ComicMetadata(
        title="Tintin in Tibet",
        author="Hergé, Bob de Moor",
        subject="Tintin #20",
        keywords="adventure, snow",
        language="fr",
    )
    pdf = pikepdf.open(build([PAGES / "baiona_color.jpg"], tmp_path, metadata=metadata))
    assert str(pdf.docinfo["/Title"]) == "Tintin in Tibet"
    assert str(pdf.docinfo["/Author"]) == "Hergé, Bob de Moor"
    assert str(pdf.docinfo["/Subject"]) == "Tintin #20"
    assert str(pdf.docinfo["/Keywords"]) == "adventure, snow"
    assert str(pdf.Root.Lang) == "fr"
    xmp = pdf.open_metadata()
    assert xmp["dc:title"] == "Tintin in Tibet"
    assert xmp["dc:creator"] == ["Hergé", "Bob de Moor"]
    assert xmp["dc:description"] == "Tintin #20"
    assert xmp["pdf:Keywords"] == "adventure, snow"
    assert xmp["dc:language"] == {"fr"}


def test_absent_metadata_fields_are_left_out(tmp_path):
    metadata = ComicMetadata(title="Only a title")
    pdf = pikepdf.open(build([PAGES / "baiona_color.jpg"], tmp_path, metadata=metadata))
    assert set(pdf.docinfo.keys()) == {"/Title"}
    assert "/Lang" not in pdf.Root
    assert "dc:creator" not in pdf.open_metadata()


def test_same_input_gives_the_same_bytes(tmp_path):
    images = [PAGES / "baiona_color.jpg", PAGES / "baiona_alpha.png"]
    first = build(images, tmp_path / "a", metadata=ComicMetadata(title="T"))
    second = build(images, tmp_path / "b", metadata=ComicMetadata(title="T"))
    assert first.read_bytes() == second.read_bytes()


def test_the_scratch_folder_is_left_clean(tmp_path):
    build([PAGES / "baiona_alpha.png", PAGES / "baiona_color.jpg"], tmp_path)
    assert list((tmp_path / "scratch").iterdir()) == []


# --- failures ---------------------------------------------------------------------------


def test_a_file_that_is_no_image_is_left_out_with_a_warning_naming_its_entry(tmp_path):
    text = tmp_path / "00002.jpg"
    text.write_text("this is not a picture")
    warnings: list[tuple[str, str]] = []
    out = tmp_path / "raw.pdf"
    pages = rawpdf.build_raw_pdf(
        [PAGES / "baiona_color.jpg", text], out, dpi=DPI, scratch=tmp_path / "scratch",
        entries=["p1.jpg", "ch1/page 2.jpg"], warn=lambda *w: warnings.append(w),
    )  # fmt: skip
    assert pages == 1
    assert warnings == [("ch1/page 2.jpg", "left out: is no image img2pdf or Pillow can read")]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_file_that_is_no_image_alone_raises_bad_image_naming_its_entry(tmp_path):
    text = tmp_path / "00001.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(BadImage) as caught:
        rawpdf.build_raw_pdf(
            [text], tmp_path / "raw.pdf", dpi=DPI, scratch=tmp_path / "scratch", entries=["p.jpg"]
        )
    assert str(caught.value) == "page 'p.jpg' is no image img2pdf or Pillow can read"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001.jpg", "scratch"]


def test_a_truncated_png_raises_bad_image(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes((PAGES / "baiona_alpha.png").read_bytes()[:5000])
    with pytest.raises(BadImage):
        build([broken], tmp_path)
    assert not (tmp_path / "raw.pdf").exists()


def test_a_failure_after_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_count(path):
        assert path.exists()  # the partial file is there when this fails
        raise InvalidPdf("simulated", path=path)

    monkeypatch.setattr(rawpdf, "_page_count", broken_count)
    with pytest.raises(InvalidPdf):
        build([PAGES / "baiona_color.jpg"], tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["scratch"]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_decompression_bomb_raises_image_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # the page has 436,480
    with pytest.raises(ImageTooLarge):
        build([PAGES / "baiona_color.jpg"], tmp_path)


def test_no_images_is_an_error(tmp_path):
    with pytest.raises(NoImages):
        build([], tmp_path)


def test_img2pdf_version():
    assert rawpdf.img2pdf_version() == img2pdf.__version__
