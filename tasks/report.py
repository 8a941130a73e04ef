"""What the Prefect UI shows for a comic: a progress bar during OCR and a summary at the end."""

import re
from collections.abc import Callable

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)


def artifact_key(name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "comic2pdf-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "comic")


def ocr_progress_reporter(name: str) -> Callable[[str, float, float | None], None]:
    """A progress artifact for the OCR of *name*, and the callback that advances it."""
    artifact_id = create_progress_artifact(progress=0.0, description=f"OCR of {name}")
    last = [-1]

    def report(step: str, done: float, total: float | None) -> None:
        # Only whole pages of the OCR step: one API call per page, not per event.
        if step != "OCR" or not total or int(done) == last[0]:
            return
        last[0] = int(done)
        update_progress_artifact(artifact_id, progress=100.0 * done / total)

    return report


def table(rows: dict[str, object]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {str(value).replace('|', '/')} |" for key, value in rows.items()]
    return "\n".join(lines)


def publish_summary(name: str, title: str, rows: dict[str, object], advice: str = "") -> None:
    """A markdown artifact for the run: what happened to *name* and what to do next."""
    markdown = f"## {title}\n\n{table(rows)}\n"
    if advice:
        markdown += f"\n{advice}\n"
    create_markdown_artifact(key=artifact_key(name), markdown=markdown, description=title)
