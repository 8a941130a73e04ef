"""The rasterizer plugin (JPEG and PNG pages), on raw.pdf pages, ocrmypdf's options, real OCR."""

import random
import re
import subprocess
from pathlib import Path

import pikepdf
import pytest
from ocrmypdf.cli import get_options_and_plugins
from ocrmypdf.helpers import Resolution
from PIL import Image, ImageCms

from comic2pdf.jobkey import build_profile, profile_sha256
from comic2pdf.ocr import OcrOptions, ocrmypdf_args, run_ocr
from comic2pdf.ocr import raster as ocr_raster
from comic2pdf.rawpdf import build_raw_pdf
from comic2pdf.samples import JPEG_QUALITY, draw_page
from tests.fakes import REAL_TESSERACT, path_with

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
CMYK_JPEG = FIXTURES / "pages" / "baiona_cmyk.jpg"
COMICS_DEV = Path(__file__).resolve().parents[2] / "shared" / "comics-dev"
DPI = 300  # raw.pdf's resolution (OCR_DPI)
BOX_TOLERANCE_PT = 2.0  # the same words' boxes differed by up to 1.4 pt


def sample_page(folder: Path, size: tuple[int, int], *, fmt: str = "JPEG", seed: int = 0) -> Path:
    """A comic page with balloons of known words, saved as a JPEG or PNG."""
    image, _ = draw_page(random.Random(seed), size)
    path = folder / f"page-{size[0]}x{size[1]}-{seed}.{fmt.lower()}"
    image.save(path, format=fmt, quality=JPEG_QUALITY)
    return path


def raw_pdf(folder: Path, images: list[Path]) -> Path:
    """raw.pdf as the prep task builds it."""
    out = folder / "raw.pdf"
    build_raw_pdf(images, out, dpi=DPI, scratch=folder / "scratch")
    return out


def ocrmypdf_options(raw: Path, *extra: str, **changes: object):
    """ocrmypdf's options and plugin manager, parsed from our own command line.

    OCR_MODE=page with a 1200 px limit: the downsampling these tests are about is
    off by default, and never used in comic mode.
    """
    changes = {"mode": "page", "downsample_above": 1200, **changes}
    args = ocrmypdf_args(raw, raw.with_name("final.pdf"), raw.with_name("final.txt"),
                         OcrOptions(**changes))  # fmt: skip
    return get_options_and_plugins(args=[*args[:-2], *extra, *args[-2:]])


def raster_call(raw: Path, options, /, **changes: object) -> dict[str, object]:
    """The arguments ocrmypdf passes to rasterize a raw.pdf page for OCR."""
    return {
        "input_file": raw, "output_file": raw.with_name("raster.png"),
        "raster_device": "png16m", "raster_dpi": Resolution(DPI, DPI), "pageno": 1,
        "page_dpi": Resolution(DPI, DPI), "rotation": 0, "filter_vector": False,
        "stop_on_soft_error": True, "options": options, "use_cropbox": False,
    } | changes  # fmt: skip


def opened(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    with Image.open(path) as image:
        image.load()
        return image


def rasterize(raw: Path, *extra: str, fast_raster: bool = True, **changes: object):
    options, _ = ocrmypdf_options(raw, *extra, fast_raster=fast_raster)
    return opened(ocr_raster.rasterize_pdf_page(**raster_call(raw, options, **changes)))


# --- what the plugin writes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected", "dpi"),
    [
        ((1600, 2400), (800, 1200), 150),  # libjpeg decodes at 1/2 scale, nothing to resize
        ((1300, 1950), (797, 1196), 184),  # a whole DPI, so the image is sized for 184
        ((2400, 1600), (1200, 800), 150),  # landscape: the long side is the width
        ((600, 900), (600, 900), 300),  # already small: full size, its own DPI
    ],
)
def test_jpeg_page_becomes_tesseract_sized_png(tmp_path, size, expected, dpi):
    image = rasterize(raw_pdf(tmp_path, [sample_page(tmp_path, size)]))
    assert image.format == "PNG" and image.mode == "RGB"
    assert image.size == expected
    assert round(image.info["dpi"][0]) == round(image.info["dpi"][1]) == dpi
    # pixels x 72 / DPI is the page size within half a pixel: the text layer fits the page.
    for pixels, page_pixels in zip(image.size, size, strict=True):
        assert abs(pixels / dpi - page_pixels / DPI) <= 0.5 / dpi


def test_without_downsampling_the_page_keeps_its_size(tmp_path):
    raw = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400))])
    options, _ = ocrmypdf_options(raw, downsample_above=0)
    image = opened(ocr_raster.rasterize_pdf_page(**raster_call(raw, options)))
    assert image.size == (1600, 2400)
    assert round(image.info["dpi"][0]) == DPI


