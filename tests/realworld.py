"""Odd but genuine comic archives and pages, built on the fly (issue #14).

Each builder makes what real collections hold: scanner TIFFs, phone photos
with EXIF orientation, web rips in AVIF/HEIC/JPEG XL, damaged JPEGs that
viewers still show, archives written by 7-Zip with methods Python's zipfile
does not know. Tools: Pillow (with pillow-heif and pillow-jxl-plugin), zipfile,
and the ``7zz`` and ``zstd`` programs.
"""

import io
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

from PIL import Image

#: Quadrant colours of :func:`quadrants`: top-left, top-right, bottom-left, bottom-right.
QUADRANT_COLOURS = ((220, 20, 20), (20, 180, 20), (20, 20, 220), (240, 240, 240))


def quadrants(width: int = 64, height: int = 48) -> Image.Image:
    """An RGB image of four flat quadrants: any turn or mirror shows in its corners."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    boxes = ((0, 0), (half_w, 0), (0, half_h), (half_w, half_h))
    for (x, y), colour in zip(boxes, QUADRANT_COLOURS, strict=True):
        image.paste(colour, (x, y, x + half_w, y + half_h))
    return image


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def jpeg_with_orientation(orientation: int) -> bytes:
    """A quadrant JPEG whose EXIF says how to show it (1-8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(quadrants(), "JPEG", quality=95, exif=exif)


def tiff_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(quadrants(), "TIFF", compression="tiff_lzw", exif=exif)


def multipage_tiff(count: int = 3) -> bytes:
    frames = [Image.new("L", (40, 30), 60 * n) for n in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def damaged_jpegs() -> dict[str, bytes]:
    """JPEGs viewers show but Pillow cannot decode completely, and one it can."""
    good = encoded(quadrants(256, 192), "JPEG", quality=90)
    middle = len(good) // 2
    return {
        "no-eoi.jpg": good[:-2],
        "truncated.jpg": good[: len(good) * 2 // 3],
        "corrupt-scan.jpg": good[:middle] + bytes(40) + good[middle + 40 :],
    }


def nested_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        inner.writestr("inner.png", encoded(quadrants(), "PNG"))
    return buffer.getvalue()


def blank_bmp(width: int = 2480, height: int = 3508) -> bytes:
    """A blank 300-dpi A4 page as a 24-bit BMP: 26 MB that deflate to 25 KB."""
    return encoded(Image.new("RGB", (width, height), "white"), "BMP")


def uncompressed_png(width: int = 1200, height: int = 1600) -> bytes:
    return encoded(Image.new("L", (width, height), 255), "PNG", compress_level=0)


# --- archives ------------------------------------------------------------------------


def write_zip(path: Path, entries: list[tuple[str, bytes]], *, method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def sevenzip(path: Path, files: dict[str, bytes], *options: str) -> Path:
    """An archive written by 7-Zip itself (``7zz a``) from *files*, with its *options*."""
    source = path.with_name(path.name + ".src")
    source.mkdir()
    for name, data in files.items():
        (source / name).write_bytes(data)
    subprocess.run(
        ["7zz", "a", *options, str(path), *files], cwd=source, check=True, capture_output=True
    )
    return path


def raw_zip(path: Path, entries: list[tuple[str, bytes]], *, method: int, compress) -> Path:
    """A zip whose entries are compressed by *compress* and labelled with *method*."""
    local, central = b"", b""
    for name, data in entries:
        packed, encoded_name, crc = compress(data), name.encode(), zlib.crc32(data)
        fields = (63, 0, method, 0, 0x21, crc, len(packed), len(data), len(encoded_name))
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0)
        central += struct.pack(
            "<4sH5H3L5H2L", b"PK\x01\x02", 63, *fields, 0, 0, 0, 0, 0, len(local)
        )
        central += encoded_name
        local += header + encoded_name + packed
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(local), 0
    )
    path.write_bytes(local + central + end)
    return path


def zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


def utf8_flag_only_in_central_directory(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    """A zip whose local headers lack the UTF-8 flag its central directory has (old tools)."""
    data = bytearray(write_zip(path, entries).read_bytes())
    offset = 0
    while (offset := data.find(b"PK\x03\x04", offset)) >= 0:
        flags = struct.unpack_from("<H", data, offset + 6)[0]
        struct.pack_into("<H", data, offset + 6, flags & ~0x800)
        offset += 4
    path.write_bytes(bytes(data))
    return path
