"""Durable metrics in the store: counters, histograms, and the data every report reads.

Store methods that change state call :func:`count_event` and
:func:`observe_value` inside their own transaction, so a crash leaves both the
change and its metric events or neither.
"""

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection

from comic2pdf.metrics import definitions as metrics
from comic2pdf.metrics.definitions import MetricData
from comic2pdf.store.connection import Database, locked, run
from comic2pdf.store.meta import read_meta
from comic2pdf.store.records import IN_FLIGHT, State, parse_time

log = logging.getLogger(__name__)


class CountersMixin(Database):
    """Recording metric events, and reading them back."""

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
            count_event(conn, name, labels, value)

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
            observe_value(conn, name, value, labels)

    def counter_values(self) -> dict[str, int]:
        """Every counter, summed over its labels."""
        with self._read() as conn:
            rows = run(conn, "SELECT name, sum(value) FROM counters GROUP BY name").all()
        return {name: int(total) for name, total in rows}  # PostgreSQL sums to a decimal

    def metric_data(self) -> MetricData:
        """Counters, histograms and gauges of the store, read in one consistent transaction."""
        with self._read() as conn:
            meta = read_meta(conn)
            pending = "FROM duplicates WHERE applied_at IS NULL"
            interval = meta.get("scan_interval_seconds")
            return MetricData(
                read_at=datetime.now(UTC),
                counters=_read_counters(conn),
                histograms=_read_histograms(conn),
                running=_running_by_stage(conn),
                queued=_value(conn, "SELECT count(*) FROM jobs WHERE state = :a", State.QUEUED),
                oldest_in_flight=parse_time(
                    _value(
                        conn, "SELECT min(claimed_at) FROM jobs WHERE state IN (:a, :b)", *IN_FLIGHT
                    )
                ),
                duplicates_pending=_value(conn, f"SELECT count(*) {pending}"),
                oldest_duplicate=parse_time(_value(conn, f"SELECT min(detected_at) {pending}")),
                last_success=parse_time(
                    _value(conn, "SELECT max(finished_at) FROM jobs WHERE state = :a", State.DONE)
                ),
                last_scan=parse_time(meta.get("last_scan_at")),
                scan_interval=float(interval) if interval else None,
            )


# --- statements used inside transactions ------------------------------------------------------


def count_event(
    conn: Connection,
    name: str,
    labels: Mapping[str, object] | None = None,
    value: int = 1,
) -> None:
    metric = metrics.event_metric(name, metrics.Kind.COUNTER)
    if metric is None:
        return
    key = metrics.labels_key(metrics.clean_labels(metric, labels))
    # One statement: atomic on both databases, whoever else counts at the same moment.
    run(
        conn,
        "INSERT INTO counters (name, labels_json, value) VALUES (:name, :key, :value)"
        " ON CONFLICT (name, labels_json) DO UPDATE SET value = counters.value + excluded.value",
        {"name": name, "key": key, "value": int(value)},
    )


def observe_value(
    conn: Connection, name: str, value: float, labels: Mapping[str, object] | None = None
) -> None:
    metric = metrics.event_metric(name, metrics.Kind.HISTOGRAM)
    if metric is None:
        return
    series = {"name": name, "key": metrics.labels_key(metrics.clean_labels(metric, labels))}
    # Make sure the series' row exists, then lock it: two writers adding to the
    # same buckets take turns instead of one overwriting the other's sum.
    run(
        conn,
        "INSERT INTO observations (name, labels_json, buckets_json, count, sum)"
        " VALUES (:name, :key, '{}', 0, 0) ON CONFLICT (name, labels_json) DO NOTHING",
        series,
    )
    where = " FROM observations WHERE name = :name AND labels_json = :key"
    stored, count, total = run(
        conn, "SELECT buckets_json, count, sum" + where + locked(conn), series
    ).one()
    buckets = json.loads(stored)
    bucket = metrics.bucket_of(metric, value)
    buckets[bucket] = buckets.get(bucket, 0) + 1
    run(
        conn,
        "UPDATE observations SET buckets_json = :buckets, count = :count, sum = :sum"
        " WHERE name = :name AND labels_json = :key",
        {
            **series,
            "buckets": json.dumps(buckets, sort_keys=True),
            "count": count + 1,
            "sum": total + value,
        },
    )


def _read_counters(conn: Connection) -> dict[str, dict[str, int]]:
    counters: dict[str, dict[str, int]] = {}
    for name, key, value in run(conn, "SELECT name, labels_json, value FROM counters"):
        counters.setdefault(name, {})[key] = value
    return counters


def _read_histograms(
    conn: Connection,
) -> dict[str, dict[str, tuple[dict[str, int], int, float]]]:
    histograms: dict[str, dict[str, tuple[dict[str, int], int, float]]] = {}
    rows = run(conn, "SELECT name, labels_json, buckets_json, count, sum FROM observations")
    for name, key, buckets, count, total in rows:
        histograms.setdefault(name, {})[key] = (json.loads(buckets), count, total)
    return histograms


def _running_by_stage(conn: Connection) -> dict[str, int]:
    rows = run(
        conn,
        "SELECT stage, count(*) FROM jobs WHERE state = :running GROUP BY stage",
        {"running": State.RUNNING},
    )
    return {stage: n for stage, n in rows}


def _value(conn: Connection, sql: str, *params: str):
    return run(conn, sql, dict(zip("ab", params, strict=False))).scalar()
