"""Prefect global concurrency limits for the stages (they hold across processes and hosts)."""

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

from comic2pdf.settings import Settings

PREP_LIMIT = "comic2pdf-prep"
OCR_LIMIT = "comic2pdf-ocr"


def stage_limits(settings: Settings) -> dict[str, int]:
    return {PREP_LIMIT: settings.prep_concurrency, OCR_LIMIT: settings.ocr_concurrency}


def ensure_concurrency_limits(settings: Settings) -> None:
    """Create the limits if missing, and bring their sizes in line with the settings."""
    for name, size in stage_limits(settings).items():
        _ensure_limit(name, size)


def _ensure_limit(name: str, size: int) -> None:
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=size)
            )
            return
        if existing.limit != size:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=size))


@contextlib.contextmanager
def stage_slot(limit: str, settings: Settings, *, take: bool) -> Iterator[None]:
    """Hold a slot of the global *limit* around a stage's task (its retries included).

    The flow runs of one process queue among themselves first (a semaphore of
    the limit's size). Then the slot comes from Prefect, unless this process
    already holds slots for a whole scan pass (``pass_slots``).

    Asked by the flow before the task run starts: from inside the task, the
    request met the SQLite-backed server still recording the task's start
    ("database is locked", HTTP 503) and Prefect's client waited 2 s.
    """
    if not take:
        yield
        return
    size = stage_limits(settings)[limit]
    with _local_gate(limit, size), contextlib.ExitStack() as held:
        if not _pass_holds[limit]:
            _take_global_slots(held, limit, 1, size=size)
        yield


@contextlib.contextmanager
def pass_slots(settings: Settings, jobs: int) -> Iterator[None]:
    """Hold the slots a scan pass of *jobs* conversions can use, for the whole pass.

    Asking Prefect per comic left the cores idle between comics: each request
    the busy SQLite-backed server answered with HTTP 503 cost 2 s of Prefect's
    backoff, and a refused one (423) is retried after the limit's average
    occupancy, up to 30 s. Held per pass, the handoff between this process's
    comics is local; other processes and hosts get the slots between passes.
    """
    with contextlib.ExitStack() as held:
        for limit, size in stage_limits(settings).items():
            if wanted := min(size, jobs):
                _take_global_slots(held, limit, wanted, size=size)
                _pass_holds[limit] += 1
                held.callback(_pass_holds.subtract, [limit])
        yield


#: Pause before asking again for slots another process holds.
SLOT_POLL_SECONDS = 0.5

_gates: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()
_request_lock = threading.Lock()
#: Scan passes of this process now holding slots of each limit for their conversions.
_pass_holds: Counter[str] = Counter()


def _local_gate(limit: str, size: int) -> threading.BoundedSemaphore:
    with _gates_lock:
        return _gates.setdefault((limit, size), threading.BoundedSemaphore(size))


def _take_global_slots(held: contextlib.ExitStack, limit: str, slots: int, *, size: int) -> None:
    """Enter ``concurrency(limit, slots)`` on *held*, polling while other processes hold them.

    The limit is created (or resized to *size*) first, here where it is used:
    Prefect skips a limit that does not exist. One single-attempt request at a
    time per process: a refused one (423) is asked again after SLOT_POLL_SECONDS
    instead of Prefect's longer waits, and our requests do not collide with each
    other in the server's database.
    """
    _ensure_limit(limit, size)
    while True:
        with _request_lock:
            try:
                held.enter_context(concurrency(limit, occupy=slots, max_retries=0))
                return
            except ConcurrencySlotAcquisitionError as e:
                if not _refused(e):
                    raise
        time.sleep(SLOT_POLL_SECONDS)


def _refused(error: BaseException | None) -> bool:
    """True if the server said no slot is free (HTTP 423), not that something broke."""
    cause = error.__cause__ if isinstance(error, ConcurrencySlotAcquisitionError) else error
    return isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == 423


class _HideRefusedSlotRequests(logging.Filter):
    """Drop Prefect's error line for each of our single attempts the server refused.

    Prefect's slot service logs "failed to process item" for any request that
    raised; with its default retries a 423 never gets there, so only our
    polling does, and it is expected. Any other failure is still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        item = record.args[-1] if isinstance(record.args, tuple) and record.args else None
        future = item[-1] if isinstance(item, tuple) and item else None
        if isinstance(future, concurrent.futures.Future) and future.done():
            return future.cancelled() or not _refused(future.exception())
        return True


logging.getLogger("prefect._internal.concurrency").addFilter(_HideRefusedSlotRequests())
