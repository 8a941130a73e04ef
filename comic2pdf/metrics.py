"""Metric definitions, the JSON snapshot and the Prometheus views of them.

``METRICS`` is the single source of truth: the job database validates every
event against it, the JSON snapshot takes its keys from it and the Prometheus
registry is built from it. Counters and histograms live in the database
(``comic2pdf.jobdb``), so they survive restarts and are cumulative; gauges are
read from the current job rows.

Label values always come from a small fixed set (``LABEL_VALUES``); anything
else becomes ``other``, so a file name or a job key can never become a label.

This module does not import Prefect: the ``push-metrics`` flow calls it.
"""

import http.client
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.core import (
    Metric as MetricFamily,
)
from prometheus_client.exposition import default_handler, push_to_gateway
from prometheus_client.utils import floatToGoString

from comic2pdf.errors import REASONS, PushFailed
from comic2pdf.publish import write_atomically

if TYPE_CHECKING:
    from comic2pdf.jobdb import JobDB, MetricData

log = logging.getLogger(__name__)

PREFIX = "comic2pdf_"
OTHER = "other"
JOB_LABEL = "comic2pdf"

#: The only values each label may take; ``other`` catches everything else.
LABEL_VALUES: dict[str, frozenset[str]] = {
    "stage": frozenset({"prep", "ocr", "finalize", OTHER}),
    "reason": frozenset({*REASONS, OTHER}),
    "outcome": frozenset({"done", "error", "duplicate", "rejected", OTHER}),
    "action": frozenset({"USE_EXISTING_RESULT", "DISCARD", "FORCE_REPROCESS", OTHER}),
}

#: Labels of the build info metric; their values are versions, not from a set.
VERSION_LABELS = ("comic2pdf", "ocrmypdf", "tesseract", "ghostscript", "img2pdf")

#: The keys ``metrics.json`` must always have (SPEC "Metrics").
REQUIRED_JSON_KEYS = (
    "done",
    "error",
    "running",
    "queued",
    "disk_error",
    "pdf_invalid",
    "input_rejected_size",
    "input_rejected_signature",
    "duplicates_detected",
    "prep_retries",
    "ocr_retries",
    "jobs_timed_out",
    "pages_processed",
    "pages_without_text",
)

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
class Metric:
    """One metric: its event name in the database and how it is published.

    ``name`` is what code passes to ``JobDB.record_event``/``observe`` and the
    body of the Prometheus name (``comic2pdf_<name>``, plus ``_total`` for
    counters). ``json_key`` is its key in ``metrics.json`` (the sum over all
    label values), or None. Gauges carry ``read``, which takes the values from
    the job rows.
    """

    name: str
    kind: Kind
    description: str
    labels: tuple[str, ...] = ()
    json_key: str | None = None
    buckets: tuple[float, ...] = ()
    read: Callable[["MetricData"], list[Sample]] | None = field(default=None, compare=False)

    @property
    def prometheus_name(self) -> str:
        """The name of the samples as exposed (histograms add _bucket, _count, _sum)."""
        suffix = {Kind.COUNTER: "_total", Kind.INFO: "_info"}.get(self.kind, "")
        return f"{PREFIX}{self.name}{suffix}"


def _in_flight(data: "MetricData") -> list[Sample]:
    stages = ("prep", "ocr", "finalize")
    return [({"stage": stage}, data.running.get(stage, 0)) for stage in stages]


def _last_success(data: "MetricData") -> list[Sample]:
    if data.last_success is None:
        return []
    return [({}, data.last_success.timestamp())]


