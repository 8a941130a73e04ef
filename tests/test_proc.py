"""The subprocess seam: timeouts and interruptions kill the whole process group."""

import signal
import sys
import time

import pytest

from comic2pdf import proc
from comic2pdf.errors import StageTimeout
from tests.fakes import alive

# A parent that starts two grandchildren which would outlive a plain kill.
SPAWNER = "sleep 300 & echo $! ; sleep 300 & echo $! ; wait"


def test_success_returns_code_stdout_and_stderr_tail():
    lines: list[str] = []
    done = proc.run(
        ["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"],
        timeout=10,
        on_stdout_line=lines.append,
    )
    assert done.returncode == 3
    assert lines == ["out1", "out2"]
    assert done.stderr_tail == "err1"


def test_timeout_kills_grandchildren():
    pids: list[int] = []
    started = time.monotonic()
    with pytest.raises(StageTimeout, match="did not finish within 1 s"):
        proc.run(["sh", "-c", SPAWNER], timeout=1, on_stdout_line=lambda s: pids.append(int(s)))
    assert time.monotonic() - started < 10
    assert len(pids) == 2
    assert alive(pids) == []


def test_interrupted_caller_kills_the_group():
    """Prefect's task timeout raises into the waiting thread: the group must still die."""
    pids: list[int] = []

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            proc.run(
                ["sh", "-c", SPAWNER], timeout=60, on_stdout_line=lambda s: pids.append(int(s))
            )
    finally:
        signal.signal(signal.SIGALRM, old)
    assert len(pids) == 2
    assert alive(pids) == []


def test_child_ignoring_sigterm_gets_sigkill():
    script = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(os.getpid(), flush=True); time.sleep(300)"
    )
    pids: list[int] = []
    with pytest.raises(StageTimeout):
        proc.run(
            [sys.executable, "-c", script], timeout=2, on_stdout_line=lambda s: pids.append(int(s))
        )
    assert len(pids) == 1
    assert alive(pids) == []
