"""The one place where comic2pdf starts external programs.

Every child runs in its own session (so it leads a fresh process group), with
a hard timeout. On timeout, on an error, or when the calling thread is
interrupted (Prefect raises into a task thread when ``timeout_seconds``
expires), the whole group is terminated: ocrmypdf's Tesseract and Ghostscript
children go with it instead of burning CPU for hours.
"""

import contextlib
import contextvars
import io
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from comic2pdf.errors import StageTimeout

log = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when stopping a process group.
KILL_GRACE_SECONDS = 3.0
#: Lines of stderr kept for error messages.
STDERR_TAIL_LINES = 40
#: Longest a wait for a child blocks at a time: an exception raised into the
#: waiting thread (Prefect's task timeout) is delivered between two waits.
WAIT_SLICE_SECONDS = 0.05


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stderr_tail: str
    seconds: float


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    name: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    on_stderr_line: Callable[[str], bool] | None = None,
    new_session: bool = True,
) -> Completed:
    """Run *argv* to completion or kill its whole process group.

    stderr goes line by line to the logger named after the tool
    (``comic2pdf.tool.<name>``, *name* defaulting to the program's file
    name) unless *on_stderr_line* returns True for it (it consumed the line);
    stdout lines go to *on_stdout_line* if given.
    Raises StageTimeout after *timeout* seconds; never raises on a non-zero
    exit code: callers map exit codes to errors with their own table.

    With ``new_session=False`` the child stays in the caller's process group
    (for programs started inside the OCR child, whose whole group is killed on
    the stage timeout) and only the child itself is killed on its own timeout.
    """
    args = [os.fspath(part) for part in argv]
    name = name or Path(args[0]).name
    tool_log = logging.getLogger(f"comic2pdf.tool.{name}")
    log.info("running %s: %s", name, subprocess.list2cmdline(args))
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=new_session,
    )
    stop = kill_group if new_session else kill_process
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def stderr_line(line: str) -> None:
        if on_stderr_line is None or not on_stderr_line(line):
            tail.append(line)
            tool_log.info("%s", line)

    readers = [
        _pump(proc.stderr, stderr_line),
        _pump(proc.stdout, on_stdout_line or (lambda line: tool_log.debug("%s", line))),
    ]
    try:
        returncode = wait_exit(proc, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise StageTimeout(
            f"{name} did not finish within {timeout:g} s; its processes were killed"
        ) from None
    except BaseException:
        # Interrupted from outside (Prefect task timeout, Ctrl-C, cancellation).
        stop(proc)
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
    return Completed(args, returncode, "\n".join(tail), time.monotonic() - started)


def stream(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    on_chunk: Callable[[bytes], None],
    chunk_size: int = 1 << 20,
    name: str | None = None,
) -> Completed:
    """Run *argv*, handing its binary stdout to *on_chunk* in the calling thread.

    An exception from *on_chunk* (a byte limit) kills the process group and
    propagates; so does the timeout (StageTimeout). stderr is logged like run()'s.
    """
    args = [os.fspath(part) for part in argv]
    name = name or Path(args[0]).name
    tool_log = logging.getLogger(f"comic2pdf.tool.{name}")
    log.info("running %s: %s", name, subprocess.list2cmdline(args))
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def stderr_line(line: str) -> None:
        tail.append(line)
        tool_log.info("%s", line)

    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    reader = _pump(io.TextIOWrapper(proc.stderr, errors="replace"), stderr_line)
    # Reading blocks in this thread, so the timeout is a timer that kills the group.
    timer = threading.Timer(timeout, kill_group, args=(proc,))
    timer.start()
    try:
        while chunk := proc.stdout.read(chunk_size):
            on_chunk(chunk)
        returncode = proc.wait()
    except BaseException:
        kill_group(proc)
        raise
    finally:
        timer.cancel()
        proc.stdout.close()
        reader.join(timeout=5)
    seconds = time.monotonic() - started
    if seconds >= timeout:
        raise StageTimeout(f"{name} did not finish within {timeout:g} s; its processes were killed")
    return Completed(args, returncode, "\n".join(tail), seconds)


def wait_exit(proc: subprocess.Popen, *, timeout: float) -> int:
    """*proc*'s exit code, noticed the moment it exits; TimeoutExpired after *timeout* s.

    ``Popen.wait(timeout)`` polls with sleeps growing to 50 ms, so a child is
    seen to have exited ~25 ms late on average: the comic engine runs
    Tesseract two or three times a page, and each page waited that long for
    nothing on an idle core. A pidfd becomes readable when the child exits.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: Popen's own polling
        return proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            if select.select([pidfd], [], [], min(left, WAIT_SLICE_SECONDS))[0]:
                return proc.wait()
    finally:
        os.close(pidfd)
    raise subprocess.TimeoutExpired(proc.args, timeout)


def kill_group(proc: subprocess.Popen, *, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after *grace* seconds."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    _signal_group(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.warning("process group %s ignored SIGTERM; sending SIGKILL", pgid)
    # Grandchildren may outlive the leader: always finish the group off.
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)


def kill_process(proc: subprocess.Popen) -> None:
    """SIGKILL one child that shares our process group (see run's new_session)."""
    proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, sig)


def _pump(stream, handle: Callable[[str], None]) -> threading.Thread:
    def read() -> None:
        for line in stream:
            handle(line.rstrip("\n"))
        stream.close()

    # The handlers may call back into the caller's world (Prefect reads its API
    # settings from context variables): run them in a copy of the caller's context.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(read,), daemon=True)
    thread.start()
    return thread
