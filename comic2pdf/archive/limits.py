"""What makes an entry unacceptable: unsafe paths, links, encryption, bomb-like ratios.

The ratio limit knows real pages: a blank A4 BMP or an uncompressed PNG
compresses a thousand times in a zip. An entry over the ratio is extracted
only if its first bytes are such an image header whose pixels account for its
size; the total-bytes budget and the pixel limit hold for it as for any other.
"""

import re
from pathlib import Path

from comic2pdf.archive.base import (
    DEVICE,
    HARDLINK,
    PASSWORD_ADVICE,
    SYMLINK,
    ExtractLimits,
    Gate,
    Member,
)
from comic2pdf.errors import EncryptedArchive, TooLarge, UnsafePath
from comic2pdf.pages import sniff_format

# Entries smaller than this cannot hurt whatever their ratio, and small text or
# blank pages compress very well: the ratio limit only applies above it.
RATIO_FLOOR_BYTES = 1 << 20

#: Bytes per pixel an uncompressed page can need at most (16-bit RGBA), and slack for headers.
_MAX_BYTES_PER_PIXEL = 8
_HEADER_SLACK = 1 << 16

_DRIVE = re.compile(r"^[A-Za-z]:")


def checked_parts(member: Member, *, archive: Path) -> list[str]:
    """The entry's path components; raises if the entry makes the archive unacceptable."""
    name = member.name
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UnsafePath(f"entry {name!r} has an absolute path", path=archive)
    # Backslashes count as separators too: "..\\x" is a traversal on Windows.
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"entry {name!r} points outside the archive (..)", path=archive)
    if member.kind in (SYMLINK, HARDLINK, DEVICE):
        raise UnsafePath(f"entry {name!r} is a {member.kind}", path=archive)
    if member.encrypted:
        raise EncryptedArchive(f"entry {name!r} {PASSWORD_ADVICE}", path=archive)
    return parts


def ratio_gate(member: Member, *, limits: ExtractLimits, archive: Path) -> Gate | None:
    """None if the entry's ratio is harmless, else the check its first bytes must pass."""
    if member.size is None or member.packed is None or member.size < RATIO_FLOOR_BYTES:
        return None
    ratio = member.size / max(member.packed, 1)
    if ratio <= limits.max_ratio:
        return None
    refusal = TooLarge(
        f"entry {member.name!r} expands {ratio:.0f} times (limit {limits.max_ratio:g})"
        " and is not an uncompressed image: likely a decompression bomb"
        " (raise the limit only if the archive is genuine)",
        path=archive,
    )
    size = member.size

    def gate(head: bytes) -> None:
        if not _uncompressed_image(head, size=size, max_pixels=limits.max_image_pixels):
            raise refusal

    return gate


def _uncompressed_image(head: bytes, *, size: int, max_pixels: int) -> bool:
    """True if *head* starts an image format that is often stored uncompressed, of *size* bytes."""
    if size > max_pixels * _MAX_BYTES_PER_PIXEL + _HEADER_SLACK:
        return False
    kind = sniff_format(head)
    if kind == "TIFF":  # its dimensions may be anywhere in the file: the pixel limit follows
        return True
    dimensions = _dimensions(kind, head)
    if dimensions is None:
        return False
    width, height, bits = dimensions
    pixels = width * height
    return 0 < pixels <= max_pixels and size <= pixels * max(bits, 8) // 8 * 2 + _HEADER_SLACK


def _dimensions(kind: str | None, head: bytes) -> tuple[int, int, int] | None:
    """(width, height, bits per pixel) from a PNG or BMP header."""
    if kind == "PNG" and head[12:16] == b"IHDR":
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(head[25], 4)
        return width, height, head[24] * channels
    if kind == "BMP":
        if int.from_bytes(head[14:18], "little") == 12:  # OS/2 core header
            return _le(head, 18, 2), _le(head, 20, 2), _le(head, 24, 2)
        height = abs(int.from_bytes(head[22:26], "little", signed=True))
        return _le(head, 18, 4), height, _le(head, 28, 2)
    return None


def _le(head: bytes, offset: int, length: int) -> int:
    return int.from_bytes(head[offset : offset + length], "little")
