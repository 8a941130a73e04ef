"""The store's rows as Python values: the enums of its columns and one dataclass per table row.

Timestamps are stored as text in one fixed format (:func:`timestamp`), read
back with :func:`parse_time`.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path


class State(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


IN_FLIGHT = (State.QUEUED, State.RUNNING)


class Stage(StrEnum):
    PREP = "prep"
    OCR = "ocr"
    FINALIZE = "finalize"


class DuplicateAction(StrEnum):
    USE_EXISTING_RESULT = "USE_EXISTING_RESULT"
    DISCARD = "DISCARD"
    FORCE_REPROCESS = "FORCE_REPROCESS"


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"
    DUPLICATE = "duplicate"


def timestamp() -> str:
    """Now, as stored."""
    # One fixed format, so timestamps also sort as text (max(finished_at)).
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


@dataclass(frozen=True)
class Job:
    """One row of ``jobs``. ``input_path`` is where the input is now."""

    job_key: str
    input_name: str
    input_path: Path
    input_size: int
    file_sha256: str
    profile_sha256: str
    profile_json: str
    state: State
    stage: Stage | None
    attempts_prep: int
    attempts_ocr: int
    attempts_finalize: int
    output_path: Path | None
    pages: int | None
    pages_without_text: int | None
    error_reason: str | None
    error_message: str | None
    created_at: datetime
    claimed_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    run_id: str | None
    generation: int
    #: "entry: reason" of each page-looking entry that is not a page of the PDF.
    pages_skipped: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping) -> "Job":
        values = dict(row)
        values.update(
            pages_skipped=tuple(json.loads(row["pages_skipped"] or "[]")),
            input_path=Path(row["input_path"]),
            state=State(row["state"]),
            stage=Stage(row["stage"]) if row["stage"] else None,
            output_path=_path(row["output_path"]),
            created_at=parse_time(row["created_at"]),
            claimed_at=parse_time(row["claimed_at"]),
            updated_at=parse_time(row["updated_at"]),
            finished_at=parse_time(row["finished_at"]),
        )
        return cls(**values)

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT

    def attempts(self, stage: Stage | str) -> int:
        return getattr(self, f"attempts_{Stage(stage)}")


@dataclass(frozen=True)
class ClaimResult:
    """What :meth:`JobDB.claim_job` did; ``job`` is the row after the call."""

    status: ClaimStatus
    job: Job

    @property
    def claimed(self) -> bool:
        return self.status is ClaimStatus.CLAIMED


@dataclass(frozen=True)
class Duplicate:
    """One held file (``hold/duplicates/<jobKey>/…``) and its decision."""

    id: int
    job_key: str
    held_path: Path
    incoming_name: str
    detected_at: datetime
    decision: DuplicateAction | None
    decided_at: datetime | None
    applied_at: datetime | None
    error: str | None

    @classmethod
    def from_row(cls, row: Mapping) -> "Duplicate":
        values = dict(row)
        values.update(
            held_path=Path(row["held_path"]),
            detected_at=parse_time(row["detected_at"]),
            decision=DuplicateAction(row["decision"]) if row["decision"] else None,
            decided_at=parse_time(row["decided_at"]),
            applied_at=parse_time(row["applied_at"]),
        )
        return cls(**values)
