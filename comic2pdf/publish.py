"""Moving files between folders: atomic, never overwriting, never losing one."""

import errno
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MAX_NAME_TRIES = 10000


def candidate_names(name: str):
    """``name``, then ``stem (2).ext``, ``stem (3).ext``…"""
    stem, suffix = Path(name).stem, Path(name).suffix
    yield name
    for n in range(2, MAX_NAME_TRIES):
        yield f"{stem} ({n}){suffix}"


def place_file(
    src: Path,
    dest_dir: Path,
    name: str | None = None,
    *,
    replace_if: Callable[[Path], bool] | None = None,
) -> Path:
    """Move *src* into *dest_dir* under *name* or the first free ``name (N)``.

    The file appears under its final name in one step: it is hard-linked there
    from where it is, then unlinked at the source. A reader of *dest_dir* never
    sees half a file, two movers never take the same name, and a crash at any
    point leaves the file under its old name, its new name or both; placing it
    again under the same name then finds it already there. Across file systems a hidden temporary
    copy in *dest_dir* is linked into place instead. A taken name for which
    *replace_if* answers True is replaced atomically (the same job published
    again). On failure *src* is left where it was.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    try:
        target = _link_first_free(src, dest_dir, name, replace_if)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        target = _place_copy(src, dest_dir, name, replace_if)
    src.unlink(missing_ok=True)
    return target


def _link_first_free(
    src: Path, dest_dir: Path, name: str, replace_if: Callable[[Path], bool] | None
) -> Path:
    for candidate in candidate_names(name):
        target = dest_dir / candidate
        if _link_if_free(src, target) or _same_file(src, target):  # linked before a crash
            return target
        if replace_if is not None and replace_if(target):
            src.replace(target)
            return target
    raise FileExistsError(f"no free name for {name} in {dest_dir}")


def _place_copy(
    src: Path, dest_dir: Path, name: str, replace_if: Callable[[Path], bool] | None
) -> Path:
    """Across file systems: copy under a hidden unique name in *dest_dir*, then link that."""
    staged = dest_dir / f".{uuid.uuid4().hex}.partial"
    try:
        shutil.copyfile(src, staged)
        return _link_first_free(staged, dest_dir, name, replace_if)
    finally:
        staged.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except FileNotFoundError:
        return False


def _link_if_free(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # No hard links on this file system (some network shares): rename
        # after a check. Only one comic2pdf process names a given job, so the
        # gap between check and rename is not contended in practice.
        if target.exists():
            return False
        source.rename(target)
    return True


def remove_tree(path: Path) -> None:
    """Delete a scratch folder; a failure is logged, not raised (the janitor retries)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError as e:
        log.warning("could not delete %s: %s", path, e)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file must be in the same folder: os.replace is atomic only
    # within one file system.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(0o644)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
