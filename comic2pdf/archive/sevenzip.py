"""7z through py7zr, which pushes the data into writers we provide."""

from collections.abc import Iterator, Mapping
from pathlib import Path

import py7zr
from py7zr.io import Py7zIO, WriterFactory

from comic2pdf.archive.base import (
    DIRECTORY,
    FILE,
    PASSWORD_ADVICE,
    SYMLINK,
    Budget,
    Member,
    Sink,
    Target,
    unix_kind,
)
from comic2pdf.errors import EncryptedArchive


class SevenZipReader:
    """7z through py7zr, which pushes the data into writers we provide."""

    def __init__(self, archive: Path, *, max_bytes: int) -> None:
        # Passing an open file (not a path) keeps py7zr single-threaded, so the
        # writers see one entry at a time. max_extract_size makes py7zr count the
        # bytes it decompresses for entries we do not keep, too.
        self._file = archive.open("rb")
        try:
            self._7z = py7zr.SevenZipFile(self._file, max_extract_size=max_bytes)
        except BaseException:
            self._file.close()
            raise
        if self._7z.needs_password():
            self.close()
            raise EncryptedArchive(PASSWORD_ADVICE, path=archive)

    def members(self) -> Iterator[Member]:
        for index, entry in enumerate(self._7z.files):
            yield Member(
                index=index,
                name=entry.filename,
                kind=_7z_kind(entry),
                size=entry.uncompressed,
                # A solid block has one size: given for its first entry (lenient), None after.
                packed=entry.compressed,
            )

    def extract(self, targets: Mapping[int, Target], budget: Budget) -> None:
        names = [entry.filename for entry in self._7z.files]
        by_key: dict[str, Target] = {}
        for index, target in targets.items():
            by_key.setdefault(_7z_key(names[index]), target)
        wanted = [names[index] for index in targets]
        self._7z.extract(targets=wanted, factory=_SevenZipFactory(by_key, budget))

    def close(self) -> None:
        self._7z.close()
        self._file.close()


def _7z_kind(entry) -> str:
    if entry.is_symlink or entry.is_junction:
        return SYMLINK
    if entry.is_directory:
        return DIRECTORY
    return FILE if entry.st_fmt is None else unix_kind(entry.st_fmt)


def _7z_key(name: str) -> str:
    # py7zr hands writers the member name normalized like this (no "./", no "//").
    return "/".join(part for part in name.split("/") if part not in ("", "."))


class _SevenZipSink(Sink, Py7zIO):
    """A Sink with the extra methods py7zr expects of a writer."""

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.written


class _SevenZipFactory(WriterFactory):
    """Gives py7zr a writer per member name; names we did not ask for are counted and dropped."""

    def __init__(self, targets: dict[str, Target], budget: Budget) -> None:
        # py7zr renames a second member of the same name ("x_0"): it finds no target
        # here and is dropped, so only the first of duplicate names is extracted.
        self._targets = targets
        self._budget = budget

    def create(self, filename: str) -> Py7zIO:
        return _SevenZipSink(self._targets.pop(filename, None), self._budget)
