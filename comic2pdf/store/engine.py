"""Where the job store lives: its URL, the engine that connects to it, and its errors in our terms.

A store is an SQLAlchemy URL: ``sqlite:///…/index/comic2pdf.sqlite3`` (the
default, one machine) or ``postgresql+psycopg://user:password@host/db`` (several
hosts). A plain path means the SQLite file at that path. The password never
leaves this module: :func:`shown` is the form for messages and logs.
"""

import functools
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event, exc, make_url
from sqlalchemy.pool import NullPool

from comic2pdf.errors import DatabaseBusy, DatabaseUnreachable, DiskError, SettingsError

log = logging.getLogger(__name__)

#: Pause between attempts to switch a new database file to WAL.
WAL_RETRY_SECONDS = 0.05
#: PostgreSQL SQLSTATEs: waited too long for a lock, deadlock, serialization, cancelled.
PG_BUSY = {"55P03", "40P01", "40001", "57014"}
PG_DISK_FULL = "53100"


def store_url(location: Path | str | URL) -> URL:
    """The URL of the store at *location*: a URL as given, a path as an SQLite file."""
    if isinstance(location, URL):
        return location
    if isinstance(location, str) and "://" in location:
        try:
            url = make_url(location)
        except (exc.ArgumentError, ValueError):
            # The parser's message repeats the whole URL, password included.
            raise SettingsError(
                "JOB_DB_URL is not a database URL: expected "
                "postgresql+psycopg://user:password@host:port/database"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise SettingsError(
                f"JOB_DB_URL {shown(url)}: comic2pdf keeps its jobs in sqlite:// or "
                "postgresql+psycopg://"
            )
        if url.drivername == "postgresql":  # SQLAlchemy's default driver is not installed
            return url.set(drivername="postgresql+psycopg")
        return url
    return URL.create("sqlite", database=str(location))


def shown(url: URL) -> str:
    """The URL for messages and logs: the password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


@functools.cache
def engine_for(url: URL, busy_timeout: float) -> Engine:
    """One engine per store and timeout in a process; each JobDB takes its own connection.

    No pool: a closed JobDB closes its connection, as it always did (a moved or
    deleted SQLite file is never reached through a stale one).
    """
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", functools.partial(_sqlite_ready, timeout=busy_timeout))
        return engine
    # The busy timeout becomes PostgreSQL's lock_timeout: a row locked by another
    # process longer than that is DatabaseBusy, as SQLite's locked file is.
    # Options in the URL (e.g. ``?options=-csearch_path%3Dcomic2pdf``) are kept.
    given = url.query.get("options") or ""
    if not isinstance(given, str):  # the option given twice
        given = " ".join(given)
    options = f"{given} -c lock_timeout={int(busy_timeout * 1000)}".strip()
    return create_engine(
        url,
        poolclass=NullPool,
        connect_args={"connect_timeout": max(1, int(busy_timeout)), "options": options},
    )


def _sqlite_ready(conn: sqlite3.Connection, _record: object, *, timeout: float) -> None:
    # We send BEGIN ourselves (BEGIN IMMEDIATE for writes): the driver must not.
    conn.isolation_level = None
    mode = _enable_wal(conn, deadline=time.monotonic() + timeout)
    if mode.lower() != "wal":
        log.warning("journal mode is %s, not WAL (network file system?)", mode)
    # FULL: a committed DONE must survive a power cut, or the comic is
    # converted again; we write a few rows per comic, so it costs nothing.
    conn.execute("PRAGMA synchronous=FULL")


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


@contextmanager
def translated_errors(url: URL, busy_timeout: float) -> Iterator[None]:
    """Database errors the pipeline can act on, as ours: busy, disk full, unreachable."""
    try:
        yield
    except (exc.DBAPIError, sqlite3.OperationalError) as e:
        # A bare sqlite3 error comes from our connect hook, before SQLAlchemy wraps it.
        original = e.orig if isinstance(e, exc.DBAPIError) else e
        ours = (
            _ours_sqlite(original, url, busy_timeout)
            if isinstance(original, sqlite3.OperationalError)
            else _ours_postgresql(e, url, busy_timeout)
        )
        if ours is None:
            raise
        raise ours from e


def _ours_postgresql(
    error: Exception, url: URL, busy_timeout: float
) -> DatabaseBusy | DiskError | DatabaseUnreachable | None:
    original = getattr(error, "orig", error)
    state = getattr(original, "sqlstate", None)
    where = shown(url)
    if state in PG_BUSY:
        return DatabaseBusy(
            f"a job store row stayed locked for {busy_timeout:g} s ({where}): {original}; "
            "another comic2pdf process holds it, retry later"
        )
    if state == PG_DISK_FULL:
        return DiskError(f"the job store {where} is out of disk space: {original}")
    if isinstance(error, exc.OperationalError) and (state is None or state.startswith("08")):
        return DatabaseUnreachable(f"cannot reach the job store {where}: {original}")
    return None


def _ours_sqlite(
    error: sqlite3.OperationalError, url: URL, busy_timeout: float
) -> DatabaseBusy | DiskError | None:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # primary code of an extended one
    path = Path(url.database or "")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseBusy(
            f"the job database stayed locked for {busy_timeout:g} s: {error}; another "
            "comic2pdf process holds it, retry later",
            path=path,
        )
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return DiskError(f"cannot write the job database: {error}; free disk space", path=path)
    return None
