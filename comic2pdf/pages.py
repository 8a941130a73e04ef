"""Which archive entries are pages, what kind of image each is, and their reading order.

Everything here is decided by content or by the entry path, never by the file
extension: comic archives are full of ``.jpg`` files that are PNGs and of scans
with no extension at all.
"""

import re
import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path

import pillow_heif
import pillow_jxl  # noqa: F401 - registers the JPEG XL plugin with Pillow
from PIL import Image, ImageOps, UnidentifiedImageError

from comic2pdf.errors import BadImage, ImageTooLarge

# Importing pillow_jxl registers its JPEG XL plugin; pillow_heif needs a call.
pillow_heif.register_heif_opener()

# Operating systems drop these next to real files; they are never pages.
_JUNK_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini"})

_DIGITS = re.compile(r"([0-9]+)")

# Pillow format name -> magic bytes at given offsets (all must match).
_SIGNATURES: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("JPEG", ((0, b"\xff\xd8\xff"),)),
    ("PNG", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("GIF", ((0, b"GIF87a"),)),
    ("GIF", ((0, b"GIF89a"),)),
    ("WEBP", ((0, b"RIFF"), (8, b"WEBP"))),
    ("JPEG2000", ((0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),)),
    ("JPEG2000", ((0, b"\xffO\xffQ"),)),
    ("TIFF", ((0, b"II*\x00"),)),
    ("TIFF", ((0, b"MM\x00*"),)),
)

# ISO base media files (AVIF, HEIC): "ftyp" at offset 4, then brands. Pillow reads
# AVIF itself; HEIF and JPEG XL need a plugin (pillow-heif, pillow-jxl-plugin).
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_JXL_MARKS = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")

# "BM" alone is too weak (a text file may start with it); a real BMP also has
# one of these DIB header sizes at offset 14.
_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

#: How many leading bytes :func:`sniff_format` needs.
SNIFF_BYTES = 64

#: Names that promise a page: such an entry is a page or named in a warning, never dropped silently.
PAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
     ".jp2", ".j2k", ".jpx", ".avif", ".heic", ".heif", ".jxl"}
)  # fmt: skip

_EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "JPEG2000": "jp2", "TIFF": "tif"}


def natural_key(parts: Sequence[str]) -> tuple:
    """Sort key for an entry path: case-insensitive, numbers by value, folder by folder.

    ``page 2`` sorts before ``page 10``, ``ch1/p9`` before ``ch1/p10`` and
    everything in ``ch1/`` before ``ch2/``.
    """
    return tuple(_component_key(part) for part in parts)


def _component_key(part: str) -> tuple:
    # Every run becomes a 3-tuple so digits and text compare without TypeError;
    # the raw digits break ties between "01" and "1".
    # NFC first: a Mac writes "é" as e + combining accent (NFD), Windows as one character.
    runs = _DIGITS.split(unicodedata.normalize("NFC", part).casefold())
    return tuple(
        (0, int(run), run) if index % 2 else (1, 0, run) for index, run in enumerate(runs) if run
    )


def is_junk(parts: Sequence[str]) -> bool:
    """True for OS clutter: ``__MACOSX/``, ``Thumbs.db``, ``desktop.ini``, hidden files."""
    return any(part.startswith(".") or part.casefold() in _JUNK_NAMES for part in parts)


def is_comicinfo(parts: Sequence[str]) -> bool:
    """True for a ``ComicInfo.xml`` in any folder, whatever its case."""
    return parts[-1].casefold() == "comicinfo.xml"


def looks_like_page(parts: Sequence[str]) -> bool:
    """True for an entry whose name promises an image (``.jpg``, ``.heic``…)."""
    return Path(parts[-1]).suffix.casefold() in PAGE_SUFFIXES


def is_cover(parts: Sequence[str]) -> bool:
    """True for a cover at the archive's root, which a reader shows first."""
    return len(parts) == 1 and "cover" in parts[0].casefold()


def sniff_format(head: bytes) -> str | None:
    """Return the Pillow format name the leading bytes announce, or None."""
    for name, marks in _SIGNATURES:
        if all(head[offset : offset + len(mark)] == mark for offset, mark in marks):
            return name
    if head.startswith(_JXL_MARKS):
        return "JXL"
    if head[4:8] == b"ftyp":
        return _iso_media_format(head)
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "BMP"
    return None


def _iso_media_format(head: bytes) -> str | None:
    box = head[8 : int.from_bytes(head[:4], "big")]  # major brand, version, compatible brands
    brands = {box[i : i + 4] for i in range(0, len(box), 4)}
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    return None


def extension_for(image_format: str) -> str:
    """File extension (without dot) for a Pillow format name."""
    return _EXTENSIONS.get(image_format, image_format.lower())


def identify_page(path: Path, *, max_pixels: int, entry: str, archive: Path) -> str | None:
    """Return the Pillow format of an extracted entry, or None if it is not an image.

    Only the header is read, never the pixels. Raises ``BadImage`` when the magic
    bytes promise an image Pillow cannot read, ``ImageTooLarge`` when the header
    announces more than ``max_pixels`` pixels.
    """
    with path.open("rb") as file:
        announced = sniff_format(file.read(SNIFF_BYTES))
    if announced is None:
        return None
    image_format, width, height = _read_header(path, announced, entry=entry, archive=archive)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"page {entry!r} is {width}x{height} pixels, over the limit of {max_pixels}",
            path=archive,
        )
    return image_format


def _read_header(path: Path, announced: str, *, entry: str, archive: Path) -> tuple[str, int, int]:
    try:
        with warnings.catch_warnings():
            # Pillow warns between its own limit and twice it; our limit is applied
            # by the caller, and nothing global in Pillow is changed.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=[announced]) as image:
                return image.format or announced, image.width, image.height
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"page {entry!r} is too large: {e}", path=archive) from e
    except UnidentifiedImageError as e:  # its message is the scratch path
        raise BadImage(
            f"page {entry!r} looks like {announced} but is unreadable", path=archive
        ) from e
    except (OSError, ValueError) as e:
        raise BadImage(
            f"page {entry!r} looks like {announced} but its header is unreadable: {e}",
            path=archive,
        ) from e


def split_frames(
    path: Path, *, max_frames: int, max_pixels: int, entry: str, archive: Path
) -> list[Path]:
    """The pages of a TIFF: ``path`` itself if it has one, else one file per page.

    Each page is saved as a single-page TIFF with lossless compression, turned
    upright by its own orientation tag (which is then gone), in place of ``path``.
    Raises ``ImageTooLarge`` for more than *max_frames* pages or a page over
    *max_pixels*.
    """
    with Image.open(path) as image:
        count = getattr(image, "n_frames", 1)
        if count == 1:
            return [path]
        if count > max_frames:
            raise ImageTooLarge(
                f"page {entry!r} is a TIFF of {count} pages, over the limit of {max_frames}",
                path=archive,
            )
        frames = []
        for index in range(count):
            image.seek(index)
            if image.width * image.height > max_pixels:
                raise ImageTooLarge(
                    f"page {index + 1} of {entry!r} is {image.width}x{image.height} pixels,"
                    f" over the limit of {max_pixels}",
                    path=archive,
                )
            frame = ImageOps.exif_transpose(image.copy())
            target = path.with_name(f"{path.name}-{index + 1:04d}")
            compression = "group4" if frame.mode == "1" else "tiff_lzw"
            frame.save(target, format="TIFF", compression=compression)
            frames.append(target)
    path.unlink()
    return frames
