"""Extract the pages of a comic archive safely: ZIP, RAR (4, 5, solid), 7z and tar.

Safe by construction: no library ever chooses where a file goes. Every entry is
read as a stream and written, in chunks, to a name we choose inside ``dest``
(``pages/00001.png``…), while a byte counter enforces the size budget. Entry
names are only ever compared and sorted, never used as paths; hostile ones
(absolute, ``..``, links, devices) make us refuse the whole archive before
anything is written.

Extraction takes two passes: the first lists the entries and decides (limits,
safety, which entries to keep, reading order; ``plan.py``), the second streams
the kept entries in archive order, which is the only cheap order for solid
archives. What a format provides is in ``base.py``; each format has its module.
"""

import contextlib
import logging
import shutil
from importlib.metadata import version
from pathlib import Path

from unrar.cffi import unrarlib

from comic2pdf.archive import sevenzip_tool
from comic2pdf.archive.base import (
    Budget,
    Extraction,
    ExtractLimits,
    Page,
    Reader,
    Skipped,
)
from comic2pdf.archive.detect import detect_format
from comic2pdf.archive.failures import library_errors
from comic2pdf.archive.plan import Plan, collect_pages, make_plan
from comic2pdf.archive.rar import RarReader
from comic2pdf.archive.sevenzip import SevenZipReader
from comic2pdf.archive.tarreader import TarReader
from comic2pdf.archive.zipreader import ZipReader
from comic2pdf.errors import CorruptArchive, NoImages, UnsupportedMethod

__all__ = [
    "ExtractLimits",
    "Extraction",
    "Page",
    "Skipped",
    "detect_format",
    "extract_pages",
    "extractor_versions",
]

log = logging.getLogger(__name__)


def extract_pages(archive: Path, dest: Path, *, limits: ExtractLimits) -> Extraction:
    """Extract the pages of ``archive`` into ``dest/pages/`` and ComicInfo.xml into ``dest``.

    Pages come back in reading order (a root cover first, then natural sort of
    the entry path); entries that looked like pages but are none come back in
    ``skipped`` with the reason. Raises ``NotAnArchive``, ``EncryptedArchive``,
    ``CorruptArchive``, ``UnsupportedMethod``, ``UnsafePath``, ``TooLarge``,
    ``ImageTooLarge`` or ``NoImages``. On failure ``dest`` may hold partial
    output; the caller owns and removes it.
    """
    kind = detect_format(archive)
    try:
        with library_errors(archive):
            plan = _extract(_open_reader(kind, archive, limits), archive, dest, limits=limits)
    except (UnsupportedMethod, CorruptArchive) as e:
        if kind not in ("zip", "7z") or not sevenzip_tool.available():
            raise
        # 7-Zip reads methods, filters and name flags our libraries do not; if it
        # cannot read the archive either, our own reason stands.
        log.info("%s: %s; trying 7-Zip", archive.name, e.message)
        shutil.rmtree(dest / "pages", ignore_errors=True)
        try:
            plan = _extract(sevenzip_tool.SevenZipToolReader(archive), archive, dest, limits=limits)
        except (CorruptArchive, UnsupportedMethod) as again:
            raise (again if isinstance(again, UnsupportedMethod) else e) from e
    found = collect_pages(plan, limits=limits, archive=archive)
    for skipped in plan.skipped:
        log.warning("%s: page skipped: %s", archive.name, skipped)
    if not found:
        detail = "; ".join(map(str, plan.skipped))
        raise NoImages(
            "the archive holds no page images" + (f" ({detail})" if detail else ""), path=archive
        )
    comicinfo = plan.comicinfo_path if plan.comicinfo is not None else None
    log.info("extracted %s pages from %s (%s archive)", len(found), archive.name, kind)
    return Extraction(pages=found, comicinfo=comicinfo, skipped=plan.skipped)


def _extract(reader: Reader, archive: Path, dest: Path, *, limits: ExtractLimits) -> Plan:
    """List, decide, stream: the two passes over one reader."""
    with contextlib.closing(reader):
        plan = make_plan(reader.members(), limits=limits, archive=archive, dest=dest)
        plan.pages_dir.mkdir(parents=True, exist_ok=True)
        reader.extract(plan.targets(), Budget(limits.max_total_bytes, archive))
    return plan


def extractor_versions() -> dict[str, str]:
    """Versions of the extraction libraries, for the job profile."""
    major, minor, patch = unrarlib.get_unrar_version()
    return {
        "unrar2-cffi": version("unrar2-cffi"),
        "unrar": f"{major}.{minor}.{patch}",
        "py7zr": version("py7zr"),
        "7zz": sevenzip_tool.version(),
    }


def _open_reader(kind: str, archive: Path, limits: ExtractLimits) -> Reader:
    if kind == "zip":
        return ZipReader(archive)
    if kind == "tar":
        return TarReader(archive)
    if kind == "7z":
        return SevenZipReader(archive, max_bytes=limits.max_total_bytes)
    return RarReader(archive)
