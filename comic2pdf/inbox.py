"""The watch folder: which files to take, how to claim them, who owns a claim.

A claim is an atomic rename of ``in/<name>`` to ``work/incoming/<id>/<name>``:
of two scans racing for a file, exactly one rename succeeds. Ownership of a
claim is an exclusive ``flock`` on ``work/incoming/<id>/.lock`` held for the
whole conversion. The kernel drops the lock when its process dies, even by
kill -9, so the next scan can tell an orphaned claim (lock free) from one in
progress (lock held) and take the orphan over.
"""

import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from comic2pdf.duplicates import strip_timestamp
from comic2pdf.publish import fit_name, place_file, remove_tree, write_atomically
from comic2pdf.settings import Settings

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload")
LOCK_NAME = ".lock"
#: A claim folder younger than this may still be waiting for its file (not an orphan yet).
CLAIM_GRACE_SECONDS = 1.0


def ensure_layout(settings: Settings) -> None:
    """Create the data directory's folders (SPEC "Data directory")."""
    for folder in (
        settings.in_dir,
        settings.out_dir,
        settings.incoming_dir,
        settings.archive_dir,
        settings.error_dir,
        settings.hold_dir,
        settings.reports_dir,
        settings.index_dir,
    ):
        folder.mkdir(parents=True, exist_ok=True)


def is_ignored(name: str) -> bool:
    """Names still being written by a browser or a copy tool, and hidden files."""
    return name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES)


def stable_files(in_dir: Path, *, stable_seconds: float, now: float | None = None) -> list[Path]:
    """Files of *in_dir* unchanged for *stable_seconds*, oldest first.

    ``st_ctime`` changes on every write and on every metadata change (a copy
    tool restoring the old mtime included), so its age is how long the file has
    been left alone.
    """
    now = time.time() if now is None else now
    found = []
    for entry in os.scandir(in_dir):
        if is_ignored(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        info = entry.stat(follow_symlinks=False)
        if now - max(info.st_mtime, info.st_ctime) >= stable_seconds:
            found.append((info.st_mtime, entry.name))
    return [in_dir / name for _, name in sorted(found)]


@dataclass
class Claim:
    """An input moved into its own claim folder, with the folder's lock held."""

    folder: Path
    path: Path
    lock_fd: int

    def release(self) -> None:
        """Give up the lock and delete the folder once the input has left it."""
        if not self.path.exists():
            remove_tree(self.folder)
        os.close(self.lock_fd)


def claim_file(path: Path, settings: Settings) -> Claim | None:
    """Move *path* (in ``in/`` or ``hold/``) into a claim folder; None if someone else took it."""
    folder = settings.incoming_dir / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        lock_fd = _lock(folder)
    except FileNotFoundError:  # an orphan sweep removed the still-empty folder
        return None
    if lock_fd is None:  # a sweep holds it for a moment: let it have the folder
        return None
    target = folder / strip_timestamp(path.name)  # held duplicates get their name back
    try:
        path.rename(target)
    except FileNotFoundError:  # another scan renamed the input first, or the folder went
        os.close(lock_fd)
        remove_tree(folder)
        return None
    return Claim(folder, target, lock_fd)


def take_over(path: Path) -> Claim | None:
    """Own the claim whose input is *path*, or None if a live process owns it."""
    lock_fd = _lock(path.parent)
    if lock_fd is None:
        return None
    if not path.is_file():
        os.close(lock_fd)
        return None
    return Claim(path.parent, path, lock_fd)


def orphaned_inputs(settings: Settings, *, now: float | None = None) -> list[Path]:
    """Inputs in claim folders whose owner died (lock free); empty dead folders are removed."""
    now = time.time() if now is None else now
    orphans = []
    for folder in _claim_folders(settings):
        if now - folder.stat().st_mtime < CLAIM_GRACE_SECONDS:
            continue  # its claimer may be between mkdir and rename
        lock_fd = _lock(folder)
        if lock_fd is None:
            continue  # alive
        try:
            inputs = [p for p in folder.iterdir() if p.name != LOCK_NAME and p.is_file()]
            if inputs:
                orphans.extend(inputs)
            else:
                remove_tree(folder)
        finally:
            os.close(lock_fd)
    return orphans


def expired_work_dirs(
    settings: Settings, *, in_flight: set[str], now: float | None = None
) -> list[Path]:
    """``work/<jobKey>/`` folders older than KEEP_WORK_DIR_DAYS, except jobs in flight."""
    if settings.keep_work_dir_days == 0 or not settings.work_dir.is_dir():
        return []  # 0: each job deletes its own folder when it is done
    now = time.time() if now is None else now
    oldest = now - settings.keep_work_dir_days * 86400
    return [
        folder
        for folder in settings.work_dir.iterdir()
        if folder.is_dir()
        and folder != settings.incoming_dir
        and folder.name not in in_flight
        and folder.stat().st_mtime < oldest
    ]


def _claim_folders(settings: Settings) -> Iterator[Path]:
    if settings.incoming_dir.is_dir():
        yield from (p for p in settings.incoming_dir.iterdir() if p.is_dir())


def _lock(folder: Path) -> int | None:
    """An exclusive, non-blocking flock on the folder's lock file, or None if taken."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def write_error_file(
    placed_input: Path,
    *,
    reason: str,
    message: str,
    stage: str,
    attempts: int,
    job_key: str | None,
) -> Path:
    """Write ``error/<name>.error.json`` beside an input moved to ``error/``."""
    report = {
        "jobKey": job_key,
        "file": placed_input.name,
        "stage": stage,
        "attempts": attempts,
        "reason": reason,
        "message": message,
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    suffix = ".error.json"
    target = placed_input.with_name(fit_name(placed_input.name, reserve=len(suffix)) + suffix)
    write_atomically(target, (json.dumps(report, indent=2) + "\n").encode())
    return target


def move_to_error(claim: Claim, settings: Settings, **details: object) -> Path:
    """Move a failed input to ``error/`` and write its ``.error.json``; returns the input's path."""
    placed = place_file(claim.path, settings.error_dir)
    write_error_file(placed, **details)  # type: ignore[arg-type]
    return placed


def move_to_archive(claim: Claim, settings: Settings) -> Path:
    return place_file(claim.path, settings.archive_dir)


def is_inside(path: Path, folder: Path) -> bool:
    return path.absolute().is_relative_to(folder.absolute())
