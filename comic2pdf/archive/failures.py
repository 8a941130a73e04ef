"""What zipfile, tarfile and py7zr raise on bad input, turned into our errors.

Messages say what is wrong with the file and what to do; the library's own
text (py7zr's runs to hundreds of characters of internals) goes to the log.
"""

import contextlib
import errno
import logging
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import py7zr.exceptions

from comic2pdf.archive.base import DAMAGED_ADVICE, PASSWORD_ADVICE
from comic2pdf.errors import (
    ComicError,
    CorruptArchive,
    EncryptedArchive,
    TooLarge,
    UnsupportedMethod,
)

log = logging.getLogger(__name__)

# Order matters: the first matching class wins (py7zr's bomb error is an ArchiveError).
_LIBRARY_ERRORS: tuple[tuple[tuple[type[BaseException], ...], type[ComicError], str], ...] = (
    ((py7zr.exceptions.PasswordRequired,), EncryptedArchive, PASSWORD_ADVICE),
    ((py7zr.exceptions.DecompressionBombError,), TooLarge, "extracts to too many bytes"),
    (
        (py7zr.exceptions.UnsupportedCompressionMethodError, NotImplementedError),
        UnsupportedMethod,
        "uses a compression method or filter we cannot read",
    ),
    (
        (
            zipfile.BadZipFile,
            tarfile.TarError,
            py7zr.exceptions.ArchiveError,
            EOFError,
            zlib.error,
            lzma.LZMAError,
            struct.error,
        ),
        CorruptArchive,
        DAMAGED_ADVICE,
    ),
)
MAPPED: tuple[type[BaseException], ...] = (
    *(cls for classes, _, _ in _LIBRARY_ERRORS for cls in classes),
    OSError,
)


def translate(error: BaseException, archive: Path) -> ComicError | None:
    """Our error for a library's exception, or None if it is not a known input error."""
    if not isinstance(error, OSError):
        for classes, ours, message in _LIBRARY_ERRORS:
            if isinstance(error, classes):
                log.info("%s: %s: %s", archive.name, type(error).__name__, error)
                return ours(message, path=archive)
    # bz2 reports bad data as OSError without errno, and zipfile seeks to the
    # negative offset a damaged directory gives (EINVAL); a real I/O error
    # (disk full…) has another errno and must keep its meaning.
    if isinstance(error, OSError) and error.errno in (None, errno.EINVAL):
        log.info("%s: %s", archive.name, error)
        return CorruptArchive(DAMAGED_ADVICE, path=archive)
    return None


@contextlib.contextmanager
def library_errors(archive: Path) -> Iterator[None]:
    """Raise our error for what the archive libraries raise on bad input."""
    try:
        yield
    except MAPPED as e:
        ours = translate(e, archive)
        if ours is None:
            raise
        raise ours from e