@pytest.mark.parametrize(("device", "mode"), [("pnggray", "L"), ("png16m", "RGB")])
def test_gray_jpeg_gives_the_device_mode(tmp_path, device, mode):
    gray = tmp_path / "gray.jpg"
    Image.open(sample_page(tmp_path, (1600, 2400))).convert("L").save(gray, quality=90)
    image = rasterize(raw_pdf(tmp_path, [gray]), raster_device=device)
    assert image.mode == mode and image.size == (800, 1200)
    if mode == "RGB":  # gray to RGB repeats the value: no tint
        red, green, blue = image.split()
        assert red.tobytes() == green.tobytes() == blue.tobytes()


def test_comic_engine_gets_the_gray_it_would_make_from_the_rgb_raster(tmp_path):
    """The comic engine reads pages in gray: the plugin writes that gray, the same pixels."""
    raw = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400))])
    page, _ = ocrmypdf_options(raw, downsample_above=0)
    rgb = opened(ocr_raster.rasterize_pdf_page(**raster_call(raw, page)))
    comic, _ = ocrmypdf_options(raw, mode="comic", downsample_above=0)
    gray = opened(ocr_raster.rasterize_pdf_page(**raster_call(raw, comic)))
    assert rgb is not None and gray is not None
    assert rgb.mode == "RGB" and gray.mode == "L" and gray.size == rgb.size == (1600, 2400)
    assert gray.tobytes() == rgb.convert("L").tobytes()
    assert gray.info["dpi"] == rgb.info["dpi"]
    # --ocr-engine tesseract: ocrmypdf's own engine reads the raster, as ocrmypdf asked it.
    builtin, _ = ocrmypdf_options(raw, "--ocr-engine", "tesseract", mode="comic")
    asked = opened(ocr_raster.rasterize_pdf_page(**raster_call(raw, builtin)))
    assert asked is not None and asked.mode == "RGB"


def test_ocrmypdf_calls_the_plugin_before_its_own_rasterizer(tmp_path):
    raw = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400))])
    sizes = {}
    for fast in (True, False):
        options, plugins = ocrmypdf_options(raw, fast_raster=fast)
        sizes[fast] = opened(plugins.rasterize_pdf_page(**raster_call(raw, options))).size
    assert sizes == {True: (800, 1200), False: (1600, 2400)}


def test_the_plugin_is_part_of_the_job_profile():
    """Tesseract sees other pixels with it: switching it must give new job keys."""
    digests = {
        fast: profile_sha256(build_profile(ocr=OcrOptions(fast_raster=fast).profile(), dpi=DPI,
                                           versions={}))
        for fast in (True, False)
    }  # fmt: skip
    assert digests[True] != digests[False]


# --- pages and options it leaves to ocrmypdf ---------------------------------------------


def test_png_page_becomes_tesseract_sized_png_of_its_own_samples(tmp_path):
    png = sample_page(tmp_path, (1600, 2400), fmt="PNG")
    image = rasterize(raw_pdf(tmp_path, [png]))
    assert image.size == (800, 1200) and round(image.info["dpi"][0]) == 150
    expected = Image.open(png).convert("RGB").resize((800, 1200), Image.Resampling.BICUBIC)
    assert image.tobytes() == expected.tobytes()


def test_icc_profiled_gray_png_keeps_its_samples(tmp_path):
    """xkcd's strip: a gray PNG with an ICC profile and gamma. Rendered with them, its
    lettering came out lighter and comic mode lost 3 of the strip's 59 words."""
    strip = COMICS_DEV / "pages" / "xkcd-0327.png"
    raw = raw_pdf(tmp_path, [strip])
    with pikepdf.open(raw) as pdf:
        assert page_image(pdf).ColorSpace[0] == pikepdf.Name.ICCBased
    image = rasterize(raw, raster_device="pnggray")
    assert image.tobytes() == Image.open(strip).convert("L").tobytes()


def test_palette_png_falls_back(tmp_path):
    palette = tmp_path / "palette.png"
    Image.open(sample_page(tmp_path, (1600, 2400))).quantize(16).save(palette)
    assert rasterize(raw_pdf(tmp_path, [palette])) is None


def test_cmyk_jpeg_falls_back(tmp_path):
    assert rasterize(raw_pdf(tmp_path, [CMYK_JPEG])) is None


def test_rotated_pages_fall_back(tmp_path):
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: img2pdf writes /Rotate 90
    Image.open(sample_page(tmp_path, (1600, 2400))).save(turned, quality=90, exif=exif)
    raw = raw_pdf(tmp_path, [turned])
    with pikepdf.open(raw) as pdf:
        assert pdf.pages[0].obj.Rotate == 90
    assert rasterize(raw) is None
    upright = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400))])
    assert rasterize(upright, rotation=90) is None  # ocrmypdf's orientation correction


def test_page_with_two_images_falls_back(tmp_path):
    raw = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400), seed=s) for s in (1, 2)])
    with pikepdf.open(raw, allow_overwriting_input=True) as pdf:
        pdf.pages[0].add_overlay(pdf.pages[1], pikepdf.Rectangle(0, 0, 100, 150))
        del pdf.pages[1]
        pdf.save(raw)
    assert rasterize(raw) is None


