"""Converting without Prefect: the same stages, attempts and time limits, in this process.

``comic2pdf convert`` uses this when no Prefect API is configured: starting
Prefect's temporary server costs seconds per call (README "Quick start").
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from comic2pdf.errors import ComicError
from comic2pdf.pipeline.attempts import attempt, stage_limits
from comic2pdf.pipeline.job import ConvertResult, Job, convert_one_shot, require_file
from comic2pdf.pipeline.stages import Prepared, Recognised, prepare, publish, recognise
from comic2pdf.settings import Settings

T = TypeVar("T")


class LocalStages:
    """The Stages runner without Prefect (one-shot jobs only: nothing is recorded)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = stage_limits(settings)

    def prep(self, job: Job) -> Prepared:
        return self._attempt(
            "prep",
            lambda: prepare(
                archive=job.archive,
                work=job.work(self.settings),
                identity=job.identity,
                settings=self.settings,
            ),
        )

    def ocr(self, job: Job, prepared: Prepared) -> Recognised:
        return self._attempt("ocr", lambda: recognise(prepared=prepared, settings=self.settings))

    def finalize(self, job: Job, recognised: Recognised, pages: int) -> Path:
        return self._attempt(
            "finalize",
            lambda: publish(
                recognised=recognised,
                pages=pages,
                out_dir=job.out_dir,
                name=job.pdf_name,
                identity=job.identity,
                settings=self.settings,
            ),
        )

    def _attempt(self, stage: str, call: Callable[[], T]) -> T:
        return attempt(
            stage, call, limit=self.limits[stage], delay=self.settings.retry_delay_seconds
        )


def convert_files(
    paths: list[Path], out_dir: Path, settings: Settings
) -> Iterator[tuple[Path, ConvertResult | ComicError]]:
    """Convert each file in turn; yield it with its result or the error that stopped it."""
    stages = LocalStages(settings)
    for path in paths:
        try:
            archive = require_file(path).absolute()
            yield path, convert_one_shot(archive, out_dir, settings, stages)
        except ComicError as e:
            yield path, e
