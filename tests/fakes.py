"""Fake programs put first on PATH to inject faults at the subprocess seam."""

import os
import shutil
import stat
import time
from pathlib import Path

import psutil

REAL_TESSERACT = shutil.which("tesseract") or "/usr/bin/tesseract"


def fake_tesseract(folder: Path, *, behaviour: str, pid_log: Path) -> Path:
    """Write a ``tesseract`` that answers probes truthfully but misbehaves on OCR.

    behaviour: ``hang`` sleeps forever; ``crash-once`` exits 1 on its first OCR
    call, then behaves; ``disk-full`` fails writing its output as a full disk
    does (``/dev/full`` answers every write with ENOSPC); ``timed`` runs the real
    one 3 s late, writing ``start``/``end`` lines with times to ``<pid_log>.times``. Every
    OCR call appends the fake's pid to *pid_log*.
    """
    folder.mkdir(parents=True, exist_ok=True)
    actions = {
        "hang": "exec sleep 600",
        "crash-once": (
            f'if [ ! -e "{pid_log}.crashed" ]; then touch "{pid_log}.crashed"; '
            'echo "fake tesseract: crash" >&2; exit 1; fi\n'
            f'exec {REAL_TESSERACT} "$@"'
        ),
        "disk-full": 'printf "page text" | cat > /dev/full',
        "timed": (
            f'echo "start $(date +%s.%N)" >> "{pid_log}.times"\n'
            "sleep 3\n"  # long enough to overlap with another comic's OCR if allowed to
            f'{REAL_TESSERACT} "$@"; status=$?\n'
            f'echo "end $(date +%s.%N)" >> "{pid_log}.times"\n'
            "exit $status"
        ),
    }
    script = folder / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        "# probes (--version, --list-langs, --print-parameters) go to the real binary\n"
        f'case "$*" in *--version*|*--list-langs*|*--print-parameters*|*--help*) '
        f'exec {REAL_TESSERACT} "$@";; esac\n'
        f'echo $$ >> "{pid_log}"\n'
        f"{actions[behaviour]}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def alive(pids: list[int]) -> list[int]:
    """The pids among *pids* that are still running (zombies count as gone)."""
    result = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                result.append(pid)
        except psutil.NoSuchProcess:
            pass
    return result


def started_pids(pid_log: Path) -> list[int]:
    """The pids a fake wrote to *pid_log*, one per OCR call so far."""
    return [int(pid) for pid in pid_log.read_text().split()] if pid_log.exists() else []


def wait_until(condition, *, timeout: float, what: str) -> None:
    """Poll *condition* until true; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)
