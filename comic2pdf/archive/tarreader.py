"""Plain (uncompressed) tar through the standard library."""

import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from comic2pdf.archive.base import (
    DAMAGED_ADVICE,
    DEVICE,
    DIRECTORY,
    FILE,
    HARDLINK,
    SYMLINK,
    Budget,
    Member,
    Sink,
    Target,
    pump,
)
from comic2pdf.errors import CorruptArchive


class TarReader:
    """Plain (uncompressed) tar: ustar, GNU, pax and old-style."""

    def __init__(self, archive: Path) -> None:
        self._archive = archive
        self._size = archive.stat().st_size
        self._tar = tarfile.TarFile(archive)  # plain tar only: "r" never decompresses

    def members(self) -> Iterator[Member]:
        # Iterating reads headers one by one, so a huge tar stops at max_entries.
        for index, info in enumerate(self._tar):
            if not info.issparse() and info.offset_data + info.size > self._size:
                raise CorruptArchive(
                    f"{DAMAGED_ADVICE} (entry {info.name!r} is cut short)", path=self._archive
                )
            yield Member(
                index=index, name=info.name, kind=_tar_kind(info), size=info.size, packed=None
            )

    def extract(self, targets: Mapping[int, Target], budget: Budget) -> None:
        infos = self._tar.getmembers()
        for index, target in targets.items():
            source = self._tar.extractfile(infos[index])
            if source is None:  # not a regular file; _plan never picks these
                continue
            with source, Sink(target, budget) as sink:
                pump(source, sink)

    def close(self) -> None:
        self._tar.close()


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isdir():
        return DIRECTORY
    if info.issym():
        return SYMLINK
    if info.islnk():
        return HARDLINK
    if info.isdev():
        return DEVICE
    return FILE  # includes types tarfile does not know: it reads them as data
