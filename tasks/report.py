"""What the Prefect UI shows for a comic: a progress bar during OCR and a summary at the end."""

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

from comic2pdf import jobkey
from comic2pdf.duplicates import strip_timestamp
from comic2pdf.errors import ComicError, InputMissing, StageTimeout
from comic2pdf.inbox import is_inside
from comic2pdf.pipeline.job import ConvertResult, job_profile
from comic2pdf.settings import Settings

log = logging.getLogger(__name__)


def artifact_key(name: str) -> str:
    """The key of a comic's artifacts: one per input name, a held file's included.

    Prefect artifact keys allow lowercase letters, digits and dashes only.
    """
    name = strip_timestamp(name)
    return "comic2pdf-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "comic")


@contextlib.contextmanager
def ocr_progress(name: str) -> Iterator[Callable[[str, float, float | None], None]]:
    """A progress artifact for the OCR of *name*; yields the callback that advances it.

    The callback runs on the thread reading ocrmypdf's stderr, so it only notes
    the latest value: a thread of its own sends it. A slow or failing API then
    never stalls that reader (a full pipe would stall ocrmypdf itself), and
    pages that finish while a request is in flight are sent as one update.
    """
    artifact_id = create_progress_artifact(progress=0.0, description=f"OCR of {name}")
    sender = _LatestValueSender(lambda value: update_progress_artifact(artifact_id, progress=value))

    def report(step: str, done: float, total: float | None) -> None:
        if step == "OCR" and total:  # whole pages of the OCR step
            sender.offer(100.0 * done / total)

    sender.start()
    try:
        yield report
    finally:
        sender.stop(timeout=PROGRESS_FLUSH_SECONDS)


#: How long the end of an OCR waits for its last progress update to reach the API.
PROGRESS_FLUSH_SECONDS = 5.0


class _LatestValueSender:
    """Send the latest offered value with *send*, from a daemon thread; failures are logged."""

    def __init__(self, send: Callable[[float], object]) -> None:
        self._send = send
        self._latest: float | None = None
        self._wake = threading.Event()
        self._stopping = False
        # A copy of the caller's context: Prefect finds its API client and settings there.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._loop,), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, value: float) -> None:
        self._latest = value
        self._wake.set()

    def stop(self, *, timeout: float) -> None:
        """Send what is left, waiting at most *timeout* seconds for it."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        sent = None
        while True:
            self._wake.wait()
            self._wake.clear()
            value = self._latest
            if value is not None and value != sent:
                try:
                    self._send(value)
                    sent = value
                except Exception as e:  # noqa: BLE001 - progress is best effort; OCR goes on
                    log.warning("could not update the OCR progress artifact: %s", e)
            if self._stopping:
                return


def table(rows: dict[str, object]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {str(value).replace('|', '/')} |" for key, value in rows.items()]
    return "\n".join(lines)


def publish_summary(name: str, title: str, rows: dict[str, object], advice: str = "") -> None:
    """A markdown artifact for the run: what happened to *name* and what to do next.

    Outside a flow or task run (a task's ``.fn`` called directly) there is no
    run to show it on, and nothing is sent.
    """
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    markdown = f"## {title}\n\n{table(rows)}\n"
    if advice:
        markdown += f"\n{advice}\n"
    create_markdown_artifact(key=artifact_key(name), markdown=markdown, description=title)


def summarize(archive: Path, result: ConvertResult, settings: Settings) -> None:
    """The artifact of a converted comic: what came out of *archive*."""
    rows = {
        "input": archive.name,
        "output": result.output,
        "pages": result.pages,
        "pages without text": result.pages_without_text,
        "pages skipped": "; ".join(result.pages_skipped) or "none",
        "pages repaired": "; ".join(result.page_warnings) or "none",
        "input size": f"{archive.stat().st_size if archive.exists() else '?'} bytes",
        "output size": f"{result.output.stat().st_size} bytes" if result.output else "?",
        "seconds": f"{result.seconds:.1f}",
        "jobKey": result.job_key,
        "profile": jobkey.canonical_json(job_profile(settings)),
    }
    publish_summary(archive.name, f"Converted {archive.name}", rows)


def summarize_failure(archive: Path, error: ComicError, settings: Settings) -> None:
    """The artifact of a failed comic: the reason, where the input is, what to do."""
    title, advice = _failure_advice(archive.name, error)
    if isinstance(error, InputMissing):
        where: object = "nowhere"
    else:
        where = settings.error_dir if is_inside(archive, settings.data_dir) else archive.parent
    rows = {
        "input": archive,
        "reason": error.reason,
        "message": error.message,
        "input now in": where,
    }
    publish_summary(archive.name, title, rows, advice)


def _failure_advice(name: str, error: ComicError) -> tuple[str, str]:
    """The artifact's title and what to do next, by kind of failure."""
    if isinstance(error, InputMissing):
        return f"Failed: {name} (not_found)", "Check the path: there was nothing to convert."
    if isinstance(error, StageTimeout):
        return f"Timed out: {name}", (
            "A time limit ended the run (PREP_TIMEOUT_SECONDS, OCR_TIMEOUT_SECONDS or the "
            "flow's timeout): raise it for comics this large, then drop the file into in/ again."
        )
    if not error.retryable:
        return f"Failed: {name} ({error.reason})", (
            "Broken input: fix or replace the file, then drop it into in/ again."
        )
    return f"Failed: {name} ({error.reason})", (
        "Every attempt failed; see the task logs. Drop the file into in/ again to retry."
    )
