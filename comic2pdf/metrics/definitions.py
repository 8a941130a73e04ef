"""The definition list of every metric: the single source of truth.

The job database validates every event against ``METRICS``, the exposition is
built from it and the JSON snapshot (``comic2pdf.metrics.snapshot``) reads it.
This module imports nothing else of comic2pdf's but the reason codes, so the
job database can use it without an import cycle.

Label values always come from a small fixed set (``LABEL_VALUES``); anything
else becomes ``other``, so a file name or a job key can never become a label.
Every labelled series is exported for every value of its set from the start, at
0: a counter that first appears at 1 never shows an ``increase()`` (issue #15).
"""

import itertools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from prometheus_client.utils import floatToGoString

from comic2pdf.errors import REASONS

log = logging.getLogger(__name__)

PREFIX = "comic2pdf_"
OTHER = "other"
STAGES = ("prep", "ocr", "finalize")

#: The only values each label may take; ``other`` catches everything else.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "stage": (*STAGES, OTHER),
    "reason": (*REASONS, OTHER),
    "outcome": ("done", "error", "duplicate", "rejected", OTHER),
    "action": ("USE_EXISTING_RESULT", "DISCARD", "FORCE_REPROCESS", OTHER),
}

#: Labels of the build info metric; their values are versions, not from a set.
VERSION_LABELS = ("comic2pdf", "ocrmypdf", "tesseract", "ghostscript", "img2pdf")

