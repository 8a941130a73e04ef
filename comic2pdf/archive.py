"""Extract the pages of a comic archive safely: ZIP, RAR (4, 5, solid), 7z and tar.

Safe by construction: no library ever chooses where a file goes. Every entry is
read as a stream and written, in chunks, to a name we choose inside ``dest``
(``pages/00001.png``…), while a byte counter enforces the size budget. Entry
names are only ever compared and sorted, never used as paths; hostile ones
(absolute, ``..``, links, devices) make us refuse the whole archive before
anything is written.

Extraction takes two passes: the first lists the entries and decides (limits,
safety, which entries to keep, reading order), the second streams the kept
entries in archive order, which is the only cheap order for solid archives.
"""

import contextlib
import errno
import logging
import lzma
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import py7zr
import py7zr.exceptions
from py7zr.io import Py7zIO, WriterFactory
from unrar.cffi import unrarlib
from unrar.cffi.unrarlib import (
    C_RAR_TEST,
    FLAGS_RHDF_DIRECTORY,
    FLAGS_SUCCESS,
    UCM_PROCESSDATA,
    PyUNRARCALLBACKStub,
    RARProcessFileW,
    RARReadHeaderEx,
    RARSetCallbackPtr,
    ffi,
)

from comic2pdf import pages
from comic2pdf.errors import (
    ComicError,
    CorruptArchive,
    EncryptedArchive,
    NoImages,
    NotAnArchive,
    TooLarge,
    UnsafePath,
)

__all__ = [
    "ExtractLimits",
    "Extraction",
    "Page",
    "detect_format",
    "extract_pages",
    "extractor_versions",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20

# Entries smaller than this cannot hurt whatever their ratio, and small text or
# blank pages compress very well: the ratio limit only applies above it.
RATIO_FLOOR_BYTES = 1 << 20

_PASSWORD_ADVICE = "is password-protected: remove the password and drop the file again"
_DAMAGED_ADVICE = "is damaged or truncated: download or create it again"


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
class Extraction:
    """What :func:`extract_pages` produced."""

    pages: list[Page]  # reading order
    comicinfo: Path | None  # extracted ComicInfo.xml, if the archive has one


# --- what every format reader provides -----------------------------------------

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


class Reader(Protocol):
    """A format: list its members, then stream some of them into files we name."""

    def members(self) -> Iterator[Member]: ...

    def extract(self, targets: Mapping[int, Path], budget: "Budget") -> None: ...

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


class Sink:
    """Receives one entry's data in chunks; writes it to ``target`` or, if None, drops it."""

    def __init__(self, target: Path | None, budget: Budget) -> None:
        self._budget = budget
        self._file = target.open("wb") if target is not None else None
        self.written = 0

    def write(self, chunk: bytes | bytearray) -> int:
        self._budget.spend(len(chunk))
        if self._file is not None:
            self._file.write(chunk)
        self.written += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _pump(source, sink: Sink) -> None:
    while chunk := source.read(CHUNK_SIZE):
        sink.write(chunk)


def _unix_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISDIR(mode):
        return DIRECTORY
    if stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0:
        return FILE
    return DEVICE


# --- detection -----------------------------------------------------------------

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),  # an empty zip: valid, and will have no images
    (0, b"Rar!\x1a\x07\x00", "rar"),
    (0, b"Rar!\x1a\x07\x01\x00", "rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (257, b"ustar", "tar"),  # POSIX "ustar\0" and GNU "ustar  "
)

_TAR_BLOCK = 512


def detect_format(path: Path) -> str:
    """Return 'zip', 'rar', '7z' or 'tar' from the file's magic bytes, never its extension.

    Raises ``NotAnArchive`` for anything else (empty file, text, PDF…).
    """
    with path.open("rb") as file:
        head = file.read(_TAR_BLOCK)
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if _is_old_tar(head):
        return "tar"
    raise NotAnArchive("not a ZIP, RAR, 7z or tar archive (judged by content)", path=path)


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


