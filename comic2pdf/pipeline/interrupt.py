"""Stop the work of one thread from outside it: when its time is up, or when it is cancelled.

A watchdog thread raises an exception into the working thread (CPython's
``PyThreadState_SetAsyncExc``); it arrives at the thread's next Python
instruction. A stage waiting on a child process (``proc.run``) polls, so it
arrives there within milliseconds and ``proc.run`` kills the child's whole
process group on its way out. Unlike Prefect's ``timeout_seconds``, this works
in any thread, not only the main one.
"""

import contextvars
import ctypes
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from comic2pdf.errors import ComicError, JobCancelled, StageTimeout

log = logging.getLogger(__name__)


class _Interrupted(BaseException):
    """Raised into the working thread; BaseException so no ``except Exception`` eats it."""


@contextmanager
def time_limit(seconds: float | None, *, stage: str) -> Iterator[None]:
    """Raise StageTimeout in this thread if the block runs longer than *seconds*."""
    if seconds is None:
        yield
        return
    error = StageTimeout(f"{stage} did not finish within {seconds:g} s; it was stopped")
    with _interrupting(error, wait=seconds, until=lambda: True):
        yield


@contextmanager
def stop_when(cancelled: Callable[[], bool], *, every: float, what: str) -> Iterator[None]:
    """Raise JobCancelled in this thread as soon as *cancelled()* says so (asked every *every* s).

    *cancelled* runs in the watchdog thread, in a copy of this thread's context
    variables (Prefect finds its client settings there). An error it raises is
    logged and the work goes on: a flaky check must not stop a good conversion.
    """
    error = JobCancelled(f"{what} was cancelled; its processes were stopped")
    with _interrupting(error, wait=every, until=cancelled, repeat=True):
        yield


@contextmanager
def _interrupting(
    error: ComicError, *, wait: float, until: Callable[[], bool], repeat: bool = False
) -> Iterator[None]:
    """Raise *error* in this thread once *until()* is true, checked every *wait* seconds."""
    # A class of its own, so that a watchdog nested inside this one (a stage's
    # time limit inside a run's cancel watch) lets this one's interruption pass.
    interrupted: type[_Interrupted] = type("_Interrupted", (_Interrupted,), {})
    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = threading.Event()
    fired = threading.Event()

    def watch() -> None:
        while not finished.wait(wait):
            if _asked(until):
                with lock:
                    if not finished.is_set():
                        fired.set()
                        _raise_in_thread(thread_id, interrupted)
                return
            if not repeat:
                return

    context = contextvars.copy_context()
    watchdog = threading.Thread(target=context.run, args=(watch,), daemon=True)
    watchdog.start()
    try:
        yield
    except interrupted:
        raise error from None
    finally:
        with lock:
            finished.set()
            if fired.is_set():
                _raise_in_thread(thread_id, None)  # one not delivered yet must not leak out


def _asked(until: Callable[[], bool]) -> bool:
    try:
        return until()
    except Exception:  # noqa: BLE001 - deliberate: a failed check is not a reason to stop
        log.warning("could not check whether to stop; going on", exc_info=True)
        return False


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )
