"""What a conversion is doing right now, for whoever displays it (the terminal, tests).

The stage functions announce each stage as it starts and the pages OCR has
done; a listener registered with ``listening`` hears every comic of this
process, whichever thread or Prefect task converts it.
"""

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: ``on_progress(step, done, total)`` as the OCR runner calls it.
ProgressCallback = Callable[[str, float, float | None], None]


@dataclass(frozen=True)
class StageEvent:
    comic: str  # the archive's file name
    stage: str  # prep | ocr | finalize
    done: float | None = None  # pages done, during ocr; None when the stage starts
    total: float | None = None  # pages in all, when known


Listener = Callable[[StageEvent], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every stage event of this process to *listener* while inside the block."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def stage_started(comic: str, stage: str, *, total: float | None = None) -> None:
    _emit(StageEvent(comic, stage, None, total))


def ocr_progress(comic: str, step: str, done: float, total: float | None) -> None:
    """Whole pages of ocrmypdf's OCR step; its other steps are too short to show."""
    if step == "OCR" and total:
        _emit(StageEvent(comic, "ocr", done, total))


def _emit(event: StageEvent) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - a display must never stop a conversion
            # (OCR progress arrives on the thread reading ocrmypdf's stderr: raising
            # there would stop the reader, and a full pipe would stall ocrmypdf).
            log.exception("a progress listener failed on %s", event)
