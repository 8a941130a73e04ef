"""Archives our libraries cannot read, streamed through 7-Zip (``7zz``), names still ours.

7-Zip reads ZIP entries stored with Deflate64, PPMd, XZ or Zstandard, 7z
archives with the ARM64 filter and zips whose names carry the UTF-8 flag only
in the central directory. It never writes a file here: ``7zz l -slt`` lists the
entries (our limits and safety checks see them like any other format's), and
``7zz x -so`` streams every file's data to stdout, in archive order, one after
the other. We cut that stream at the listed sizes into the files we name,
counting every byte against the budget; 7-Zip checks each entry's CRC.
"""

import logging
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from comic2pdf import proc
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
from comic2pdf.errors import CorruptArchive, EncryptedArchive, MissingTool, UnsupportedMethod

log = logging.getLogger(__name__)

PROGRAM = "7zz"
#: Listing and streaming a comic takes seconds; this only stops a hung 7-Zip.
TIMEOUT_SECONDS = 600.0
# -ba: bare listing; -sccUTF-8: names in UTF-8; -p: no password (a prompt would hang).
_OPTIONS = ("-ba", "-sccUTF-8", "-p", "-bd")
_BANNER = re.compile(r"^7-Zip (?:\(\w+\) )?(\S+)")
_MODE_CHARS = {"d": 0o040000, "l": 0o120000, "-": 0o100000, "c": 0o020000, "b": 0o060000,
               "p": 0o010000, "s": 0o140000}  # fmt: skip


def available() -> bool:
    """True if 7-Zip is installed."""
    return shutil.which(PROGRAM) is not None


def version() -> str:
    """7-Zip's version from its banner ("7-Zip (z) 26.02 (x64) …"), or "absent"."""
    if not available():
        return "absent"
    lines: list[str] = []
    proc.run([PROGRAM], timeout=30, on_stdout_line=lines.append)
    found = next((_BANNER.search(line) for line in lines if _BANNER.search(line)), None)
    return found[1] if found else "unknown"


class SevenZipToolReader:
    """Any archive 7-Zip opens, listed and streamed by the ``7zz`` program."""

    def __init__(self, archive: Path) -> None:
        if not available():
            raise MissingTool(f"{PROGRAM} (7-Zip) is not installed: apt-get install 7zip")
        self._archive = archive
        self._members: list[Member] = []
        self._methods: dict[int, str] = {}

    def members(self) -> Iterator[Member]:
        lines: list[str] = []
        done = proc.run(
            [PROGRAM, "l", "-slt", *_OPTIONS, "--", self._archive],
            timeout=TIMEOUT_SECONDS,
            on_stdout_line=lines.append,
        )
        if done.returncode != 0:
            raise self._failure(done.stderr_tail)
        for index, fields in enumerate(_records(lines)):
            member = _member(index, fields)
            self._methods[index] = fields.get("Method", "?")
            self._members.append(member)
            yield member

    def extract(self, targets: Mapping[int, Target], budget: Budget) -> None:
        # Directories produce no data; every other entry's bytes come in order.
        files = [member for member in self._members if member.kind != DIRECTORY]
        splitter = _Splitter(files, targets, budget, self._archive)
        done = proc.stream(
            [PROGRAM, "x", "-so", *_OPTIONS, "--", self._archive],
            timeout=TIMEOUT_SECONDS,
            on_chunk=splitter.write,
        )
        if done.returncode != 0:
            raise self._failure(done.stderr_tail)
        splitter.finish()

    def close(self) -> None:
        return None

    def _failure(self, stderr: str) -> Exception:
        text = stderr.casefold()
        if "wrong password" in text or "can not open encrypted" in text:
            return EncryptedArchive(PASSWORD_ADVICE, path=self._archive)
        if "unsupported method" in text:
            methods = ", ".join(sorted(set(self._methods.values()))) or "unknown"
            return UnsupportedMethod(
                f"uses a compression method 7-Zip cannot read either ({methods})",
                path=self._archive,
            )
        log.info("%s: 7-Zip: %s", self._archive.name, stderr)
        return CorruptArchive(DAMAGED_ADVICE, path=self._archive)


class _Splitter:
    """Cuts 7-Zip's concatenated output into one Sink per entry, at the listed sizes."""

    def __init__(
        self, files: list[Member], targets: Mapping[int, Target], budget: Budget, archive: Path
    ) -> None:
        self._archive = archive
        self._queue = [(member, targets.get(member.index)) for member in files]
        self._queue.reverse()
        self._budget = budget
        self._sink: Sink | None = None
        self._left = 0

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._sink is None:
                self._next()
            if self._sink is None:  # more data than the listing announced
                raise CorruptArchive(
                    f"{DAMAGED_ADVICE} (more data than its entries declare)", path=self._archive
                )
            part, view = view[: self._left], view[self._left :]
            self._sink.write(bytes(part))
            self._left -= len(part)
            if self._left == 0:
                self._sink.close()
                self._sink = None

    def _next(self) -> None:
        while self._queue:
            member, target = self._queue.pop()
            self._sink = Sink(target, self._budget)
            self._left = member.size or 0
            if self._left:
                return
            self._sink.close()  # an empty entry
        self._sink = None

    def finish(self) -> None:
        if self._sink is not None or any(member.size for member, _ in self._queue):
            raise CorruptArchive(f"{DAMAGED_ADVICE} (an entry is cut short)", path=self._archive)
        while self._queue:  # trailing empty entries
            member, target = self._queue.pop()
            Sink(target, self._budget).close()


def _records(lines: list[str]) -> Iterator[dict[str, str]]:
    """``Key = value`` blocks separated by blank lines, one per entry."""
    fields: dict[str, str] = {}
    for line in [*lines, ""]:
        key, sep, value = line.partition(" = ")
        if sep:
            fields[key] = value
        elif not line.strip() and fields:
            yield fields
            fields = {}


def _member(index: int, fields: dict[str, str]) -> Member:
    return Member(
        index=index,
        name=fields.get("Path", ""),
        kind=_kind(fields),
        size=_number(fields.get("Size")),
        packed=_number(fields.get("Packed Size")),
        encrypted=fields.get("Encrypted") == "+",
    )


def _kind(fields: dict[str, str]) -> str:
    if fields.get("Folder") == "+":
        return DIRECTORY
    if fields.get("Symbolic Link"):
        return SYMLINK
    if fields.get("Hard Link"):
        return HARDLINK
    # "A -rw-r--r--": Windows flags, then the Unix mode when the archive has one.
    attributes = fields.get("Attributes", "").split()
    if attributes and attributes[-1][:1] in _MODE_CHARS and len(attributes[-1]) == 10:
        return unix_kind(_MODE_CHARS[attributes[-1][0]])
    if attributes and "D" in attributes[0] and not attributes[0].startswith("-"):
        return DIRECTORY
    return FILE


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None