SECONDS_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
PAGES_BUCKETS = (1.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    INFO = "info"


Labels = dict[str, str]
Sample = tuple[Labels, float]


@dataclass(frozen=True)
class MetricData:
    """Everything the metric views need, read at one moment (``read_at``).

    ``counters``: name → labels JSON → value. ``histograms``: name → labels
    JSON → (per-bucket counts keyed by upper bound, count, sum). The rest are
    gauges: job rows, held duplicates, the last scan and the files in ``in/``.
    """

    read_at: datetime
    counters: dict[str, dict[str, int]]
    histograms: dict[str, dict[str, tuple[dict[str, int], int, float]]]
    running: dict[str, int]
    queued: int
    oldest_in_flight: datetime | None
    duplicates_pending: int
    oldest_duplicate: datetime | None
    last_success: datetime | None
    last_scan: datetime | None
    scan_interval: float | None
    inbox_waiting: int = 0

    def age(self, moment: datetime | None) -> float:
        """Seconds from *moment* to ``read_at``; 0 when there is nothing to age."""
        return 0.0 if moment is None else max(0.0, (self.read_at - moment).total_seconds())


@dataclass(frozen=True)
class Metric:
    """One metric: its event name in the database and how it is published.

    ``name`` is what code passes to ``JobDB.record_event``/``observe`` and the
    body of the Prometheus name (``comic2pdf_<name>``, plus ``_total`` for
    counters). Gauges carry ``read``, which takes their samples from MetricData.
    """

    name: str
    kind: Kind
    description: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    read: Callable[[MetricData], list[Sample]] | None = field(default=None, compare=False)

    @property
    def prometheus_name(self) -> str:
        """The name of the samples as exposed (histograms add _bucket, _count, _sum)."""
        suffix = {Kind.COUNTER: "_total", Kind.INFO: "_info"}.get(self.kind, "")
        return f"{PREFIX}{self.name}{suffix}"


def _one(value: float | None) -> list[Sample]:
    """A single unlabelled sample, or none when there is no value yet."""
    return [] if value is None else [({}, value)]


def _timestamp(moment: datetime | None) -> list[Sample]:
    return _one(None if moment is None else moment.timestamp())


def _in_flight(data: MetricData) -> list[Sample]:
    return [({"stage": stage}, data.running.get(stage, 0)) for stage in STAGES]


def _counter(name: str, description: str, *labels: str) -> Metric:
    return Metric(name, Kind.COUNTER, description, labels=labels)


def _gauge(name: str, description: str, read: Callable[[MetricData], list[Sample]]) -> Metric:
    return Metric(name, Kind.GAUGE, description, read=read)


METRICS: tuple[Metric, ...] = (
    # --- counters, incremented by the job database with the state change -------
    _counter("jobs_claimed", "Comics claimed for conversion (new, retried or forced)."),
    _counter("jobs_done", "Comics converted to a searchable PDF."),
    _counter("jobs_failed", "Comics that failed for good and went to error/.", "stage", "reason"),
    _counter("duplicates_detected", "Inputs held because their job key was done or in flight."),
    _counter("duplicates_resolved", "Duplicate decisions applied, by action.", "action"),
    _counter("jobs_requeued", "Jobs in flight put back in the queue (recovery)."),
    _counter("stage_retries", "Attempts of a stage after the first.", "stage"),
    _counter(
        "stage_failures",
        "Attempts of a stage that failed (timeout, disk, invalid PDF…), retried or not.",
        "stage",
        "reason",
    ),
    _counter("pages_processed", "Pages of the comics converted."),
    _counter("pages_without_text", "Pages of converted comics on which OCR found no text."),
    # --- counters recorded by the code where the event happens ------------------
    _counter(
        "inputs_rejected", "Inputs refused before they became a job, moved to error/.", "reason"
    ),
    _counter("push_failures", "Pushes to the Pushgateway that failed."),
    # --- histograms ---------------------------------------------------------------
    Metric(
        "stage_duration_seconds",
        Kind.HISTOGRAM,
        "Duration of one attempt of a stage, failed and timed-out attempts included.",
        labels=("stage",),
        buckets=SECONDS_BUCKETS,
    ),
    Metric(
        "job_duration_seconds",
        Kind.HISTOGRAM,
        "Time from claim to the final outcome of an input.",
        labels=("outcome",),
        buckets=SECONDS_BUCKETS,
    ),
    Metric(
        "pages_per_comic", Kind.HISTOGRAM, "Pages of each converted comic.", buckets=PAGES_BUCKETS
    ),
    # --- gauges, read when the metrics are -------------------------------------------
    Metric(
        "jobs_in_flight", Kind.GAUGE, "Jobs running now, by stage.", ("stage",), read=_in_flight
    ),
    _gauge("jobs_queued", "Jobs claimed and waiting for a stage.", lambda d: _one(d.queued)),
    _gauge(
        "oldest_job_in_flight_age_seconds",
        "Seconds since the oldest job in flight was claimed; 0 when none is.",
        lambda d: _one(d.age(d.oldest_in_flight)),
    ),
    _gauge(
        "inbox_waiting",
        "Files waiting in in/ (not yet stable, or over MAX_JOBS_IN_FLIGHT).",
        lambda d: _one(d.inbox_waiting),
    ),
    _gauge(
        "duplicates_pending",
        "Held duplicates whose decision is not applied yet.",
        lambda d: _one(d.duplicates_pending),
    ),
    _gauge(
        "duplicates_oldest_pending_age_seconds",
        "Seconds the oldest held duplicate has waited for a decision; 0 when none waits.",
        lambda d: _one(d.age(d.oldest_duplicate)),
    ),
    _gauge(
        "last_success_timestamp_seconds",
        "Unix time of the last comic converted.",
        lambda d: _timestamp(d.last_success),
    ),
    _gauge(
        "last_scan_timestamp_seconds",
        "Unix time of the end of the last inbox scan.",
        lambda d: _timestamp(d.last_scan),
    ),
    _gauge(
        "scan_interval_seconds",
        "SCAN_INTERVAL_SECONDS of the process that scanned last.",
        lambda d: _one(d.scan_interval),
    ),
    _gauge(
        "metrics_timestamp_seconds",
        "Unix time these values were read from the job store (staleness of pushes and files).",
        lambda d: _timestamp(d.read_at),
    ),
    # --- info -------------------------------------------------------------------------
    Metric("build", Kind.INFO, "Versions of comic2pdf and its tools.", labels=VERSION_LABELS),
)

METRICS_BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


def event_metric(name: str, kind: Kind) -> Metric | None:
    """Return the definition of an event, or None (logged) when it is not one of ``kind``.

    An unknown event is ignored rather than raised: a metric must never stop a
    conversion (SPEC "Metrics").
    """
    metric = METRICS_BY_NAME.get(name)
    if metric is None or metric.kind is not kind:
        log.warning("ignoring unknown %s event %r", kind, name)
        return None
    return metric


def clean_labels(metric: Metric, labels: Mapping[str, object] | None) -> Labels:
    """Return exactly the metric's labels, each value within its fixed set.

    A missing or unknown value becomes ``other`` and an undeclared label is
    dropped, so the number of series stays fixed whatever callers pass.
    """
    given = dict(labels or {})
    extra = sorted(set(given) - set(metric.labels))
    if extra:
        log.warning("metric %s: dropping undeclared labels %s", metric.name, extra)
    cleaned = {}
    for label in metric.labels:
        value = str(given.get(label, OTHER))
        if value not in LABEL_VALUES[label]:
            log.warning(
                "metric %s: label %s=%r is not allowed; using %r", metric.name, label, value, OTHER
            )
            value = OTHER
        cleaned[label] = value
    return cleaned


def all_label_sets(metric: Metric) -> list[Labels]:
    """Every label set the metric can have: the series exported at 0 from the start."""
    values = [LABEL_VALUES[label] for label in metric.labels]
    return [dict(zip(metric.labels, combo, strict=True)) for combo in itertools.product(*values)]


def labels_key(labels: Labels) -> str:
    """The canonical JSON of a label set, as stored in the database."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def bucket_of(metric: Metric, value: float) -> str:
    """The upper bound (as exposed) of the bucket a value falls in."""
    for bound in metric.buckets:
        if value <= bound:
            return floatToGoString(bound)
    return "+Inf"


def is_snake_case(name: str) -> bool:
    """Label and metric names: lower case letters, digits and underscores."""
    return bool(_SNAKE_CASE.match(name))
