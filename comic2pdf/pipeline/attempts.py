"""Attempts and time limits of the stages, the same numbers for Prefect's tasks and for ours.

Without Prefect a stage runs through ``attempt``: at most ``attempts`` tries,
``RETRY_DELAY_SECONDS`` apart, broken input (``retryable`` False) never
retried, each try under a watchdog that raises into the stage's thread when
its time is up, as Prefect's ``timeout_seconds`` does. A stage waiting on a
child process (``proc.run``) then kills the child's whole process group.
"""

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from comic2pdf.errors import ComicError, StageTimeout
from comic2pdf.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The OCR stage's own limit is the child process's timeout (OCR_TIMEOUT_SECONDS),
#: which kills the process group; the stage's limit is a backstop this much later.
OCR_BACKSTOP_SECONDS = 30


@dataclass(frozen=True)
class StageLimit:
    attempts: int
    timeout: float | None  # seconds, None = no limit


def stage_limits(settings: Settings) -> dict[str, StageLimit]:
    return {
        "prep": StageLimit(settings.max_attempts_prep, settings.prep_timeout_seconds),
        "ocr": StageLimit(
            settings.max_attempts_ocr, settings.ocr_timeout_seconds + OCR_BACKSTOP_SECONDS
        ),
        "finalize": StageLimit(1, None),
    }


def should_retry(error: BaseException) -> bool:
    """Retry unless the error says retrying cannot help; unexpected failures get their retries."""
    return error.retryable if isinstance(error, ComicError) else True


def attempt(stage: str, call: Callable[[], T], *, limit: StageLimit, delay: float) -> T:
    """Run *call* until it succeeds, fails for good, or has had ``limit.attempts`` tries."""
    for number in range(1, limit.attempts + 1):
        try:
            with time_limit(limit.timeout, stage=stage):
                return call()
        except Exception as e:
            if number == limit.attempts or not should_retry(e):
                raise
            log.warning("%s attempt %d/%d failed: %s", stage, number, limit.attempts, e)
        time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


class _Expired(BaseException):
    """Raised into a thread whose time is up; BaseException so no ``except Exception`` eats it."""


@contextmanager
def time_limit(seconds: float | None, *, stage: str) -> Iterator[None]:
    """Raise StageTimeout in this thread if the block runs longer than *seconds*.

    The exception arrives at the thread's next Python instruction (a wait on a
    child process polls, so it arrives there within milliseconds).
    """
    if seconds is None:
        yield
        return
    thread_id = threading.get_ident()
    lock = threading.Lock()
    state = {"finished": False, "fired": False}

    def expire() -> None:
        with lock:
            if not state["finished"]:
                state["fired"] = True
                _raise_in_thread(thread_id, _Expired)

    watchdog = threading.Timer(seconds, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    except _Expired:
        raise StageTimeout(f"{stage} did not finish within {seconds:g} s; it was stopped") from None
    finally:
        with lock:
            state["finished"] = True
            if state["fired"]:
                _raise_in_thread(thread_id, None)  # one not delivered yet must not leak out
        watchdog.cancel()


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )
