"""Prototype ocrmypdf plugin, for the benchmark only: rasterize a one-JPEG page cheaply.

ocrmypdf renders every page at the image's resolution, saves it as a PNG, then
Tesseract's downsampling reads that PNG, resizes it and saves it again: about
0.3 s of CPU per 1600x2400 page, as much as Tesseract itself. A page of
``raw.pdf`` is exactly one image drawn over the whole page, so for a JPEG the
same picture comes from decoding the JPEG at reduced size (libjpeg scales by
1/2, 1/4, 1/8 while decoding) and a fast PNG. The text layer lands in the same
place: the DPI of the smaller image says how it maps onto the page.

Used by bench/run.py as ``--plugin bench/jpeg_raster.py``; any other page
(several images, not JPEG, rotation, preview rendering) goes to ocrmypdf's own
rasterizer.
"""

import io

import pikepdf
from ocrmypdf import hookimpl
from PIL import Image

MODES = {"png16m": "RGB", "pnggray": "L"}


@hookimpl
def rasterize_pdf_page(
    input_file,
    output_file,
    raster_device,
    raster_dpi,
    pageno,
    page_dpi,
    rotation,
    filter_vector,
    stop_on_soft_error,
    options,
    use_cropbox,
):
    mode = MODES.get(str(raster_device).lower())
    if rotation or mode is None:
        return None
    jpeg, page_width = _only_jpeg(input_file, pageno)
    if jpeg is None:
        return None
    image = Image.open(io.BytesIO(jpeg))
    target = _target_size(image.size, _downsample_above(options))
    image.draft(mode, target)  # decodes at 1/2, 1/4 or 1/8 scale when that fits
    image = image.convert(mode)
    if image.size != target:
        image = image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    dpi = image.width / (page_width / 72)
    image.save(output_file, format="PNG", compress_level=1, dpi=(dpi, dpi))
    return output_file


def _only_jpeg(pdf_path, pageno):
    """The page's JPEG bytes and width in points, or (None, 0) if it is not one JPEG."""
    with pikepdf.open(pdf_path) as pdf:
        page = pdf.pages[pageno - 1]
        images = list(page.images.values())
        if len(images) != 1 or images[0].get("/Filter") != pikepdf.Name.DCTDecode:
            return None, 0
        box = page.mediabox
        return images[0].read_raw_bytes(), float(box[2] - box[0])


def _downsample_above(options) -> int:
    tesseract = getattr(options, "tesseract", None)
    return int(getattr(tesseract, "downsample_above", 0) or 0)


def _target_size(size: tuple[int, int], limit: int) -> tuple[int, int]:
    scale = min(1.0, limit / max(size)) if limit else 1.0
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
