"""The job store: jobs, held duplicates and durable metric counters, on SQLite or PostgreSQL.

This is the one package that knows the schema. Every state change records its
metric events in the same transaction, so a crash leaves both or neither. The
store is an SQLite file (``DATA_DIR/index/comic2pdf.sqlite3``, the default) or
the PostgreSQL database of ``JOB_DB_URL``; the same statements (SQLAlchemy Core,
``text()`` with named parameters) run on both. Claims stay atomic across
processes and hosts: SQLite writes take the file's lock at ``BEGIN IMMEDIATE``;
on PostgreSQL the rows read to be changed are locked (``FOR UPDATE``) and racing
inserts meet a unique key (``ON CONFLICT``).

Threads: a ``JobDB`` opens its connection lazily, on first use, and that
connection belongs to the thread that opened it. Use one ``JobDB`` per thread —
in Prefect, open one inside each task (``with JobDB.from_settings(settings) as
db:``); opening is cheap. Never share one between threads.

The schema version is ``PRAGMA user_version`` on SQLite, a one-row table on
PostgreSQL; to change the schema, append a step to ``MIGRATIONS`` (never edit a
released step).

Modules, one concern each (``JobDB`` in ``db`` is made of their mixins):

- ``records``: the enums and row dataclasses (``Job``, ``Duplicate``, ``ClaimResult``);
- ``schema``: the tables, per database, and ``MIGRATIONS``;
- ``engine``: the store's URL, connecting (WAL, busy timeout, lock timeout), errors in our terms;
- ``connection``: opening and migrating, transactions, the health check;
- ``claims``: claiming a job, requeueing, forced reprocessing;
- ``jobs``: reading jobs, their stages and outcome;
- ``duplicates``: held files and their decisions;
- ``counters``: metric events and histograms, and the data reports read;
- ``meta``: the store's instance id and the last inbox scan.
"""

from comic2pdf.store.db import JobDB
from comic2pdf.store.records import (
    IN_FLIGHT,
    ClaimResult,
    ClaimStatus,
    Duplicate,
    DuplicateAction,
    Job,
    Stage,
    State,
)
from comic2pdf.store.schema import MIGRATIONS, schema_version

__all__ = [
    "IN_FLIGHT",
    "MIGRATIONS",
    "ClaimResult",
    "ClaimStatus",
    "Duplicate",
    "DuplicateAction",
    "Job",
    "JobDB",
    "Stage",
    "State",
    "schema_version",
]
