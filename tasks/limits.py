"""Prefect global concurrency limits for the stages (they hold across processes and hosts)."""

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectNotFound

from comic2pdf.settings import Settings

PREP_LIMIT = "comic2pdf-prep"
OCR_LIMIT = "comic2pdf-ocr"


def stage_limits(settings: Settings) -> dict[str, int]:
    return {PREP_LIMIT: settings.prep_concurrency, OCR_LIMIT: settings.ocr_concurrency}


def ensure_concurrency_limits(settings: Settings) -> None:
    """Create the limits if missing, and bring their sizes in line with the settings."""
    with get_client(sync_client=True) as client:
        for name, size in stage_limits(settings).items():
            try:
                existing = client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=size)
                )
                continue
            if existing.limit != size:
                client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(limit=size)
                )
