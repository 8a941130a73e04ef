"""ZIP through the standard library (stored, deflate, bzip2, lzma)."""

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from comic2pdf.archive.base import (
    DIRECTORY,
    FILE,
    SYMLINK,
    Budget,
    Member,
    Sink,
    Target,
    pump,
    unix_kind,
)

_ZIP_ENCRYPTED = 0x1
_ZIP_UNIX = 3
_WINDOWS_REPARSE_POINT = 0x400  # a Windows symlink or junction


class ZipReader:
    """ZIP through the standard library (stored, deflate, bzip2, lzma)."""

    def __init__(self, archive: Path) -> None:
        self._zip = zipfile.ZipFile(archive)

    def members(self) -> Iterator[Member]:
        for index, info in enumerate(self._zip.infolist()):
            yield Member(
                index=index,
                name=info.filename,
                kind=_zip_kind(info),
                size=info.file_size,
                packed=info.compress_size,
                encrypted=bool(info.flag_bits & _ZIP_ENCRYPTED),
            )

    def extract(self, targets: Mapping[int, Target], budget: Budget) -> None:
        infos = self._zip.infolist()
        for index, target in targets.items():
            with self._zip.open(infos[index]) as source, Sink(target, budget) as sink:
                pump(source, sink)

    def close(self) -> None:
        self._zip.close()


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.create_system == _ZIP_UNIX and info.external_attr >> 16:
        return unix_kind(info.external_attr >> 16)
    if info.external_attr & _WINDOWS_REPARSE_POINT:
        return SYMLINK
    return DIRECTORY if info.is_dir() else FILE
