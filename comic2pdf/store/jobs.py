"""Jobs in the store: reading them, and a run's way through its stages to DONE or FAILED.

Every state change counts its metric events in the same transaction.
"""

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from comic2pdf.store.connection import Database, locked, run
from comic2pdf.store.counters import count_event, observe_value
from comic2pdf.store.records import IN_FLIGHT, Job, Stage, State, timestamp

log = logging.getLogger(__name__)


class JobsMixin(Database):
    """Reading jobs, and recording their stages, attempts and outcome."""

    def get_job(self, job_key: str) -> Job | None:
        with self._read() as conn:
            return select_job(conn, job_key)

    def list_jobs(self, states: Iterable[State | str] | None = None) -> list[Job]:
        """Jobs in the given states (all when None), oldest first."""
        sql = "SELECT * FROM jobs"
        params: dict[str, str] = {}
        if states is not None:
            params = {f"s{n}": State(state) for n, state in enumerate(states)}
            sql += f" WHERE state IN ({', '.join(':' + name for name in params)})"
        with self._read() as conn:
            rows = run(conn, sql + " ORDER BY created_at, job_key", params).mappings().all()
        return [Job.from_row(row) for row in rows]

    def jobs_in_flight(self) -> list[Job]:
        """QUEUED and RUNNING jobs: after a crash, these need recovery."""
        return self.list_jobs(IN_FLIGHT)

    def start_stage(self, job_key: str, stage: Stage | str, *, run_id: str | None = None) -> int:
        """Mark the job RUNNING in ``stage`` and count the attempt; return its number.

        Call it at the start of every attempt (Prefect re-runs the task body on
        retry): attempts after the first are counted in ``<stage>_retries``, so
        do not record those events yourself.
        """
        stage = Stage(stage)
        column = f"attempts_{stage}"
        with self._write() as conn:
            job = existing_job(conn, job_key, lock=True)
            if not job.in_flight:
                raise ValueError(
                    f"job {job_key} is {job.state}; only a job in flight can start {stage}"
                )
            run(
                conn,
                f"UPDATE jobs SET state = :state, stage = :stage, {column} = {column} + 1,"
                " updated_at = :now, run_id = coalesce(:run_id, run_id) WHERE job_key = :key",
                {
                    "state": State.RUNNING,
                    "stage": stage,
                    "now": timestamp(),
                    "run_id": run_id,
                    "key": job_key,
                },
            )
            attempt = job.attempts(stage) + 1
            if attempt > 1:
                count_event(conn, "stage_retries", {"stage": stage})
            return attempt

    def record_attempt(self, stage: Stage | str, *, seconds: float, reason: str | None) -> None:
        """Record the end of one attempt: its duration and, if it failed, why.

        Every attempt counts, the failed and timed-out ones too: a timeout that
        succeeded on retry shows in ``stage_failures{reason="timeout"}``.
        """
        with self._write() as conn:
            observe_value(conn, "stage_duration_seconds", seconds, {"stage": stage})
            if reason is not None:
                count_event(conn, "stage_failures", {"stage": stage, "reason": reason})

    def finish_job(
        self,
        job_key: str,
        *,
        output_path: Path | str,
        pages: int,
        pages_without_text: int,
        input_path: Path | str | None = None,
        pages_skipped: Sequence[str] = (),
    ) -> Job:
        """Record the job DONE with its counters; a job not in flight is left alone.

        ``input_path``, when given, is where the input went (``archive/…``).
        """
        now = timestamp()
        with self._write() as conn:
            job = existing_job(conn, job_key, lock=True)
            if not job.in_flight:
                log.warning(
                    "finish_job(%s): job is already %s; nothing recorded", job_key, job.state
                )
                return job
            run(
                conn,
                "UPDATE jobs SET state = :state, stage = NULL, output_path = :output,"
                " pages = :pages, pages_without_text = :without_text, pages_skipped = :skipped,"
                " error_reason = NULL, error_message = NULL,"
                " input_path = coalesce(:input_path, input_path), updated_at = :now,"
                " finished_at = :now WHERE job_key = :key",
                {
                    "state": State.DONE,
                    "output": str(output_path),
                    "pages": pages,
                    "without_text": pages_without_text,
                    "skipped": json.dumps(list(pages_skipped), ensure_ascii=False),
                    "input_path": _optional_str(input_path),
                    "now": now,
                    "key": job_key,
                },
            )
            count_event(conn, "jobs_done")
            count_event(conn, "pages_processed", value=pages)
            count_event(conn, "pages_without_text", value=pages_without_text)
            observe_value(conn, "pages_per_comic", pages)
            observe_value(
                conn, "job_duration_seconds", _seconds_since(job.claimed_at), {"outcome": "done"}
            )
            return existing_job(conn, job_key)

    def fail_job(
        self,
        job_key: str,
        *,
        stage: Stage | str,
        reason: str,
        message: str,
        input_path: Path | str | None = None,
    ) -> Job:
        """Record the job FAILED in ``stage`` for ``reason`` (a code from ``errors.REASONS``).

        Counted in ``jobs_failed{stage, reason}``; a job not in flight is left
        alone. ``input_path``, when given, is where the input went (``error/…``).
        """
        stage = Stage(stage)
        now = timestamp()
        with self._write() as conn:
            job = existing_job(conn, job_key, lock=True)
            if not job.in_flight:
                log.warning("fail_job(%s): job is already %s; nothing recorded", job_key, job.state)
                return job
            run(
                conn,
                "UPDATE jobs SET state = :state, stage = :stage, error_reason = :reason,"
                " error_message = :message, input_path = coalesce(:input_path, input_path),"
                " updated_at = :now, finished_at = :now WHERE job_key = :key",
                {
                    "state": State.FAILED,
                    "stage": stage,
                    "reason": reason,
                    "message": message,
                    "input_path": _optional_str(input_path),
                    "now": now,
                    "key": job_key,
                },
            )
            count_event(conn, "jobs_failed", {"stage": stage, "reason": reason})
            observe_value(
                conn, "job_duration_seconds", _seconds_since(job.claimed_at), {"outcome": "error"}
            )
            return existing_job(conn, job_key)

    def set_input_path(self, job_key: str, input_path: Path | str) -> None:
        """Record where the input is now, after moving it."""
        with self._write() as conn:
            existing_job(conn, job_key, lock=True)
            run(
                conn,
                "UPDATE jobs SET input_path = :input_path, updated_at = :now WHERE job_key = :key",
                {"input_path": str(input_path), "now": timestamp(), "key": job_key},
            )


# --- statements used inside transactions ------------------------------------------------------


def select_job(conn: Connection, job_key: str, *, lock: bool = False) -> Job | None:
    """The job, or None; *lock* (in a write) keeps other writers off its row until commit."""
    sql = "SELECT * FROM jobs WHERE job_key = :key" + (locked(conn) if lock else "")
    row = run(conn, sql, {"key": job_key}).mappings().first()
    return Job.from_row(row) if row else None


def existing_job(conn: Connection, job_key: str, *, lock: bool = False) -> Job:
    job = select_job(conn, job_key, lock=lock)
    if job is None:
        raise KeyError(f"no job {job_key} in the job database")
    return job


def _optional_str(value: Path | str | None) -> str | None:
    return None if value is None else str(value)


def _seconds_since(moment: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())