METRICS: tuple[Metric, ...] = (
    # --- counters, incremented by the job database with the state change -------
    Metric("jobs_claimed", Kind.COUNTER, "Comics claimed for conversion (new, retried or forced)."),
    Metric("jobs_done", Kind.COUNTER, "Comics converted to a searchable PDF.", json_key="done"),
    Metric(
        "jobs_failed",
        Kind.COUNTER,
        "Comics that failed for good and went to error/.",
        labels=("stage", "reason"),
        json_key="error",
    ),
    Metric(
        "duplicates_detected",
        Kind.COUNTER,
        "Inputs held because their job key was already done or in flight.",
        json_key="duplicates_detected",
    ),
    Metric(
        "duplicates_resolved",
        Kind.COUNTER,
        "Duplicate decisions applied, by action.",
        labels=("action",),
    ),
    Metric("jobs_requeued", Kind.COUNTER, "Jobs in flight put back in the queue (recovery)."),
    Metric("prep_retries", Kind.COUNTER, "Prep attempts after the first.", json_key="prep_retries"),
    Metric("ocr_retries", Kind.COUNTER, "OCR attempts after the first.", json_key="ocr_retries"),
    Metric("finalize_retries", Kind.COUNTER, "Finalize attempts after the first."),
    Metric(
        "pages_processed",
        Kind.COUNTER,
        "Pages of the comics converted.",
        json_key="pages_processed",
    ),
    Metric(
        "pages_without_text",
        Kind.COUNTER,
        "Pages of converted comics on which OCR found no text.",
        json_key="pages_without_text",
    ),
    # --- counters recorded by the code where the event happens ------------------
    Metric(
        "input_rejected_size",
        Kind.COUNTER,
        "Inputs refused for being larger than MAX_INPUT_SIZE_MB.",
        json_key="input_rejected_size",
    ),
    Metric(
        "input_rejected_signature",
        Kind.COUNTER,
        "Inputs refused because their content is not a supported archive.",
        json_key="input_rejected_signature",
    ),
    Metric(
        "disk_error",
        Kind.COUNTER,
        "Attempts stopped by a lack of free disk space or a failed write.",
        json_key="disk_error",
    ),
    Metric(
        "pdf_invalid",
        Kind.COUNTER,
        "Attempts whose PDF failed validation.",
        json_key="pdf_invalid",
    ),
    Metric(
        "jobs_timed_out",
        Kind.COUNTER,
        "Attempts killed by their time limit.",
        labels=("stage",),
        json_key="jobs_timed_out",
    ),
    Metric("push_failures", Kind.COUNTER, "Pushes to the Pushgateway that failed."),
    # --- histograms ---------------------------------------------------------------
    Metric(
        "stage_duration_seconds",
        Kind.HISTOGRAM,
        "Duration of one attempt of a stage.",
        labels=("stage",),
        buckets=SECONDS_BUCKETS,
    ),
    Metric(
        "job_duration_seconds",
        Kind.HISTOGRAM,
        "Time from claim to the final outcome of a comic.",
        labels=("outcome",),
        buckets=SECONDS_BUCKETS,
    ),
    Metric(
        "pages_per_comic",
        Kind.HISTOGRAM,
        "Pages of each converted comic.",
        buckets=PAGES_BUCKETS,
    ),
    # --- gauges, read from the job rows --------------------------------------------
    Metric(
        "jobs_in_flight",
        Kind.GAUGE,
        "Jobs running now, by stage.",
        labels=("stage",),
        json_key="running",
        read=_in_flight,
    ),
    Metric(
        "jobs_queued",
        Kind.GAUGE,
        "Jobs claimed and waiting for their first stage.",
        json_key="queued",
        read=lambda data: [({}, data.queued)],
    ),
    Metric(
        "duplicates_pending",
        Kind.GAUGE,
        "Held duplicates whose decision is not applied yet.",
        json_key="duplicates_pending",
        read=lambda data: [({}, data.duplicates_pending)],
    ),
    Metric(
        "last_success_timestamp_seconds",
        Kind.GAUGE,
        "Unix time of the last comic converted.",
        read=_last_success,
    ),
    # --- info -------------------------------------------------------------------------
    Metric("build", Kind.INFO, "Versions of comic2pdf and its tools.", labels=VERSION_LABELS),
)

METRICS_BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


# --- validating events ------------------------------------------------------------------


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


def labels_key(labels: Labels) -> str:
    """The canonical JSON of a label set, as stored in the database."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


# --- the JSON snapshot ------------------------------------------------------------------


def snapshot(db: "JobDB") -> dict[str, int]:
    """Return every metric that has a JSON key as an integer (sum over labels)."""
    return snapshot_of(db.metric_data())


def snapshot_of(data: "MetricData") -> dict[str, int]:
    """The snapshot of data already read from the database."""
    values: dict[str, int] = {}
    for metric in METRICS:
        if metric.json_key is None:
            continue
        samples = _samples(metric, data)
        values[metric.json_key] = int(sum(value for _, value in samples))
    return values


def write_snapshot(db: "JobDB", path: Path) -> dict[str, int | str]:
    """Write ``metrics.json`` atomically: the snapshot plus ``updatedAt``; return it."""
    document: dict[str, int | str] = dict(snapshot(db))
    document["updatedAt"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_atomically(Path(path), text.encode())
    return document


class _Families:
    """A collector that yields families read once, when the registry was built."""

    def __init__(self, families: list[MetricFamily]) -> None:
        self._families = families

    def collect(self) -> Iterator[MetricFamily]:
        return iter(self._families)


def build_registry(db: "JobDB", *, versions: Mapping[str, str]) -> CollectorRegistry:
    """Return a new registry holding every metric, read from the database now.

    A fresh registry per call: module-level metrics in a long-lived worker
    would raise duplicated-timeseries errors on the second push. The values are
    read in one transaction, so the registry no longer needs the database.
    """
    data = db.metric_data()
    registry = CollectorRegistry()
    registry.register(_Families([_family(metric, data, versions) for metric in METRICS]))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """Write the exposition atomically, for node_exporter's textfile collector."""
    write_atomically(Path(path), exposition(registry))


