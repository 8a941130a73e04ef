"""The job database: jobs, held duplicates and durable metric counters in one SQLite file.

This is the one module that knows the schema. Every state change records its
metric events in the same transaction, so a crash leaves both or neither.
Writes use ``BEGIN IMMEDIATE``: writers queue on the database lock (up to
``busy_timeout`` seconds) instead of failing half-way, which also makes
:meth:`JobDB.claim_job` atomic across processes and machines sharing the file.

Threads: a ``JobDB`` opens its connection lazily, on first use, and that
connection belongs to the thread that opened it. Use one ``JobDB`` per thread —
in Prefect, open one inside each task (``with JobDB(settings.db_path) as db:``);
opening is cheap. Never share one between threads.

The schema version is ``PRAGMA user_version``; to change the schema, append a
step to ``MIGRATIONS`` (never edit a released step).
"""

import json
import logging
import math
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from comic2pdf.errors import (
    DatabaseBusy,
    DecisionError,
    DiskError,
    NotWritable,
    SettingsError,
    StoreMissing,
)
from comic2pdf.metrics import definitions as metrics
from comic2pdf.metrics.definitions import MetricData

log = logging.getLogger(__name__)


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


# --- rows ----------------------------------------------------------------------------


def _now() -> str:
    # One fixed format, so timestamps also sort as text (max(finished_at)).
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
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
    def from_row(cls, row: sqlite3.Row) -> "Job":
        values = dict(row)
        values.update(
            pages_skipped=tuple(json.loads(row["pages_skipped"] or "[]")),
            input_path=Path(row["input_path"]),
            state=State(row["state"]),
            stage=Stage(row["stage"]) if row["stage"] else None,
            output_path=_path(row["output_path"]),
            created_at=_time(row["created_at"]),
            claimed_at=_time(row["claimed_at"]),
            updated_at=_time(row["updated_at"]),
            finished_at=_time(row["finished_at"]),
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
    def from_row(cls, row: sqlite3.Row) -> "Duplicate":
        values = dict(row)
        values.update(
            held_path=Path(row["held_path"]),
            detected_at=_time(row["detected_at"]),
            decision=DuplicateAction(row["decision"]) if row["decision"] else None,
            decided_at=_time(row["decided_at"]),
            applied_at=_time(row["applied_at"]),
        )
        return cls(**values)


# --- schema --------------------------------------------------------------------------

_SCHEMA_V1 = (
    """
    CREATE TABLE jobs (
        job_key            TEXT PRIMARY KEY,
        input_name         TEXT NOT NULL,
        input_path         TEXT NOT NULL,
        input_size         INTEGER NOT NULL,
        file_sha256        TEXT NOT NULL,
        profile_sha256     TEXT NOT NULL,
        profile_json       TEXT NOT NULL,
        state              TEXT NOT NULL
                           CHECK (state IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED')),
        stage              TEXT CHECK (stage IN ('prep', 'ocr', 'finalize')),
        attempts_prep      INTEGER NOT NULL DEFAULT 0,
        attempts_ocr       INTEGER NOT NULL DEFAULT 0,
        attempts_finalize  INTEGER NOT NULL DEFAULT 0,
        output_path        TEXT,
        pages              INTEGER,
        pages_without_text INTEGER,
        error_reason       TEXT,
        error_message      TEXT,
        created_at         TEXT NOT NULL,
        claimed_at         TEXT NOT NULL,
        updated_at         TEXT NOT NULL,
        finished_at        TEXT,
        run_id             TEXT,
        generation         INTEGER NOT NULL DEFAULT 1
    )
    """,
    "CREATE INDEX jobs_by_state ON jobs (state, stage)",
    """
    CREATE TABLE counters (
        name        TEXT NOT NULL,
        labels_json TEXT NOT NULL,
        value       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (name, labels_json)
    ) WITHOUT ROWID
    """,
    # One row per histogram series, so the size stays bounded whatever the
    # number of observations: per-bucket (not cumulative) counts keyed by the
    # bucket's upper bound, plus count and sum.
    """
    CREATE TABLE observations (
        name         TEXT NOT NULL,
        labels_json  TEXT NOT NULL,
        buckets_json TEXT NOT NULL,
        count        INTEGER NOT NULL,
        sum          REAL NOT NULL,
        PRIMARY KEY (name, labels_json)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE duplicates (
        id            INTEGER PRIMARY KEY,
        job_key       TEXT NOT NULL,
        held_path     TEXT NOT NULL UNIQUE,
        incoming_name TEXT NOT NULL,
        detected_at   TEXT NOT NULL,
        decision      TEXT CHECK (decision IN
                          ('USE_EXISTING_RESULT', 'DISCARD', 'FORCE_REPROCESS')),
        decided_at    TEXT,
        applied_at    TEXT,
        error         TEXT
    )
    """,
    "CREATE INDEX duplicates_by_job ON duplicates (job_key)",
)


def _schema_v1(conn: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would COMMIT our transaction.
    for statement in _SCHEMA_V1:
        conn.execute(statement)


def _schema_v2(conn: sqlite3.Connection) -> None:
    # Facts about the store itself. instance_id names this data folder in the
    # metrics' grouping key: stable wherever the folder is mounted (issue #15).
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute("INSERT INTO meta VALUES ('instance_id', ?)", (uuid.uuid4().hex[:12],))


def _pages_skipped(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE jobs ADD COLUMN pages_skipped TEXT")  # JSON list of "entry: reason"


#: Step N brings the schema from version N to N + 1. Append, never edit.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _schema_v1,
    _schema_v2,
    _pages_skipped,
)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if schema_version(conn) == len(MIGRATIONS):
        return
    with _transaction(conn, write=True):
        # Read again under the write lock: another process may have migrated.
        version = schema_version(conn)
        if version > len(MIGRATIONS):
            raise SettingsError(
                f"{path} has schema version {version}, newer than this comic2pdf knows "
                f"({len(MIGRATIONS)}); upgrade comic2pdf or point DATA_DIR elsewhere"
            )
        for number in range(version, len(MIGRATIONS)):
            log.info("migrating %s to schema version %d", path, number + 1)
            MIGRATIONS[number](conn)
            conn.execute(f"PRAGMA user_version = {number + 1}")


@contextmanager
def _transaction(conn: sqlite3.Connection, *, write: bool) -> Iterator[sqlite3.Connection]:
    # IMMEDIATE takes the write lock at BEGIN, so a writer waits for it (busy
    # timeout) up front instead of failing after it has read stale rows.
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (some errors do), or COMMIT
        # itself failed and left the transaction open.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _error_code(error: sqlite3.Error) -> int:
    return getattr(error, "sqlite_errorcode", 0) & 0xFF  # primary code of an extended one


# --- the database ------------------------------------------------------------------------


#: Pause between attempts to switch a new database file to WAL.
WAL_RETRY_SECONDS = 0.05


def _enable_wal(conn: sqlite3.Connection, *, deadline: float) -> str:
    """Switch the file to WAL (it stays so) and return the journal mode in force.

    Changing the journal mode needs an exclusive lock and does not wait on the
    busy handler: when several processes open a new database at once, all but
    one get "database is locked" at once. Read the mode first (WAL is kept in
    the file) and retry the switch until the busy timeout.
    """
    while True:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() == "wal":
            return mode
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_SECONDS)


class JobDB:
    """The job database at ``path``; a context manager. One thread at a time (see module doc).

    ``create=False`` is for reporting: a missing file raises StoreMissing
    instead of becoming a new empty database whose zeros would be published.
    """

    def __init__(
        self, path: Path | str, *, busy_timeout: float = 30.0, create: bool = True
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.create = create
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> "JobDB":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- connection and transactions ---------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if not self.create and not self.path.is_file():
            raise StoreMissing(
                f"no job store at {self.path}; is DATA_DIR (or --data-dir) the data folder "
                "comic2pdf works in? Nothing is reported from an empty one"
            )
        with self._unwritable_is_clear():
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            mode = _enable_wal(conn, deadline=time.monotonic() + self.busy_timeout)
            if mode.lower() != "wal":
                log.warning(
                    "%s: journal mode is %s, not WAL (network file system?)", self.path, mode
                )
            # FULL: a committed DONE must survive a power cut, or the comic is
            # converted again; we write a few rows per comic, so it costs nothing.
            conn.execute("PRAGMA synchronous=FULL")
            _migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _unwritable_is_clear(self) -> Iterator[None]:
        # SQLite needs to write beside the file (WAL, shared memory) even to read.
        try:
            yield
        except (PermissionError, sqlite3.OperationalError) as e:
            text = str(e)
            if isinstance(e, sqlite3.OperationalError) and not (
                "readonly" in text or "unable to open" in text
            ):
                raise
            raise NotWritable(
                f"cannot open the job store {self.path} for writing: {text}; make "
                f"{self.path.parent} writable by the user running comic2pdf"
            ) from e

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            code = _error_code(e)
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise DatabaseBusy(
                    f"the job database stayed locked for {self.busy_timeout:g} s: {e}; another "
                    "comic2pdf process holds it, retry later",
                    path=self.path,
                ) from e
            if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
                raise DiskError(
                    f"cannot write the job database: {e}; free disk space", path=self.path
                ) from e
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._translated_errors(), _transaction(self._connection(), write=True) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._translated_errors(), _transaction(self._connection(), write=False) as conn:
            yield conn

    # --- jobs ------------------------------------------------------------------------

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
        """
        now = _now()
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
            existing = _select_job(conn, job_key)
            if existing is not None and existing.state is not State.FAILED:
                _count(conn, "duplicates_detected")
                return ClaimResult(ClaimStatus.DUPLICATE, existing)
            if existing is None:
                _insert_job(conn, job_key, fields, now)
            else:
                _requeue_as_new_run(conn, job_key, fields, now)
            _count(conn, "jobs_claimed")
            return ClaimResult(ClaimStatus.CLAIMED, _existing_job(conn, job_key))

    def start_stage(self, job_key: str, stage: Stage | str, *, run_id: str | None = None) -> int:
        """Mark the job RUNNING in ``stage`` and count the attempt; return its number.

        Call it at the start of every attempt (Prefect re-runs the task body on
        retry): attempts after the first are counted in ``<stage>_retries``, so
        do not record those events yourself.
        """
        stage = Stage(stage)
        column = f"attempts_{stage}"
        with self._write() as conn:
            job = _existing_job(conn, job_key)
            if not job.in_flight:
                raise ValueError(
                    f"job {job_key} is {job.state}; only a job in flight can start {stage}"
                )
            conn.execute(
                f"UPDATE jobs SET state = ?, stage = ?, {column} = {column} + 1, updated_at = ?,"
                " run_id = coalesce(?, run_id) WHERE job_key = ?",
                (State.RUNNING, stage, _now(), run_id, job_key),
            )
            attempt = job.attempts(stage) + 1
            if attempt > 1:
                _count(conn, "stage_retries", {"stage": stage})
            return attempt

    def record_attempt(self, stage: Stage | str, *, seconds: float, reason: str | None) -> None:
        """Record the end of one attempt: its duration and, if it failed, why.

        Every attempt counts, the failed and timed-out ones too: a timeout that
        succeeded on retry shows in ``stage_failures{reason="timeout"}``.
        """
        with self._write() as conn:
            _observe(conn, "stage_duration_seconds", seconds, {"stage": stage})
            if reason is not None:
                _count(conn, "stage_failures", {"stage": stage, "reason": reason})

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
        now = _now()
        with self._write() as conn:
            job = _existing_job(conn, job_key)
            if not job.in_flight:
                log.warning(
                    "finish_job(%s): job is already %s; nothing recorded", job_key, job.state
                )
                return job
            conn.execute(
                "UPDATE jobs SET state = ?, stage = NULL, output_path = ?, pages = ?,"
                " pages_without_text = ?, pages_skipped = ?, error_reason = NULL,"
                " error_message = NULL,"
                " input_path = coalesce(?, input_path), updated_at = ?, finished_at = ?"
                " WHERE job_key = ?",
                (
                    State.DONE,
                    str(output_path),
                    pages,
                    pages_without_text,
                    json.dumps(list(pages_skipped), ensure_ascii=False),
                    _optional_str(input_path),
                    now,
                    now,
                    job_key,
                ),
            )
            _count(conn, "jobs_done")
            _count(conn, "pages_processed", value=pages)
            _count(conn, "pages_without_text", value=pages_without_text)
            _observe(conn, "pages_per_comic", pages)
            _observe(
                conn, "job_duration_seconds", _seconds_since(job.claimed_at), {"outcome": "done"}
            )
            return _existing_job(conn, job_key)

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
        now = _now()
        with self._write() as conn:
            job = _existing_job(conn, job_key)
            if not job.in_flight:
                log.warning("fail_job(%s): job is already %s; nothing recorded", job_key, job.state)
                return job
            conn.execute(
                "UPDATE jobs SET state = ?, stage = ?, error_reason = ?, error_message = ?,"
                " input_path = coalesce(?, input_path), updated_at = ?, finished_at = ?"
                " WHERE job_key = ?",
                (
                    State.FAILED,
                    stage,
                    reason,
                    message,
                    _optional_str(input_path),
                    now,
                    now,
                    job_key,
                ),
            )
            _count(conn, "jobs_failed", {"stage": stage, "reason": reason})
            _observe(
                conn, "job_duration_seconds", _seconds_since(job.claimed_at), {"outcome": "error"}
            )
            return _existing_job(conn, job_key)

    def set_input_path(self, job_key: str, input_path: Path | str) -> None:
        """Record where the input is now, after moving it."""
        with self._write() as conn:
            _existing_job(conn, job_key)
            conn.execute(
                "UPDATE jobs SET input_path = ?, updated_at = ? WHERE job_key = ?",
                (str(input_path), _now(), job_key),
            )

    def requeue(self, job_key: str) -> bool:
        """Put a job in flight back to QUEUED (crash recovery); False if it is not in flight."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, stage = NULL, updated_at = ?"
                " WHERE job_key = ? AND state IN (?, ?)",
                (State.QUEUED, _now(), job_key, *IN_FLIGHT),
            )
            if cursor.rowcount == 0:
                return False
            _count(conn, "jobs_requeued")
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
        now = _now()
        with self._write() as conn:
            job = _select_job(conn, job_key)
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
            _count(conn, "jobs_claimed")
            return _existing_job(conn, job_key)

    def get_job(self, job_key: str) -> Job | None:
        with self._read() as conn:
            return _select_job(conn, job_key)

    def list_jobs(self, states: Iterable[State | str] | None = None) -> list[Job]:
        """Jobs in the given states (all when None), oldest first."""
        sql = "SELECT * FROM jobs"
        params: list[str] = []
        if states is not None:
            params = [State(state) for state in states]
            sql += f" WHERE state IN ({', '.join('?' * len(params))})"
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, job_key", params).fetchall()
        return [Job.from_row(row) for row in rows]

    def jobs_in_flight(self) -> list[Job]:
        """QUEUED and RUNNING jobs: after a crash, these need recovery."""
        return self.list_jobs(IN_FLIGHT)

    # --- duplicates ----------------------------------------------------------------------

    def add_duplicate(
        self, job_key: str, *, held_path: Path | str, incoming_name: str
    ) -> Duplicate:
        """Record a held file; adding the same ``held_path`` again returns the existing row."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO duplicates (job_key, held_path, incoming_name, detected_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (held_path) DO NOTHING",
                (job_key, str(held_path), incoming_name, _now()),
            )
            return _existing_duplicate(conn, held_path)

    def list_duplicates(
        self, *, pending_only: bool = True, job_key: str | None = None
    ) -> list[Duplicate]:
        """Held files, oldest first; pending = no decision applied yet (decided or not)."""
        conditions = []
        params: list[str] = []
        if pending_only:
            conditions.append("applied_at IS NULL")
        if job_key is not None:
            conditions.append("job_key = ?")
            params.append(job_key)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT * FROM duplicates{where} ORDER BY detected_at, id", params
            ).fetchall()
        return [Duplicate.from_row(row) for row in rows]

    def decide_duplicate(self, held: int | Path | str, action: DuplicateAction | str) -> Duplicate:
        """Record the decision for a held file (by id or held path); it may change until applied.

        Raises:
            DecisionError: unknown action or held file, or a decision already applied.
        """
        try:
            action = DuplicateAction(action)
        except ValueError as e:
            allowed = ", ".join(DuplicateAction)
            raise DecisionError(f"unknown action {action!r}; use one of {allowed}") from e
        with self._write() as conn:
            duplicate = _existing_duplicate(conn, held)
            if duplicate.applied_at is not None:
                raise DecisionError(
                    f"{duplicate.held_path}: decision {duplicate.decision} was already applied"
                )
            conn.execute(
                "UPDATE duplicates SET decision = ?, decided_at = ?, error = NULL WHERE id = ?",
                (action, _now(), duplicate.id),
            )
            return _existing_duplicate(conn, duplicate.id)

    def mark_duplicate_applied(self, held: int | Path | str) -> bool:
        """Record the decision applied; True the first time, False if it already was.

        Counted in ``duplicates_resolved{action}`` once.

        Raises:
            DecisionError: unknown held file, or no decision yet.
        """
        with self._write() as conn:
            duplicate = _existing_duplicate(conn, held)
            if duplicate.decision is None:
                raise DecisionError(f"{duplicate.held_path}: no decision to apply yet")
            cursor = conn.execute(
                "UPDATE duplicates SET applied_at = ?, error = NULL"
                " WHERE id = ? AND applied_at IS NULL",
                (_now(), duplicate.id),
            )
            if cursor.rowcount == 0:
                return False
            _count(conn, "duplicates_resolved", {"action": duplicate.decision})
            return True

    def record_duplicate_error(self, held: int | Path | str, message: str) -> None:
        """Record why applying a decision failed; the duplicate stays pending."""
        with self._write() as conn:
            duplicate = _existing_duplicate(conn, held)
            conn.execute("UPDATE duplicates SET error = ? WHERE id = ?", (message, duplicate.id))

    # --- metrics -------------------------------------------------------------------------

    def record_event(
        self, name: str, *, labels: Mapping[str, object] | None = None, value: int = 1
    ) -> None:
        """Add ``value`` to the counter ``name`` (see ``metrics.METRICS``).

        An unknown name is logged and ignored; an unknown label value counts as
        ``other``.
        """
        if metrics.event_metric(name, metrics.Kind.COUNTER) is None:
            return
        if value < 0:
            log.warning("ignoring negative increment %s of counter %s", value, name)
            return
        with self._write() as conn:
            _count(conn, name, labels, value)

    def observe(
        self, name: str, value: float, *, labels: Mapping[str, object] | None = None
    ) -> None:
        """Add one observation to the histogram ``name`` (durations in seconds, page counts)."""
        if metrics.event_metric(name, metrics.Kind.HISTOGRAM) is None:
            return
        if not math.isfinite(value):
            log.warning("ignoring non-finite observation %s of %s", value, name)
            return
        with self._write() as conn:
            _observe(conn, name, value, labels)

    def record_scan(self, *, interval: float) -> None:
        """Record that an inbox scan just ended; *interval* is the scanner's SCAN_INTERVAL."""
        with self._write() as conn:
            _set_meta(conn, "last_scan_at", _now())
            _set_meta(conn, "scan_interval_seconds", str(interval))

    def instance_id(self) -> str:
        """The stable id of this store (and so of its data folder), made when it was created."""
        with self._read() as conn:
            return _meta(conn)["instance_id"]

    def counter_values(self) -> dict[str, int]:
        """Every counter, summed over its labels."""
        with self._read() as conn:
            rows = conn.execute("SELECT name, sum(value) FROM counters GROUP BY name").fetchall()
        return {name: total for name, total in rows}

    def metric_data(self) -> MetricData:
        """Counters, histograms and gauges of the store, read in one consistent transaction."""
        with self._read() as conn:
            meta = _meta(conn)
            pending = "FROM duplicates WHERE applied_at IS NULL"
            interval = meta.get("scan_interval_seconds")
            return MetricData(
                read_at=datetime.now(UTC),
                counters=_read_counters(conn),
                histograms=_read_histograms(conn),
                running=_running_by_stage(conn),
                queued=_value(conn, "SELECT count(*) FROM jobs WHERE state = ?", State.QUEUED),
                oldest_in_flight=_time(
                    _value(
                        conn, "SELECT min(claimed_at) FROM jobs WHERE state IN (?, ?)", *IN_FLIGHT
                    )
                ),
                duplicates_pending=_value(conn, f"SELECT count(*) {pending}"),
                oldest_duplicate=_time(_value(conn, f"SELECT min(detected_at) {pending}")),
                last_success=_time(
                    _value(conn, "SELECT max(finished_at) FROM jobs WHERE state = ?", State.DONE)
                ),
                last_scan=_time(meta.get("last_scan_at")),
                scan_interval=float(interval) if interval else None,
            )

    # --- health --------------------------------------------------------------------------

    def integrity_ok(self) -> bool:
        """True when ``PRAGMA integrity_check`` finds nothing wrong."""
        try:
            with self._translated_errors():
                rows = self._connection().execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as e:
            # A file that is not a database at all is the worst integrity
            # failure, not a crash of the check.
            log.error("%s: integrity check failed: %s", self.path, e)
            return False
        problems = [row[0] for row in rows if row[0] != "ok"]
        for problem in problems:
            log.error("%s: integrity check: %s", self.path, problem)
        return not problems


# --- statements used inside transactions ------------------------------------------------------


def _optional_str(value: Path | str | None) -> str | None:
    return None if value is None else str(value)


def _seconds_since(moment: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def _select_job(conn: sqlite3.Connection, job_key: str) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE job_key = ?", (job_key,)).fetchone()
    return Job.from_row(row) if row else None


def _existing_job(conn: sqlite3.Connection, job_key: str) -> Job:
    job = _select_job(conn, job_key)
    if job is None:
        raise KeyError(f"no job {job_key} in the job database")
    return job


def _insert_job(conn: sqlite3.Connection, job_key: str, fields: dict, now: str) -> None:
    conn.execute(
        "INSERT INTO jobs (job_key, input_name, input_path, input_size, file_sha256,"
        " profile_sha256, profile_json, run_id, state, created_at, claimed_at, updated_at)"
        " VALUES (:job_key, :input_name, :input_path, :input_size, :file_sha256,"
        " :profile_sha256, :profile_json, :run_id, :state, :now, :now, :now)",
        {**fields, "job_key": job_key, "state": State.QUEUED, "now": now},
    )


def _requeue_as_new_run(conn: sqlite3.Connection, job_key: str, fields: dict, now: str) -> None:
    # A new generation tells this run (its work dir, its results) from the last one.
    conn.execute(
        "UPDATE jobs SET input_name = :input_name, input_path = :input_path,"
        " input_size = :input_size, file_sha256 = :file_sha256,"
        " profile_sha256 = :profile_sha256, profile_json = :profile_json, run_id = :run_id,"
        " state = :state, stage = NULL, attempts_prep = 0, attempts_ocr = 0,"
        " attempts_finalize = 0, output_path = NULL, pages = NULL, pages_without_text = NULL,"
        " error_reason = NULL, error_message = NULL, claimed_at = :now, updated_at = :now,"
        " finished_at = NULL, generation = generation + 1 WHERE job_key = :job_key",
        {**fields, "job_key": job_key, "state": State.QUEUED, "now": now},
    )


def _existing_duplicate(conn: sqlite3.Connection, held: int | Path | str) -> Duplicate:
    if isinstance(held, int):
        row = conn.execute("SELECT * FROM duplicates WHERE id = ?", (held,)).fetchone()
    else:
        row = conn.execute("SELECT * FROM duplicates WHERE held_path = ?", (str(held),)).fetchone()
    if row is None:
        raise DecisionError(f"no held duplicate {held}; see 'comic2pdf duplicates list'")
    return Duplicate.from_row(row)


def _count(
    conn: sqlite3.Connection,
    name: str,
    labels: Mapping[str, object] | None = None,
    value: int = 1,
) -> None:
    metric = metrics.event_metric(name, metrics.Kind.COUNTER)
    if metric is None:
        return
    key = metrics.labels_key(metrics.clean_labels(metric, labels))
    conn.execute(
        "INSERT INTO counters (name, labels_json, value) VALUES (?, ?, ?)"
        " ON CONFLICT (name, labels_json) DO UPDATE SET value = value + excluded.value",
        (name, key, int(value)),
    )


def _observe(
    conn: sqlite3.Connection, name: str, value: float, labels: Mapping[str, object] | None = None
) -> None:
    metric = metrics.event_metric(name, metrics.Kind.HISTOGRAM)
    if metric is None:
        return
    key = metrics.labels_key(metrics.clean_labels(metric, labels))
    row = conn.execute(
        "SELECT buckets_json, count, sum FROM observations WHERE name = ? AND labels_json = ?",
        (name, key),
    ).fetchone()
    buckets, count, total = ({}, 0, 0.0) if row is None else (json.loads(row[0]), row[1], row[2])
    bucket = metrics.bucket_of(metric, value)
    buckets[bucket] = buckets.get(bucket, 0) + 1
    conn.execute(
        "INSERT OR REPLACE INTO observations (name, labels_json, buckets_json, count, sum)"
        " VALUES (?, ?, ?, ?, ?)",
        (name, key, json.dumps(buckets, sort_keys=True), count + 1, total + value),
    )


def _read_counters(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    counters: dict[str, dict[str, int]] = {}
    for name, key, value in conn.execute("SELECT name, labels_json, value FROM counters"):
        counters.setdefault(name, {})[key] = value
    return counters


def _read_histograms(
    conn: sqlite3.Connection,
) -> dict[str, dict[str, tuple[dict[str, int], int, float]]]:
    histograms: dict[str, dict[str, tuple[dict[str, int], int, float]]] = {}
    rows = conn.execute("SELECT name, labels_json, buckets_json, count, sum FROM observations")
    for name, key, buckets, count, total in rows:
        histograms.setdefault(name, {})[key] = (json.loads(buckets), count, total)
    return histograms


def _running_by_stage(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT stage, count(*) FROM jobs WHERE state = ? GROUP BY stage", (State.RUNNING,)
    )
    return {stage: n for stage, n in rows}


def _value(conn: sqlite3.Connection, sql: str, *params: str):
    return conn.execute(sql, params).fetchone()[0]


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
