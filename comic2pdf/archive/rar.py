"""RAR 4, RAR 5 and solid RAR through the UnRAR library bundled in unrar2-cffi."""

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

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

from comic2pdf.archive.base import (
    DAMAGED_ADVICE,
    DIRECTORY,
    FILE,
    HARDLINK,
    PASSWORD_ADVICE,
    SYMLINK,
    Budget,
    Member,
    Sink,
    Target,
    unix_kind,
)
from comic2pdf.errors import ComicError, CorruptArchive, EncryptedArchive, TooLarge

# UnRAR (dll.hpp) codes; everything not listed means damaged or truncated.
_ERAR_END_ARCHIVE = 10
_RAR_ERRORS: dict[int, tuple[type[ComicError], str]] = {
    22: (EncryptedArchive, PASSWORD_ADVICE),  # ERAR_MISSING_PASSWORD
    24: (EncryptedArchive, PASSWORD_ADVICE),  # ERAR_BAD_PASSWORD
    25: (TooLarge, "needs a larger dictionary than UnRAR allows"),  # ERAR_LARGE_DICT
}
_RHDF_ENCRYPTED = 0x04
_RHDF_SOLID = 0x10  # this entry continues the previous entry's compressed data
_RAR_HOST_UNIX = 3
_REDIR_HARDLINKS = (4, 5)  # hard link, file copy; 1-3 are symlinks and junctions


def _rar_error(code: int, archive: Path) -> ComicError:
    error, message = _RAR_ERRORS.get(code, (CorruptArchive, DAMAGED_ADVICE))
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

    def extract(self, targets: Mapping[int, Target], budget: Budget) -> None:
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
        return unix_kind(header.headerDataEx.FileAttr)
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