def test_icc_profiled_jpeg_is_decoded(tmp_path):
    """Many exported comics carry an ICC profile; its colour shift does not change words."""
    profiled = tmp_path / "profiled.jpg"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.open(sample_page(tmp_path, (1600, 2400))).save(profiled, quality=90, icc_profile=srgb)
    raw = raw_pdf(tmp_path, [profiled])
    with pikepdf.open(raw) as pdf:
        assert page_image(pdf).ColorSpace[0] == pikepdf.Name.ICCBased
    assert rasterize(raw).size == (800, 1200)


@pytest.mark.parametrize(
    "damage",
    [
        lambda image: image.write(image.read_raw_bytes()[:5000], filter=pikepdf.Name.DCTDecode),
        lambda image: setattr(image, "ColorSpace", pikepdf.Name.DeviceGray),  # says gray, is RGB
        lambda image: setattr(image, "Decode", pikepdf.Array([1, 0, 1, 0, 1, 0])),  # inverted
    ],
    ids=["truncated", "wrong-colour-space", "decode-array"],
)
def test_jpeg_not_as_the_pdf_says_falls_back(tmp_path, damage):
    raw = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400))])
    with pikepdf.open(raw, allow_overwriting_input=True) as pdf:
        damage(page_image(pdf))
        pdf.save(raw)
    assert rasterize(raw) is None


def page_image(pdf: pikepdf.Pdf) -> pikepdf.Stream:
    (image,) = pdf.pages[0].get_images().values()
    return image


@pytest.mark.parametrize(
    ("extra", "changes"),
    [
        (["--deskew"], {}),  # the raster becomes the visible page
        (["--rasterizer", "ghostscript"], {}),  # the user's choice of rasterizer
        ([], {"raster_dpi": Resolution(600, 600)}),  # --oversample 600
        ([], {"raster_device": "jpeggray"}),  # the preview for --rotate-pages
        ([], {"options": None}),
    ],
)
def test_options_it_cannot_honour_fall_back(tmp_path, extra, changes):
    raw = raw_pdf(tmp_path, [sample_page(tmp_path, (1600, 2400))])
    assert rasterize(raw, *extra, **changes) is None


# --- real OCR, plugin on and off ---------------------------------------------------------


def recording_tesseract(folder: Path, images: Path) -> Path:
    """A ``tesseract`` that copies each image it is given into *images*, then runs."""
    folder.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    script = folder / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do case "$arg" in *.png) '
        f'cp "$arg" "{images}/$$.png";; esac; done\n'
        f'exec {REAL_TESSERACT} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def word_boxes(pdf: Path) -> list[list[tuple[str, tuple[float, ...]]]]:
    """Each page's words with their boxes in points, from ``pdftotext -bbox``."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = html.split("<page ")[1:]
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<'
    return [
        [(word, tuple(map(float, box))) for *box, word in re.findall(pattern, page)]
        for page in pages
    ]


def seen_by_tesseract(images: Path) -> set[tuple[int, int, int]]:
    result = set()
    for path in images.iterdir():
        with Image.open(path) as image:
            result.add((*image.size, round(image.info["dpi"][0])))
    return result


@pytest.mark.slow
def test_same_words_and_boxes_with_and_without_the_plugin(tmp_path, monkeypatch):
    shapes = [((1600, 2400), 6), ((1300, 1950), 3)]  # 9 balloon words each
    pages = [sample_page(tmp_path, size, seed=seed) for size, seed in shapes]
    truth = [set(draw_page(random.Random(seed), size)[1]) for size, seed in shapes]
    raw = raw_pdf(tmp_path, pages)
    results = {}
    for fast in (True, False):
        seen = tmp_path / f"seen-{fast}"
        monkeypatch.setenv("PATH", path_with(recording_tesseract(tmp_path / f"bin-{fast}", seen)))
        final = tmp_path / f"final-{fast}.pdf"
        options = OcrOptions(jobs=2, fast_raster=fast, mode="page", downsample_above=1200)
        run_ocr(raw, final, options=options, pages=2, timeout=300)
        # Tesseract also reads a few letters into the drawn shapes; those may differ.
        results[fast] = [
            [(word, box) for word, box in page if word.lower() in words]
            for page, words in zip(word_boxes(final), truth, strict=True)
        ]
        if fast:
            assert seen_by_tesseract(seen) == {(800, 1200, 150), (797, 1196, 184)}
            assert page_jpegs(final) == [page.read_bytes() for page in pages]
    fast, default = results[True], results[False]
    assert [[w for w, _ in page] for page in fast] == [[w for w, _ in page] for page in default]
    assert sum(map(len, fast)) >= 15
    for fast_page, default_page in zip(fast, default, strict=True):
        for (_, box), (_, other) in zip(fast_page, default_page, strict=True):
            assert max(abs(a - b) for a, b in zip(box, other, strict=True)) <= BOX_TOLERANCE_PT


def page_jpegs(pdf_path: Path) -> list[bytes]:
    """The image data of each page, as stored in the PDF."""
    with pikepdf.open(pdf_path) as pdf:
        return [next(iter(page.get_images().values())).read_raw_bytes() for page in pdf.pages]
