"""Facts about the store itself, in its ``meta`` table: its instance id and the last scan."""

from sqlalchemy import Connection

from comic2pdf.store.connection import Database, run
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


def read_meta(conn: Connection) -> dict[str, str]:
    return {key: value for key, value in run(conn, "SELECT key, value FROM meta")}


def _set_meta(conn: Connection, key: str, value: str) -> None:
    run(
        conn,
        "INSERT INTO meta VALUES (:key, :value)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {"key": key, "value": value},
    )
