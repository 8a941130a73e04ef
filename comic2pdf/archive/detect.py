"""Which archive format a file is, judged by its content, never its extension."""

import zipfile
from pathlib import Path

from comic2pdf.errors import NotAnArchive

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),  # an empty zip: valid, and will have no images
    (0, b"Rar!\x1a\x07\x00", "rar"),
    (0, b"Rar!\x1a\x07\x01\x00", "rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (257, b"ustar", "tar"),  # POSIX "ustar\0" and GNU "ustar  "
)

_TAR_BLOCK = 512

#: Formats nested inside a comic, by their leading bytes (tar is not sniffed: too costly).
NESTED_MAGIC = tuple((magic, name) for offset, magic, name in _MAGIC if offset == 0)


def detect_format(path: Path) -> str:
    """Return 'zip', 'rar', '7z' or 'tar' from the file's magic bytes, never its extension.

    A self-extracting zip (a program with the zip appended) is a zip: its
    central directory, found from the end of the file, says so. Raises
    ``NotAnArchive`` for anything else (empty file, text, PDF…).
    """
    with path.open("rb") as file:
        head = file.read(_TAR_BLOCK)
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if _is_old_tar(head):
        return "tar"
    if head and zipfile.is_zipfile(path):
        return "zip"
    raise NotAnArchive("not a ZIP, RAR, 7z or tar archive (judged by content)", path=path)


def nested_format(head: bytes) -> str | None:
    """The archive format an entry's first bytes announce, or None."""
    for magic, name in NESTED_MAGIC:
        if head.startswith(magic):
            return name
    return None


def _is_old_tar(head: bytes) -> bool:
    """Pre-POSIX tar has no magic; a header whose own checksum adds up is one."""
    if len(head) < _TAR_BLOCK or head[0] == 0:
        return False
    field = head[148:156].rstrip(b"\x00 ")
    if not field or not set(field) <= set(b"01234567"):
        return False
    # The checksum is computed with its own 8 bytes counted as spaces.
    unsigned = sum(head[:148]) + sum(head[156:_TAR_BLOCK]) + 8 * ord(" ")
    return int(field, 8) == unsigned
