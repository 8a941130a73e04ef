"""What every archive format provides: members, the byte budget and the sinks data goes to."""

import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from comic2pdf.errors import TooLarge

CHUNK_SIZE = 1 << 20

PASSWORD_ADVICE = "is password-protected: remove the password and drop the file again"
DAMAGED_ADVICE = "is damaged or truncated: download or create it again"


@dataclass(frozen=True)
class ExtractLimits:
    """Limits that make a hostile archive fail fast instead of filling the disk."""

    max_total_bytes: int  # total extracted bytes, counted while streaming
    max_entries: int  # entries in the archive
    max_ratio: float  # uncompressed/compressed of one entry, when the format tells sizes
    max_image_pixels: int  # width*height of one page, read from the image header


@dataclass(frozen=True)
class Page:
    """One extracted page."""

    entry: str  # the path inside the archive, as the archive names it
    path: Path  # the extracted file, inside dest
    format: str  # Pillow format name of the content


@dataclass(frozen=True)
class Skipped:
    """An entry that looked like a page and is not one of the PDF, with why."""

    entry: str
    reason: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.reason}"


@dataclass(frozen=True)
class Extraction:
    """What :func:`comic2pdf.archive.extract_pages` produced."""

    pages: list[Page]  # reading order
    comicinfo: Path | None  # extracted ComicInfo.xml, if the archive has one
    skipped: list[Skipped] = field(default_factory=list)  # archive order


FILE, DIRECTORY, SYMLINK, HARDLINK, DEVICE = "file", "directory", "symlink", "hard link", "device"


@dataclass(frozen=True)
class Member:
    """One archive entry as its format describes it, before we trust anything."""

    index: int  # position in the archive, the key readers extract by
    name: str
    kind: str  # FILE, DIRECTORY, SYMLINK, HARDLINK or DEVICE
    size: int | None  # declared uncompressed size
    packed: int | None  # declared compressed size, when the format has one per entry
    encrypted: bool = False


#: Called with an entry's first bytes before any of them is written; raises to refuse it.
Gate = Callable[[bytes], None]


@dataclass(frozen=True)
class Target:
    """Where one member's data goes, and the check its first bytes must pass."""

    path: Path
    gate: Gate | None = None


class Reader(Protocol):
    """A format: list its members, then stream some of them into files we name."""

    def members(self) -> Iterator[Member]: ...

    def extract(self, targets: Mapping[int, Target], budget: "Budget") -> None: ...

    def close(self) -> None: ...


class Budget:
    """The bytes an archive may still produce; every decompressed byte is spent here."""

    def __init__(self, limit: int, archive: Path) -> None:
        self.limit = limit
        self.left = limit
        self._archive = archive

    def spend(self, count: int) -> None:
        """Account for ``count`` more bytes, or raise ``TooLarge`` before they are written."""
        self.left -= count
        if self.left < 0:
            raise TooLarge(
                f"extracts to more than {self.limit} bytes: likely a decompression bomb"
                " (raise the limit only if the archive is genuine)",
                path=self._archive,
            )


#: Bytes a gate sees at once: enough for any image header we read.
GATE_BYTES = 64


class Sink:
    """Receives one entry's data in chunks; writes it to the target or, if None, drops it."""

    def __init__(self, target: Target | None, budget: Budget) -> None:
        self._budget = budget
        self._gate = target.gate if target is not None else None
        self._held = b""  # first bytes, kept until the gate has seen enough
        self._path = target.path if target is not None else None
        self._file: BinaryIO | None = None
        self.written = 0

    def write(self, chunk: bytes | bytearray) -> int:
        self._budget.spend(len(chunk))
        self.written += len(chunk)
        if self._gate is not None:
            self._held += bytes(chunk)
            if len(self._held) < GATE_BYTES:
                return len(chunk)
            chunk, self._held = self._release(), b""
        self._store(chunk)
        return len(chunk)

    def _store(self, chunk: bytes | bytearray) -> None:
        # Opened on the first byte that passed the gate: a refused entry leaves no file.
        if self._path is None:
            return
        if self._file is None:
            self._file = self._path.open("wb")
        self._file.write(chunk)

    def _release(self) -> bytes:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate(self._held)
        return self._held

    def close(self) -> None:
        if self._gate is not None and self._held:
            self._store(self._release())  # a short entry: the gate still decides
        if self._file is None and self._path is not None:
            self._path.touch()  # an empty entry is still a file we were asked for
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        elif self._file is not None:  # failing already: write nothing more
            self._file.close()


def pump(source, sink: Sink) -> None:
    """Copy a readable stream into *sink* in chunks."""
    while chunk := source.read(CHUNK_SIZE):
        sink.write(chunk)


def unix_kind(mode: int) -> str:
    """The member kind a Unix mode describes."""
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISDIR(mode):
        return DIRECTORY
    if stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0:
        return FILE
    return DEVICE