# --- the public entry points -----------------------------------------------------


def extract_pages(archive: Path, dest: Path, *, limits: ExtractLimits) -> Extraction:
    """Extract the pages of ``archive`` into ``dest/pages/`` and ComicInfo.xml into ``dest``.

    Pages come back in reading order (natural sort of the entry path). Raises
    ``NotAnArchive``, ``EncryptedArchive``, ``CorruptArchive``, ``UnsafePath``,
    ``TooLarge``, ``ImageTooLarge``, ``BadImage`` or ``NoImages``. On failure
    ``dest`` may hold partial output; the caller owns and removes it.
    """
    kind = detect_format(archive)
    with (
        _library_errors(archive),
        contextlib.closing(_open_reader(kind, archive, limits)) as reader,
    ):
        plan = _plan(reader.members(), limits=limits, archive=archive, dest=dest)
        plan.pages_dir.mkdir(parents=True, exist_ok=True)
        reader.extract(plan.targets(), Budget(limits.max_total_bytes, archive))
    found = _collect_pages(plan, limits=limits, archive=archive)
    if not found:
        raise NoImages("the archive holds no page images", path=archive)
    comicinfo = plan.comicinfo_path if plan.comicinfo is not None else None
    log.info("extracted %s pages from %s (%s archive)", len(found), archive.name, kind)
    return Extraction(pages=found, comicinfo=comicinfo)


def extractor_versions() -> dict[str, str]:
    """Versions of the extraction libraries, for the job profile."""
    major, minor, patch = unrarlib.get_unrar_version()
    return {
        "unrar2-cffi": version("unrar2-cffi"),
        "unrar": f"{major}.{minor}.{patch}",
        "py7zr": version("py7zr"),
    }


def _open_reader(kind: str, archive: Path, limits: ExtractLimits) -> Reader:
    if kind == "zip":
        return ZipReader(archive)
    if kind == "tar":
        return TarReader(archive)
    if kind == "7z":
        return SevenZipReader(archive, max_bytes=limits.max_total_bytes)
    return RarReader(archive)


# --- pass 1: decide ------------------------------------------------------------------


@dataclass
class _Plan:
    dest: Path
    pages: list[Member]  # reading order
    comicinfo: Member | None

    @property
    def pages_dir(self) -> Path:
        return self.dest / "pages"

    @property
    def comicinfo_path(self) -> Path:
        return self.dest / "ComicInfo.xml"

    def page_path(self, number: int) -> Path:
        # No extension yet: the content decides it once the file is there.
        return self.pages_dir / f"{number:05d}"

    def targets(self) -> dict[int, Path]:
        """Member index -> file to write, in archive order."""
        chosen = {member.index: self.page_path(n) for n, member in enumerate(self.pages, 1)}
        if self.comicinfo is not None:
            chosen[self.comicinfo.index] = self.comicinfo_path
        return dict(sorted(chosen.items()))


def _plan(members: Iterator[Member], *, limits: ExtractLimits, archive: Path, dest: Path) -> _Plan:
    candidates: list[tuple[list[str], Member]] = []
    infos: list[tuple[list[str], Member]] = []
    for count, member in enumerate(members, 1):
        if count > limits.max_entries:
            raise TooLarge(
                f"has more than {limits.max_entries} entries"
                " (raise the limit only if the archive is genuine)",
                path=archive,
            )
        parts = _checked_parts(member, limits=limits, archive=archive)
        if member.kind == DIRECTORY or not parts or member.size == 0 or pages.is_junk(parts):
            log.debug("skipping %r", member.name)
            continue
        (infos if pages.is_comicinfo(parts) else candidates).append((parts, member))
    # sorted() is stable: entries with equal keys keep their archive order.
    ordered = sorted(candidates, key=lambda item: pages.natural_key(item[0]))
    comicinfo = min(
        infos, key=lambda item: (len(item[0]), pages.natural_key(item[0])), default=None
    )
    return _Plan(dest, [member for _, member in ordered], comicinfo and comicinfo[1])


