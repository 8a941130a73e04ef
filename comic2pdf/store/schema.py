"""The schema of the job store and the steps that bring an older file up to it.

The schema version is ``PRAGMA user_version``; to change the schema, append a
step to ``MIGRATIONS`` (never edit a released step). :func:`upgrade` runs the
missing steps; the caller holds the write transaction.
"""

import logging
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from comic2pdf.errors import SettingsError

log = logging.getLogger(__name__)

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


def upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Run the steps the file at *path* lacks, inside the caller's write transaction."""
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
