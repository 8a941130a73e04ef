"""Hostile and broken inputs, written on demand into a folder.

Each public function writes one file into ``folder`` and returns its path. Its
docstring names the reason code comic2pdf must refuse it with. Everything is
built in a fraction of a second: the bombs are a few megabytes on disk, and the
900-megapixel PNG is a hand-written header, never 900 MB of pixels.
"""

import functools
import io
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import py7zr
from PIL import Image

GIB = 1 << 30
MIB = 1 << 20


# --- building blocks ----------------------------------------------------------------


def tiny_png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid 8x8 RGB PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_jpeg() -> bytes:
    """A valid 8x8 RGB JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 200, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, followed by a tiny IDAT (not the pixels)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    """Write a zip with the given (name, data) entries exactly as named."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def write_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write a plain tar; a None body means a member without data (links, devices)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


# --- unsafe paths: reason "unsafe_path" -------------------------------------------------


def zip_dotdot(folder: Path) -> Path:
    """A zip entry ``../evil.png`` next to a normal page. Reason: unsafe_path."""
    return write_zip(folder / "dotdot.cbz", [("p1.png", tiny_png()), ("../evil.png", tiny_png())])


def tar_dotdot(folder: Path) -> Path:
    """A tar member ``pages/../../evil.png``. Reason: unsafe_path."""
    members = [
        (_tar_member("p1.png"), tiny_png()),
        (_tar_member("pages/../../evil.png"), tiny_png()),
    ]
    return write_tar(folder / "dotdot.cbt", members)


def zip_absolute(folder: Path) -> Path:
    """A zip entry ``/tmp/evil.png``. Reason: unsafe_path."""
    return write_zip(folder / "absolute.cbz", [("/tmp/evil.png", tiny_png())])


def tar_absolute(folder: Path) -> Path:
    """A tar member ``/tmp/evil.png``. Reason: unsafe_path."""
    return write_tar(folder / "absolute.cbt", [(_tar_member("/tmp/evil.png"), tiny_png())])


def zip_backslash(folder: Path) -> Path:
    """A zip entry ``pages\\..\\..\\evil.png`` (traversal on Windows). Reason: unsafe_path."""
    return write_zip(folder / "backslash.cbz", [("pages\\..\\..\\evil.png", tiny_png())])


def zip_drive_letter(folder: Path) -> Path:
    """A zip entry ``C:/Windows/evil.png``. Reason: unsafe_path."""
    return write_zip(folder / "drive.cbz", [("C:/Windows/evil.png", tiny_png())])


def zip_symlink(folder: Path) -> Path:
    """A zip entry stored as a Unix symlink to ``/etc/passwd``. Reason: unsafe_path."""
    link = zipfile.ZipInfo("link.png")
    link.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return write_zip(folder / "symlink.cbz", [("p1.png", tiny_png()), (link, b"/etc/passwd")])


def tar_symlink(folder: Path) -> Path:
    """A tar symlink ``up -> ..`` then ``up/pwned.png``. Reason: unsafe_path."""
    members = [
        (_tar_member("up", tarfile.SYMTYPE, ".."), None),
        (_tar_member("up/pwned.png"), tiny_png()),
    ]
    return write_tar(folder / "symlink.cbt", members)


def sevenzip_symlink(folder: Path) -> Path:
    """A 7z holding a symlink ``link.png`` to ``/etc/passwd``, as py7zr stores one.

    Reason: unsafe_path.
    """
    path = folder / "symlink.cb7"
    with tempfile.TemporaryDirectory() as scratch:
        # py7zr cannot mix writestr() members with a symlink: write real files.
        page, link = Path(scratch) / "p1.png", Path(scratch) / "link.png"
        page.write_bytes(tiny_png())
        link.symlink_to("/etc/passwd")
        with py7zr.SevenZipFile(path, "w") as archive:
            archive.write(page, "p1.png")
            archive.write(link, "link.png")
    return path


def tar_hardlink(folder: Path) -> Path:
    """A tar hard link ``p2.png`` to ``/etc/passwd``. Reason: unsafe_path."""
    members = [
        (_tar_member("p1.png"), tiny_png()),
        (_tar_member("p2.png", tarfile.LNKTYPE, "/etc/passwd"), None),
    ]
    return write_tar(folder / "hardlink.cbt", members)


def tar_device(folder: Path) -> Path:
    """A tar character device ``null``. Reason: unsafe_path."""
    members = [(_tar_member("p1.png"), tiny_png()), (_tar_member("null", tarfile.CHRTYPE), None)]
    return write_tar(folder / "device.cbt", members)


# --- bombs: reason "too_large" ----------------------------------------------------------