_DRIVE = re.compile(r"^[A-Za-z]:")


def _checked_parts(member: Member, *, limits: ExtractLimits, archive: Path) -> list[str]:
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
        raise EncryptedArchive(f"entry {name!r} {_PASSWORD_ADVICE}", path=archive)
    _check_ratio(member, limits=limits, archive=archive)
    return parts


def _check_ratio(member: Member, *, limits: ExtractLimits, archive: Path) -> None:
    if member.size is None or member.packed is None or member.size < RATIO_FLOOR_BYTES:
        return
    ratio = member.size / max(member.packed, 1)
    if ratio > limits.max_ratio:
        raise TooLarge(
            f"entry {member.name!r} expands {ratio:.0f} times (limit {limits.max_ratio:g}):"
            " likely a decompression bomb (raise the limit only if the archive is genuine)",
            path=archive,
        )


# --- after pass 2: keep the images -------------------------------------------------


def _collect_pages(plan: _Plan, *, limits: ExtractLimits, archive: Path) -> list[Page]:
    found: list[Page] = []
    for number, member in enumerate(plan.pages, 1):
        path = plan.page_path(number)
        image_format = _identify(path, member, limits=limits, archive=archive)
        if image_format is None:
            continue
        # Renumber so the kept pages are 00001, 00002… with no gaps; the new names
        # have an extension, so they never collide with a not-yet-checked file.
        final = plan.page_path(len(found) + 1).with_suffix("." + pages.extension_for(image_format))
        path.replace(final)
        found.append(Page(entry=member.name, path=final, format=image_format))
    return found


def _identify(path: Path, member: Member, *, limits: ExtractLimits, archive: Path) -> str | None:
    """The page's image format, or None (and the file removed) if it is no image."""
    if not path.exists():
        # Only a 7z with two entries of the same name gets here (see _SevenZipFactory).
        log.warning("entry %r of %s was not extracted; skipped", member.name, archive.name)
        return None
    image_format = pages.identify_page(
        path, max_pixels=limits.max_image_pixels, entry=member.name, archive=archive
    )
    if image_format is None:
        log.debug("entry %r is not an image; skipped", member.name)
        path.unlink()
    return image_format


# --- library errors -> our errors ------------------------------------------------------

# Order matters: the first matching class wins (py7zr's bomb error is an ArchiveError).
_LIBRARY_ERRORS: tuple[tuple[tuple[type[BaseException], ...], type[ComicError], str], ...] = (
    ((py7zr.exceptions.PasswordRequired,), EncryptedArchive, _PASSWORD_ADVICE),
    ((py7zr.exceptions.DecompressionBombError,), TooLarge, "extracts to too many bytes"),
    (
        (py7zr.exceptions.UnsupportedCompressionMethodError, NotImplementedError),
        CorruptArchive,
        "uses a compression method we cannot read (e.g. deflate64)",
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
        _DAMAGED_ADVICE,
    ),
)
_MAPPED = tuple(cls for classes, _, _ in _LIBRARY_ERRORS for cls in classes)


@contextlib.contextmanager
def _library_errors(archive: Path) -> Iterator[None]:
    """Turn what zipfile, tarfile and py7zr raise on bad input into our errors."""
    try:
        yield
    except _MAPPED as e:
        for classes, error, message in _LIBRARY_ERRORS:
            if isinstance(e, classes):
                raise error(f"{message} ({e})", path=archive) from e
        raise  # unreachable: _MAPPED is built from the table
    except OSError as e:
        # bz2 reports bad data as OSError without errno, and zipfile seeks to the
        # negative offset a damaged directory gives (EINVAL); a real I/O error
        # (disk full…) has another errno and must keep its meaning.
        if e.errno not in (None, errno.EINVAL):
            raise
        raise CorruptArchive(f"{_DAMAGED_ADVICE} ({e})", path=archive) from e


