"""Bounds on the stages running at once (PREP_CONCURRENCY, OCR_CONCURRENCY), crash-proof.

Two cases, by where the conversion runs:

- **A deployment run** (on a worker: its own process, perhaps on another host):
  Prefect global concurrency limits ``comic2pdf-prep`` and ``comic2pdf-ocr``,
  taken with a lease. The holder renews its lease while it works; a holder
  killed with ``kill -9`` stops renewing, and the server's repossessor frees
  its slot once the lease is past: LEASE_SECONDS (the shortest lease Prefect's
  API grants) plus the repossessor's loop (15 s by default).
- **In the process that scans** (``comic2pdf scan``, a scan without
  CONVERT_DEPLOYMENT, ``comic2pdf convert`` of an inbox file): a semaphore of
  this process. Its conversions are all the process runs, and nothing is written
  to Prefect's database, so nothing can stay taken after a crash. Prefect's own
  limits could not do this with the embedded default: Prefect's temporary server
  runs no repossessor and keeps leases in memory, so a killed scan's slots stayed
  taken in ``$PREFECT_HOME/prefect.db`` forever (issue #13).
"""

import contextlib
import threading
from collections.abc import Iterator

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from comic2pdf.settings import Settings

#: Seconds a slot's lease lasts without renewal: the minimum Prefect's API accepts.
LEASE_SECONDS = 60

_gates: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def limit_name(stage: str) -> str:
    return f"comic2pdf-{stage}"


def stage_sizes(settings: Settings) -> dict[str, int]:
    return {"prep": settings.prep_concurrency, "ocr": settings.ocr_concurrency}


@contextlib.contextmanager
def stage_slot(stage: str, settings: Settings, *, shared: bool) -> Iterator[None]:
    """Hold one slot of *stage*'s bound around the stage (its retries included).

    *shared*: the bound is the Prefect server's (a deployment run), else this process's.
    """
    size = stage_sizes(settings)[stage]
    if not shared:
        with _local_gate(stage, size):
            yield
        return
    ensure_limit(limit_name(stage), size)
    with concurrency(limit_name(stage), occupy=1, lease_duration=LEASE_SECONDS, strict=True):
        yield


def ensure_limit(name: str, size: int) -> None:
    """Create the limit if missing, and bring its size in line with the settings."""
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another worker made it first
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=size)
                )
            return
        if existing.limit != size:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=size))


def _local_gate(stage: str, size: int) -> threading.BoundedSemaphore:
    with _gates_lock:
        return _gates.setdefault((stage, size), threading.BoundedSemaphore(size))
