"""Checks on an input before any work: size, signature, free disk."""

import shutil
from pathlib import Path

from comic2pdf.archive import detect_format
from comic2pdf.errors import DiskError, TooLarge

MB = 1024 * 1024


def check_input(path: Path, *, max_size_mb: float, disk_free_factor: float, work_dir: Path) -> str:
    """Return the archive format of *path*, or raise why it cannot be taken."""
    size = path.stat().st_size
    if size > max_size_mb * MB:
        raise TooLarge(f"{size / MB:.1f} MB is over MAX_INPUT_SIZE_MB={max_size_mb:g}", path=path)
    archive_format = detect_format(path)  # NotAnArchive by content, whatever the name
    check_free_disk(work_dir, needed=int(size * disk_free_factor), path=path)
    return archive_format


def check_free_disk(folder: Path, *, needed: int, path: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskError(
            f"{free / MB:.0f} MB free in {folder}, {needed / MB:.0f} MB needed"
            " (input size × DISK_FREE_FACTOR)",
            path=path,
        )