# --- ZIP -------------------------------------------------------------------------------

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

    def extract(self, targets: Mapping[int, Path], budget: Budget) -> None:
        infos = self._zip.infolist()
        for index, target in targets.items():
            with self._zip.open(infos[index]) as source, Sink(target, budget) as sink:
                _pump(source, sink)

    def close(self) -> None:
        self._zip.close()


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.create_system == _ZIP_UNIX and info.external_attr >> 16:
        return _unix_kind(info.external_attr >> 16)
    if info.external_attr & _WINDOWS_REPARSE_POINT:
        return SYMLINK
    return DIRECTORY if info.is_dir() else FILE


# --- tar -------------------------------------------------------------------------------


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
                    f"{_DAMAGED_ADVICE} (entry {info.name!r} is cut short)", path=self._archive
                )
            yield Member(
                index=index, name=info.name, kind=_tar_kind(info), size=info.size, packed=None
            )

    def extract(self, targets: Mapping[int, Path], budget: Budget) -> None:
        infos = self._tar.getmembers()
        for index, target in targets.items():
            source = self._tar.extractfile(infos[index])
            if source is None:  # not a regular file; _plan never picks these
                continue
            with source, Sink(target, budget) as sink:
                _pump(source, sink)

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


# --- 7z --------------------------------------------------------------------------------


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
            raise EncryptedArchive(_PASSWORD_ADVICE, path=archive)

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

    def extract(self, targets: Mapping[int, Path], budget: Budget) -> None:
        names = [entry.filename for entry in self._7z.files]
        by_key: dict[str, Path] = {}
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
    return FILE if entry.st_fmt is None else _unix_kind(entry.st_fmt)


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

    def __init__(self, targets: dict[str, Path], budget: Budget) -> None:
        # py7zr renames a second member of the same name ("x_0"): it finds no target
        # here and is dropped, so only the first of duplicate names is extracted.
        self._targets = targets
        self._budget = budget

    def create(self, filename: str) -> Py7zIO:
        return _SevenZipSink(self._targets.pop(filename, None), self._budget)


# --- RAR -------------------------------------------------------------------------------

# UnRAR (dll.hpp) codes; everything not listed means damaged or truncated.
_ERAR_END_ARCHIVE = 10
_RAR_ERRORS: dict[int, tuple[type[ComicError], str]] = {
    22: (EncryptedArchive, _PASSWORD_ADVICE),  # ERAR_MISSING_PASSWORD
    24: (EncryptedArchive, _PASSWORD_ADVICE),  # ERAR_BAD_PASSWORD
    25: (TooLarge, "needs a larger dictionary than UnRAR allows"),  # ERAR_LARGE_DICT
}
_RHDF_ENCRYPTED = 0x04
_RHDF_SOLID = 0x10  # this entry continues the previous entry's compressed data
_RAR_HOST_UNIX = 3
_REDIR_HARDLINKS = (4, 5)  # hard link, file copy; 1-3 are symlinks and junctions


def _rar_error(code: int, archive: Path) -> ComicError:
    error, message = _RAR_ERRORS.get(code, (CorruptArchive, _DAMAGED_ADVICE))
    return error(f"{message} (UnRAR error {code})", path=archive)


