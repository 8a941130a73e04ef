"""Entry point of the OCR child process: ocrmypdf that dies with its parent.

``python -m comic2pdf.ocr.child --parent-pid PID -- <ocrmypdf arguments>``

The parent starts this in a new session, so this process leads a process group
holding ocrmypdf's workers, Tesseract and Ghostscript. If the parent dies (even
by kill -9) the whole group is killed: Linux sends us SIGTERM
(PR_SET_PDEATHSIG), and a watchdog thread checks the parent as a fallback.
"""

import ctypes
import logging
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_SECONDS = 0.5


def kill_own_group(*_: object) -> None:
    """SIGKILL every process of our group, ourselves included."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


def die_with_parent(parent_pid: int) -> None:
    """Arrange for this process group to die when *parent_pid* goes away."""
    signal.signal(signal.SIGTERM, kill_own_group)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        kill_own_group()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    # PR_SET_PDEATHSIG fires when the parent *thread* exits; the poll covers
    # the cases it misses (e.g. the signal arriving while a handler cannot run).
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_SECONDS)
    kill_own_group()


def parse_argv(argv: list[str]) -> tuple[int, list[str]]:
    """Split ``--parent-pid PID -- ARGS…`` into the pid and ocrmypdf's arguments."""
    if len(argv) < 3 or argv[0] != "--parent-pid" or argv[2] != "--":
        raise SystemExit("usage: python -m comic2pdf.ocr.child --parent-pid PID -- ARGS…")
    return int(argv[1]), argv[3:]


def main(argv: list[str] | None = None) -> int:
    parent_pid, ocr_args = parse_argv(sys.argv[1:] if argv is None else argv)
    die_with_parent(parent_pid)
    # The comic engine runs Tesseract twice a page; a command line per page
    # would drown the run logs (README "Prefect UI"). Their failures still show.
    logging.getLogger("comic2pdf.proc").setLevel(logging.WARNING)
    from ocrmypdf.__main__ import run  # imported late: it is slow and only needed here

    return int(run(ocr_args))


if __name__ == "__main__":
    sys.exit(main())
