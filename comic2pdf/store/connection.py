"""Opening the job store, and the transactions every store method runs in.

On SQLite, writes use ``BEGIN IMMEDIATE``: writers queue on the database lock
(up to ``busy_timeout`` seconds) instead of failing half-way, which also makes
:meth:`JobDB.claim_job` atomic across processes sharing the file. PostgreSQL
has no such lock: the statements that read a row to change it lock that row
(:func:`locked`), and inserts that may race use unique keys with
``ON CONFLICT``. Reads see one snapshot on both.

A connection opens lazily, on first use, and belongs to the thread that opened
it (see the package doc).
"""

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlalchemy import URL, Connection, CursorResult, exc, text

from comic2pdf.errors import DatabaseUnreachable, NotWritable, StoreMissing
from comic2pdf.store.engine import engine_for, shown, store_url, translated_errors
from comic2pdf.store.schema import MIGRATIONS, schema_version, upgrade

log = logging.getLogger(__name__)


def run(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> CursorResult:
    """Execute *sql* with ``:name`` parameters."""
    return conn.execute(text(sql), dict(params or {}))


def locked(conn: Connection) -> str:
    """The clause that locks the rows a write transaction reads (SQLite's whole file already is)."""
    return " FOR UPDATE" if conn.dialect.name == "postgresql" else ""


@contextmanager
def transaction(conn: Connection, *, write: bool) -> Iterator[Connection]:
    with conn.begin():
        if conn.dialect.name == "sqlite":
            # IMMEDIATE takes the write lock at BEGIN, so a writer waits for it (busy
            # timeout) up front instead of failing after it has read stale rows.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
        elif not write:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield conn


class Database:
    """The store at ``location`` (a path or URL): its lazy connection, transactions and health.

    The base of :class:`JobDB`, whose mixins run their statements in
    :meth:`_write` and :meth:`_read`.
    """

    def __init__(
        self, location: Path | str | URL, *, busy_timeout: float = 30.0, create: bool = True
    ) -> None:
        self.url = store_url(location)
        #: The SQLite file, or None on PostgreSQL.
        self.path = Path(self.url.database or "") if self.is_sqlite else None
        self.busy_timeout = busy_timeout
        self.create = create
        self._conn: Connection | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def where(self) -> str:
        """The store, for messages: its file, or its URL without the password."""
        return str(self.path) if self.path is not None else shown(self.url)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- connection and transactions ---------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> Connection:
        if self.path is not None:
            if not self.create and not self.path.is_file():
                raise self._missing("no job store at")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._unwritable_is_clear(), self._translated_errors():
            conn = engine_for(self.url, self.busy_timeout).connect()
            try:
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _migrate(self, conn: Connection) -> None:
        with transaction(conn, write=False):
            version = schema_version(conn)
        if version == len(MIGRATIONS):
            return
        if version == 0 and not self.create:
            raise self._missing("no job store (an empty database) at")
        with transaction(conn, write=True):
            # Read again under the write lock: another process may have migrated.
            upgrade(conn, self.where)

    def _missing(self, what: str) -> StoreMissing:
        return StoreMissing(
            f"{what} {self.where}; is DATA_DIR (or --data-dir, or JOB_DB_URL) the store "
            "comic2pdf works in? Nothing is reported from an empty one"
        )

    @contextmanager
    def _unwritable_is_clear(self) -> Iterator[None]:
        # SQLite needs to write beside the file (WAL, shared memory) even to read.
        # A reporting command that cannot reach PostgreSQL has no store to report on.
        try:
            yield
        except DatabaseUnreachable as e:
            if self.create:
                raise
            raise self._missing(f"{e.message}:\nno job store reachable at") from e
        except (PermissionError, sqlite3.OperationalError, exc.OperationalError) as e:
            text_ = str(e)
            if isinstance(e, PermissionError) or "readonly" in text_ or "unable to open" in text_:
                raise NotWritable(
                    f"cannot open the job store {self.where} for writing: {text_}; make "
                    f"{Path(self.where).parent} writable by the user running comic2pdf"
                ) from e
            raise

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        with translated_errors(self.url, self.busy_timeout):
            yield

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translated_errors(), transaction(self._connection(), write=True) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translated_errors(), transaction(self._connection(), write=False) as conn:
            yield conn

    # --- health --------------------------------------------------------------------------

    def integrity_ok(self) -> bool:
        """True when the store answers and (SQLite) ``PRAGMA integrity_check`` finds no fault."""
        query = "PRAGMA integrity_check" if self.is_sqlite else "SELECT 'ok'"
        try:
            with self._read() as conn:
                rows = conn.exec_driver_sql(query).fetchall()
        except (sqlite3.DatabaseError, exc.DatabaseError) as e:
            # A file that is not a database at all is the worst integrity
            # failure, not a crash of the check.
            log.error("%s: integrity check failed: %s", self.where, e)
            return False
        problems = [row[0] for row in rows if row[0] != "ok"]
        for problem in problems:
            log.error("%s: integrity check: %s", self.where, problem)
        return not problems
