"""The job store: jobs, held duplicates and durable metric counters in one SQLite file.

This is the one package that knows the schema. Every state change records its
metric events in the same transaction, so a crash leaves both or neither.
Writes use ``BEGIN IMMEDIATE``: writers queue on the database lock (up to
``busy_timeout`` seconds) instead of failing half-way, which also makes
:meth:`JobDB.claim_job` atomic across processes and machines sharing the file.

Threads: a ``JobDB`` opens its connection lazily, on first use, and that
connection belongs to the thread that opened it. Use one ``JobDB`` per thread —
in Prefect, open one inside each task (``with JobDB.from_settings(settings) as db:``);
opening is cheap. Never share one between threads.

The schema version is ``PRAGMA user_version``; to change the schema, append a
step to ``MIGRATIONS`` (never edit a released step).

Modules, one concern each (``JobDB`` in ``db`` is made of their mixins):

- ``records``: the enums and row dataclasses (``Job``, ``Duplicate``, ``ClaimResult``);
- ``schema``: the tables and ``MIGRATIONS``;
- ``connection``: opening the file (WAL, busy timeout, migrating), transactions, errors;
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