class RarReader:
    """RAR 4, RAR 5 and solid RAR through the UnRAR library bundled in unrar2-cffi.

    unrar2-cffi's own ``RarFile`` hides UnRAR's return codes (an encrypted-header
    archive simply lists no files) and reads each member by re-scanning the
    archive into memory, so we drive its low-level binding ourselves.
    """

    def __init__(self, archive: Path) -> None:
        self._archive = archive
        self._solid = False

    def members(self) -> Iterator[Member]:
        with _open_rar(self._archive, unrarlib.RarArchive.open_for_metadata) as rar:
            for index, header in enumerate(_rar_headers(rar, self._archive)):
                self._solid = self._solid or bool(header.Flags & _RHDF_SOLID)
                yield _rar_member(index, header)
                header.skip()

    def extract(self, targets: Mapping[int, Path], budget: Budget) -> None:
        with _open_rar(self._archive, unrarlib.RarArchive.open_for_processing) as rar:
            for index, header in enumerate(_rar_headers(rar, self._archive)):
                target = targets.get(index)
                if header.Flags & FLAGS_RHDF_DIRECTORY or (target is None and not self._solid):
                    header.skip()
                    continue
                # In a solid archive skipping still decompresses, so every entry
                # goes through a Sink to be counted (and dropped if not wanted).
                with Sink(target, budget) as sink:
                    _rar_unpack(rar.handle, sink, self._archive)

    def close(self) -> None:
        return None


@contextlib.contextmanager
def _open_rar(archive: Path, opener) -> Iterator[unrarlib.RarArchive]:
    try:
        rar = opener(archive)
    except unrarlib.BadRarFile as e:
        raise _rar_error(e.code, archive) from e
    with rar:
        yield rar


def _rar_headers(rar: unrarlib.RarArchive, archive: Path) -> Iterator[unrarlib.RarHeader]:
    # unrar2-cffi's iterate_headers() stops silently on any error; we need the code.
    while True:
        data = unrarlib.RARHeaderDataEx()
        code = RARReadHeaderEx(rar.handle, data)
        if code == _ERAR_END_ARCHIVE:
            return
        if code != FLAGS_SUCCESS:
            raise _rar_error(code, archive)
        yield unrarlib.RarHeader(rar, data)


def _rar_member(index: int, header: unrarlib.RarHeader) -> Member:
    solid = header.Flags & _RHDF_SOLID
    return Member(
        index=index,
        name=header.FileNameW,
        kind=_rar_kind(header),
        size=header.UnpSize + (header.UnpSizeHigh << 32),
        packed=None if solid else header.PackSize + (header.PackSizeHigh << 32),
        encrypted=bool(header.Flags & _RHDF_ENCRYPTED),
    )


def _rar_kind(header: unrarlib.RarHeader) -> str:
    redirect = header.headerDataEx.RedirType
    if redirect:
        return HARDLINK if redirect in _REDIR_HARDLINKS else SYMLINK
    if header.Flags & FLAGS_RHDF_DIRECTORY:
        return DIRECTORY
    if header.HostOS == _RAR_HOST_UNIX:
        return _unix_kind(header.headerDataEx.FileAttr)
    return FILE


def _rar_unpack(handle, sink: Sink, archive: Path) -> None:
    """Decompress the current entry; UnRAR pushes its data through a callback into sink."""
    failures: list[Exception] = []

    def on_message(message: int, address: int, length: int) -> int:
        if message != UCM_PROCESSDATA:
            return -1  # UnRAR asks for a password or the next volume: we have neither
        try:
            sink.write(ffi.buffer(ffi.cast("char *", address), length)[:])
        except Exception as e:
            # Deliberately broad: an exception must not cross into C, where cffi
            # would only print it and let UnRAR go on. -1 stops UnRAR; we re-raise.
            failures.append(e)
            return -1
        return 1

    user_data = ffi.new_handle(on_message)  # must stay alive while UnRAR runs
    RARSetCallbackPtr(handle, PyUNRARCALLBACKStub, user_data)
    try:
        code = RARProcessFileW(handle, C_RAR_TEST, ffi.NULL, ffi.NULL)
    finally:
        RARSetCallbackPtr(handle, ffi.NULL, ffi.NULL)
    if failures:
        raise failures[0]
    if code != FLAGS_SUCCESS:
        raise _rar_error(code, archive)
