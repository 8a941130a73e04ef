"""Facts about the store itself, in its ``meta`` table: its instance id and the last scan."""

import sqlite3

from comic2pdf.store.connection import Database
from comic2pdf.store.records import timestamp


class MetaMixin(Database):
    """The store's own id and the record of inbox scans."""

    def record_scan(self, *, interval: float) -> None:
        """Record that an inbox scan just ended; *interval* is the scanner's SCAN_INTERVAL."""
        with self._write() as conn:
            _set_meta(conn, "last_scan_at", timestamp())
            _set_meta(conn, "scan_interval_seconds", str(interval))

    def instance_id(self) -> str:
        """The stable id of this store (and so of its data folder), made when it was created."""
        with self._read() as conn:
            return read_meta(conn)["instance_id"]


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
