"""Claims in the store: taking a job for a run, atomically across processes.

A new input is claimed, a FAILED job again as its next generation, a held
duplicate by a forced reprocess; a job left in flight by a crash goes back to
the queue.
"""

from pathlib import Path

from sqlalchemy import Connection

from comic2pdf.errors import DecisionError
from comic2pdf.store.connection import Database, run
from comic2pdf.store.counters import count_event
from comic2pdf.store.jobs import existing_job, select_job
from comic2pdf.store.records import ClaimResult, ClaimStatus, Job, State, timestamp


class ClaimsMixin(Database):
    """Claiming jobs, requeueing them after a crash, and reprocessing them on a decision."""

    def claim_job(
        self,
        job_key: str,
        *,
        input_name: str,
        input_path: Path | str,
        input_size: int,
        file_sha256: str,
        profile_sha256: str,
        profile_json: str,
        run_id: str | None = None,
    ) -> ClaimResult:
        """Claim ``job_key`` for conversion, atomically across processes.

        A job DONE or in flight makes this input a duplicate (counted in
        ``duplicates_detected``); the existing row is returned. An absent or
        FAILED job is (re)queued as QUEUED and returned as claimed; a failed one
        gets the next generation.

        On PostgreSQL the job's row is locked while it is decided, and an insert
        racing another process's falls back on the row that process committed.
        """
        now = timestamp()
        fields = {
            "input_name": input_name,
            "input_path": str(input_path),
            "input_size": input_size,
            "file_sha256": file_sha256,
            "profile_sha256": profile_sha256,
            "profile_json": profile_json,
            "run_id": run_id,
        }
        with self._write() as conn:
            existing = select_job(conn, job_key, lock=True)
            if existing is None and not _insert_job(conn, job_key, fields, now):
                existing = existing_job(conn, job_key, lock=True)  # another process's, now
            if existing is not None and existing.state is not State.FAILED:
                count_event(conn, "duplicates_detected")
                return ClaimResult(ClaimStatus.DUPLICATE, existing)
            if existing is not None:
                _requeue_as_new_run(conn, job_key, fields, now)
            count_event(conn, "jobs_claimed")
            return ClaimResult(ClaimStatus.CLAIMED, existing_job(conn, job_key))

    def requeue(self, job_key: str) -> bool:
        """Put a job in flight back to QUEUED (crash recovery); False if it is not in flight."""
        with self._write() as conn:
            cursor = run(
                conn,
                "UPDATE jobs SET state = :queued, stage = NULL, updated_at = :now"
                " WHERE job_key = :key AND state IN (:queued, :running)",
                {
                    "queued": State.QUEUED,
                    "running": State.RUNNING,
                    "now": timestamp(),
                    "key": job_key,
                },
            )
            if cursor.rowcount == 0:
                return False
            count_event(conn, "jobs_requeued")
            return True

    def force_reprocess(
        self,
        job_key: str,
        *,
        input_name: str,
        input_path: Path | str,
        run_id: str | None = None,
    ) -> Job:
        """Queue a DONE or FAILED job again for the held input, as a new generation.

        This is the claim of a FORCE_REPROCESS run: the returned job is QUEUED.

        Raises:
            DecisionError: the job is absent or still in flight.
        """
        now = timestamp()
        with self._write() as conn:
            job = select_job(conn, job_key, lock=True)
            if job is None or job.in_flight:
                state = "unknown" if job is None else f"still {job.state}"
                raise DecisionError(
                    f"cannot reprocess job {job_key}: it is {state}; decide "
                    "again once it has finished"
                )
            fields = {
                "input_name": input_name,
                "input_path": str(input_path),
                "input_size": job.input_size,
                "file_sha256": job.file_sha256,
                "profile_sha256": job.profile_sha256,
                "profile_json": job.profile_json,
                "run_id": run_id,
            }
            _requeue_as_new_run(conn, job_key, fields, now)
            count_event(conn, "jobs_claimed")
            return existing_job(conn, job_key)


# --- statements used inside transactions ------------------------------------------------------


def _insert_job(conn: Connection, job_key: str, fields: dict, now: str) -> bool:
    """Insert the job as QUEUED; False when another process inserted it first."""
    cursor = run(
        conn,
        "INSERT INTO jobs (job_key, input_name, input_path, input_size, file_sha256,"
        " profile_sha256, profile_json, run_id, state, created_at, claimed_at, updated_at)"
        " VALUES (:job_key, :input_name, :input_path, :input_size, :file_sha256,"
        " :profile_sha256, :profile_json, :run_id, :state, :now, :now, :now)"
        " ON CONFLICT (job_key) DO NOTHING",
        {**fields, "job_key": job_key, "state": State.QUEUED, "now": now},
    )
    return cursor.rowcount == 1


def _requeue_as_new_run(conn: Connection, job_key: str, fields: dict, now: str) -> None:
    # A new generation tells this run (its work dir, its results) from the last one.
    run(
        conn,
        "UPDATE jobs SET input_name = :input_name, input_path = :input_path,"
        " input_size = :input_size, file_sha256 = :file_sha256,"
        " profile_sha256 = :profile_sha256, profile_json = :profile_json, run_id = :run_id,"
        " state = :state, stage = NULL, attempts_prep = 0, attempts_ocr = 0,"
        " attempts_finalize = 0, output_path = NULL, pages = NULL, pages_without_text = NULL,"
        " error_reason = NULL, error_message = NULL, claimed_at = :now, updated_at = :now,"
        " finished_at = NULL, generation = generation + 1 WHERE job_key = :job_key",
        {**fields, "job_key": job_key, "state": State.QUEUED, "now": now},
    )
