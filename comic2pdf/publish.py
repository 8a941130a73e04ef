"""Moving files between folders: atomic, never overwriting, never losing one."""

import errno
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MAX_NAME_TRIES = 10000

#: Longest file name, in bytes, that Linux file systems (ext4, xfs, btrfs) accept.
MAX_NAME_BYTES = 255

# An extension is a short run of letters and digits: "Vol. 2 #15" has none.
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}$")
ARCHIVE_SUFFIXES = frozenset({".cbz", ".cbr", ".cb7", ".cbt", ".zip", ".rar", ".7z", ".tar"})


def split_name(name: str) -> tuple[str, str]:
    """``("Foo", ".cbz")`` for ``Foo.cbz``; a name without a real extension is all stem."""
    match = _SUFFIX.search(name)
    if match is None or match.start() == 0:
        return name, ""
    return name[: match.start()], match.group()


def output_name(input_name: str) -> str:
    """The PDF's name for an input: its archive extension replaced, every other dot kept.

    ``Spider-Man Vol. 2 #15`` gives ``Spider-Man Vol. 2 #15.pdf``, not ``Spider-Man Vol.pdf``.
    """
    stem, suffix = split_name(input_name)
    return f"{stem if suffix.casefold() in ARCHIVE_SUFFIXES else input_name}.pdf"


def fit_name(name: str, *, reserve: int = 0) -> str:
    """*name* shortened to fit ``MAX_NAME_BYTES - reserve`` bytes of UTF-8, extension kept.

    The stem is cut on a character boundary (a CJK title is 3 bytes a
    character) and marked with "…"; a name that fits is returned as it is.
    """
    limit = MAX_NAME_BYTES - reserve
    if len(name.encode()) <= limit:
        return name
    stem, suffix = split_name(name)
    room = limit - len(suffix.encode()) - len("…".encode())
    short = stem.encode()[: max(room, 1)].decode(errors="ignore")
    return f"{short}…{suffix}"


def candidate_names(name: str):
    """``name``, then ``stem (2).ext``, ``stem (3).ext``…, each fitted to the name limit."""
    stem, suffix = split_name(name)
    yield fit_name(name)
    for n in range(2, MAX_NAME_TRIES):
        mark = f" ({n})"
        yield fit_name(stem + suffix, reserve=len(mark)).removesuffix(suffix) + mark + suffix


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
    # The name is "." + name + "." + 8 random characters (mkstemp) + ".tmp".
    prefix = f".{fit_name(path.name, reserve=len('..') + 8 + len('.tmp'))}."
    fd, temp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
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
