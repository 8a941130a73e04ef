"""Opening the job store's SQLite file, and the transactions every store method runs in.

Writes use ``BEGIN IMMEDIATE``: writers queue on the database lock (up to
``busy_timeout`` seconds) instead of failing half-way, which also makes
:meth:`JobDB.claim_job` atomic across processes and machines sharing the file.
A connection opens lazily, on first use, and belongs to the thread that opened
it (see the package doc).
"""

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from comic2pdf.errors import DatabaseBusy, DiskError, NotWritable, StoreMissing
from comic2pdf.store.schema import MIGRATIONS, schema_version, upgrade

log = logging.getLogger(__name__)

#: Pause between attempts to switch a new database file to WAL.
WAL_RETRY_SECONDS = 0.05


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool) -> Iterator[sqlite3.Connection]:
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


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if schema_version(conn) == len(MIGRATIONS):
        return
    with transaction(conn, write=True):
        # Read again under the write lock: another process may have migrated.
        upgrade(conn, path)


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


class Database:
    """The SQLite file at ``path``: its lazy connection, transactions and health check.

    The base of :class:`JobDB`, whose mixins run their statements in
    :meth:`_write` and :meth:`_read`.
    """

    def __init__(
        self, path: Path | str, *, busy_timeout: float = 30.0, create: bool = True
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.create = create
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> Self:
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
        with self._translated_errors(), transaction(self._connection(), write=True) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._translated_errors(), transaction(self._connection(), write=False) as conn:
            yield conn

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
