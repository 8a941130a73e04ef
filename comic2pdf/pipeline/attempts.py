"""Attempts and time limits of the stages, the same numbers for Prefect's tasks and for ours.

Without Prefect a stage runs through ``attempt``: at most ``attempts`` tries,
``RETRY_DELAY_SECONDS`` apart, broken input (``retryable`` False) never
retried, each try under a watchdog that raises into the stage's thread when
its time is up (``pipeline.interrupt``). The Prefect tasks use the same
watchdog: Prefect's ``timeout_seconds`` cannot interrupt a task that runs in a
scan's worker thread.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from comic2pdf.errors import ComicError
from comic2pdf.pipeline.interrupt import time_limit
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