@functools.cache
def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """Raw deflate of ``size`` zero bytes (a multiple of 1 MiB) and their CRC-32, fast.

    After a full flush the compressor starts afresh, so one compressed MiB can be
    repeated instead of compressing gigabytes.
    """
    chunk = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(chunk, crc)
    return unit * (size // MIB) + compressor.flush(), crc


def _raw_zip(path: Path, name: str, data: bytes, *, crc: int, size: int, packed: int) -> Path:
    """A one-entry deflate zip with the sizes we say, true or not."""
    encoded = name.encode()
    fields = (20, 0, zlib.DEFLATED, 0, 0x21, crc, packed, size, len(encoded))
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded
    central = struct.pack("<4sH5H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, 0) + encoded
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0
    )
    path.write_bytes(local + data + central + end)
    return path


def zip_bomb(folder: Path, size: int = 2 * GIB) -> Path:
    """One entry of ``size`` zero bytes (default 2 GiB) in about 2 MB. Reason: too_large.

    Its header is honest, so the ratio check refuses it before anything is written;
    with the ratio check off the streaming byte counter must stop it.
    """
    data, crc = _deflated_zeros(size)
    return _raw_zip(folder / "bomb.cbz", "page.png", data, crc=crc, size=size, packed=len(data))


def zip_bomb_lying(folder: Path, size: int = 2 * GIB) -> Path:
    """Deflate data that inflates to ``size`` zeros, but a header that claims 1 MiB.

    The declared ratio looks harmless. zipfile never inflates past the declared size,
    so it stops after 1 MiB and the CRC check fails. Reason: corrupt.
    """
    data, crc = _deflated_zeros(size)
    return _raw_zip(folder / "lying.cbz", "page.png", data, crc=crc, size=MIB, packed=len(data))


def tar_sparse_bomb(folder: Path, size: int = 2 * GIB) -> Path:
    """A 10 KB tar whose sparse member reads back as ``size`` bytes. Reason: too_large.

    The 12-byte data is stored once; a GNU sparse map (pax 0.1) declares the rest a
    hole. Tar has no compression ratio, so only the streaming byte counter sees it.
    """
    info = _tar_member("page.png")
    info.pax_headers = {"GNU.sparse.map": "0,12", "GNU.sparse.realsize": str(size)}
    return write_tar(folder / "sparse.cbt", [(info, b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d")])


def zip_many_entries(folder: Path, count: int = 50) -> Path:
    """A zip with ``count`` small pages. Reason: too_large when max_entries < count."""
    entries = [(f"p{number:03d}.png", tiny_png()) for number in range(count)]
    return write_zip(folder / "many.cbz", entries)


# --- bad pages ------------------------------------------------------------------------------


def zip_huge_png(folder: Path) -> Path:
    """A page whose PNG header claims 30000x30000 (900 megapixels). Reason: image_too_large."""
    return write_zip(
        folder / "huge.cbz", [("p1.png", tiny_png()), ("p2.png", png_header(30000, 30000))]
    )


def zip_bad_png(folder: Path) -> Path:
    """A page with a PNG signature and garbage after it: skipped with a warning naming p2.png."""
    garbage = b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8
    return write_zip(folder / "badpng.cbz", [("p1.png", tiny_png()), ("p2.png", garbage)])


# --- broken or not archives ---------------------------------------------------------------------


def truncated_copy(folder: Path, source: Path) -> Path:
    """The first half of ``source`` (any archive, e.g. a RAR fixture). Reason: corrupt."""
    return _first_half(folder / f"truncated-{source.name}", source.read_bytes())


def truncated_zip(folder: Path) -> Path:
    """A zip of three pages cut in half. Reason: corrupt."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(3):
            archive.writestr(f"p{number}.png", tiny_png((number * 80, 10, 10)))
    return _first_half(folder / "truncated.cbz", buffer.getvalue())


def truncated_7z(folder: Path) -> Path:
    """A 7z of three pages cut in half. Reason: corrupt."""
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for number in range(3):
            archive.writestr(tiny_png((number * 80, 10, 10)), f"p{number}.png")
    return _first_half(folder / "truncated.cb7", buffer.getvalue())


def _first_half(path: Path, data: bytes) -> Path:
    path.write_bytes(data[: len(data) // 2])
    return path


def empty_file(folder: Path) -> Path:
    """A zero-byte ``.cbz``. Reason: not_an_archive."""
    path = folder / "empty.cbz"
    path.write_bytes(b"")
    return path


def text_as_cbz(folder: Path) -> Path:
    """A text file renamed ``.cbz``. Reason: not_an_archive."""
    path = folder / "text.cbz"
    path.write_text("This is not a comic.\n" * 40)
    return path


def pdf_as_cbr(folder: Path) -> Path:
    """A PDF renamed ``.cbr``. Reason: not_an_archive."""
    path = folder / "document.cbr"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    return path


def zip_without_images(folder: Path) -> Path:
    """A zip holding only a text file. Reason: no_images."""
    return write_zip(folder / "noimages.cbz", [("readme.txt", b"no pages here\n")])
