"""Held duplicates in the store: the held files and the decisions taken on them."""

from pathlib import Path

from sqlalchemy import Connection

from comic2pdf.errors import DecisionError
from comic2pdf.store.connection import Database, locked, run
from comic2pdf.store.counters import count_event
from comic2pdf.store.records import Duplicate, DuplicateAction, timestamp


class DuplicatesMixin(Database):
    """Recording held files, their decisions, and when those were applied."""

    def add_duplicate(
        self, job_key: str, *, held_path: Path | str, incoming_name: str
    ) -> Duplicate:
        """Record a held file; adding the same ``held_path`` again returns the existing row."""
        with self._write() as conn:
            run(
                conn,
                "INSERT INTO duplicates (job_key, held_path, incoming_name, detected_at)"
                " VALUES (:key, :held, :name, :now) ON CONFLICT (held_path) DO NOTHING",
                {"key": job_key, "held": str(held_path), "name": incoming_name, "now": timestamp()},
            )
            return _existing_duplicate(conn, held_path)

    def list_duplicates(
        self, *, pending_only: bool = True, job_key: str | None = None
    ) -> list[Duplicate]:
        """Held files, oldest first; pending = no decision applied yet (decided or not)."""
        conditions = []
        if pending_only:
            conditions.append("applied_at IS NULL")
        if job_key is not None:
            conditions.append("job_key = :key")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._read() as conn:
            rows = (
                run(
                    conn,
                    f"SELECT * FROM duplicates{where} ORDER BY detected_at, id",
                    {"key": job_key},
                )
                .mappings()
                .all()
            )
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
            duplicate = _existing_duplicate(conn, held, lock=True)
            if duplicate.applied_at is not None:
                raise DecisionError(
                    f"{duplicate.held_path}: decision {duplicate.decision} was already applied"
                )
            run(
                conn,
                "UPDATE duplicates SET decision = :action, decided_at = :now, error = NULL"
                " WHERE id = :id",
                {"action": action, "now": timestamp(), "id": duplicate.id},
            )
            return _existing_duplicate(conn, duplicate.id)

    def mark_duplicate_applied(self, held: int | Path | str) -> bool:
        """Record the decision applied; True the first time, False if it already was.

        Counted in ``duplicates_resolved{action}`` once.

        Raises:
            DecisionError: unknown held file, or no decision yet.
        """
        with self._write() as conn:
            duplicate = _existing_duplicate(conn, held, lock=True)
            if duplicate.decision is None:
                raise DecisionError(f"{duplicate.held_path}: no decision to apply yet")
            cursor = run(
                conn,
                "UPDATE duplicates SET applied_at = :now, error = NULL"
                " WHERE id = :id AND applied_at IS NULL",
                {"now": timestamp(), "id": duplicate.id},
            )
            if cursor.rowcount == 0:
                return False
            count_event(conn, "duplicates_resolved", {"action": duplicate.decision})
            return True

    def record_duplicate_error(self, held: int | Path | str, message: str) -> None:
        """Record why applying a decision failed; the duplicate stays pending."""
        with self._write() as conn:
            duplicate = _existing_duplicate(conn, held, lock=True)
            run(
                conn,
                "UPDATE duplicates SET error = :message WHERE id = :id",
                {"message": message, "id": duplicate.id},
            )


def _existing_duplicate(
    conn: Connection, held: int | Path | str, *, lock: bool = False
) -> Duplicate:
    column, value = ("id", held) if isinstance(held, int) else ("held_path", str(held))
    sql = f"SELECT * FROM duplicates WHERE {column} = :value" + (locked(conn) if lock else "")
    row = run(conn, sql, {"value": value}).mappings().first()
    if row is None:
        raise DecisionError(f"no held duplicate {held}; see 'comic2pdf duplicates list'")
    return Duplicate.from_row(row)