def push(registry: CollectorRegistry, *, url: str, instance: str, timeout: float) -> None:
    """Push the registry to a Pushgateway, replacing the group (PUT).

    The grouping key is ``job="comic2pdf"``, ``instance=instance``. The values
    are cumulative totals from the database, so replacing the whole group is
    right and a failed push loses nothing: the next one carries the totals.
    ``timeout`` bounds each connect and read on the socket.

    Raises:
        PushFailed: the gateway is unreachable, too slow or refused the push.
    """
    if timeout <= 0:
        raise ValueError("push timeout must be positive: without one a dead gateway hangs")

    limit = timeout

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes):
        # Pin our timeout whatever push_to_gateway passes: it lets None through,
        # and with None a gateway that accepts and never answers blocks forever.
        return default_handler(url, method, limit, headers, data)

    try:
        push_to_gateway(
            url,
            job=JOB_LABEL,
            registry=registry,
            grouping_key={"instance": instance},
            timeout=timeout,
            handler=handler,
        )
    except (OSError, http.client.HTTPException) as e:
        raise PushFailed(
            f"could not push metrics to {url}: {e}; is the Pushgateway running? "
            "The JSON snapshot is still written and the next push carries the totals"
        ) from e


def _family(metric: Metric, data: "MetricData", versions: Mapping[str, str]) -> MetricFamily:
    if metric.kind is Kind.INFO:
        return _info_family(metric, versions)
    name = f"{PREFIX}{metric.name}"
    names = list(metric.labels)
    if metric.kind is Kind.HISTOGRAM:
        histogram = HistogramMetricFamily(name, metric.description, labels=names)
        for labels, counts, total in _histogram_samples(metric, data):
            histogram.add_metric([labels[label] for label in names], counts, total)
        return histogram
    make = CounterMetricFamily if metric.kind is Kind.COUNTER else GaugeMetricFamily
    family = make(name, metric.description, labels=names)
    for labels, value in _samples(metric, data):
        family.add_metric([labels[label] for label in names], value)
    return family


def _info_family(metric: Metric, versions: Mapping[str, str]) -> MetricFamily:
    unknown = sorted(set(versions) - set(metric.labels))
    if unknown:
        log.warning("build info: ignoring versions of %s (not declared in METRICS)", unknown)
    values = {label: str(versions.get(label) or "unknown") for label in metric.labels}
    return InfoMetricFamily(f"{PREFIX}{metric.name}", metric.description, value=values)


def _samples(metric: Metric, data: "MetricData") -> list[Sample]:
    """Counter or gauge samples; unlabelled counters are always present, at 0 if never hit."""
    if metric.read is not None:
        raw: Iterable[tuple[Mapping[str, object], float]] = metric.read(data)
    else:
        raw = [
            (json.loads(key), value) for key, value in data.counters.get(metric.name, {}).items()
        ]
    merged: dict[str, float] = {}
    for labels, value in raw:
        # Stored rows were cleaned when written; cleaning again keeps the
        # exposition within the sets even if a set shrank since.
        key = labels_key(clean_labels(metric, labels))
        merged[key] = merged.get(key, 0) + value
    if metric.kind is Kind.COUNTER and not metric.labels and not merged:
        merged[labels_key({})] = 0
    return [(json.loads(key), value) for key, value in sorted(merged.items())]


def _histogram_samples(
    metric: Metric, data: "MetricData"
) -> list[tuple[Labels, list[tuple[str, float]], float]]:
    """Cumulative buckets per label set, from the per-bucket counts stored."""
    merged: dict[str, tuple[dict[str, int], int, float]] = {}
    for key, (buckets, count, total) in data.histograms.get(metric.name, {}).items():
        labels_json = labels_key(clean_labels(metric, json.loads(key)))
        old_buckets, old_count, old_total = merged.get(labels_json, ({}, 0, 0.0))
        for le, n in buckets.items():
            old_buckets[le] = old_buckets.get(le, 0) + n
        merged[labels_json] = (old_buckets, old_count + count, old_total + total)
    samples = []
    for labels_json, (buckets, count, total) in sorted(merged.items()):
        samples.append((json.loads(labels_json), _cumulative(metric, buckets, count), total))
    return samples


def _cumulative(metric: Metric, buckets: Mapping[str, int], count: int) -> list[tuple[str, float]]:
    cumulative: list[tuple[str, float]] = []
    for bound in metric.buckets:
        below = sum(n for le, n in buckets.items() if float(le) <= bound)
        cumulative.append((floatToGoString(bound), below))
    cumulative.append(("+Inf", count))
    return cumulative


def bucket_of(metric: Metric, value: float) -> str:
    """The upper bound (as exposed) of the bucket a value falls in."""
    for bound in metric.buckets:
        if value <= bound:
            return floatToGoString(bound)
    return "+Inf"


def is_snake_case(name: str) -> bool:
    """Label and metric names: lower case letters, digits and underscores."""
    return bool(_SNAKE_CASE.match(name))
