"""The Prometheus view of the metrics: families, registries, textfile and scrape endpoint.

Two kinds of registry, both holding the same families:

- ``build_registry(data)``: values already read, for a push or a textfile;
- ``scrape_registry(store=…, in_dir=…)``: a collector that reads the job
  store at every scrape, for ``/metrics`` (``serve_metrics``).

A fresh registry per call: module-level metrics in a long-lived worker would
raise duplicated-timeseries errors on the second push.
"""

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.core import Metric as MetricFamily
from prometheus_client.utils import floatToGoString

from comic2pdf.errors import ComicError
from comic2pdf.metrics.definitions import (
    METRICS,
    PREFIX,
    Kind,
    Labels,
    Metric,
    MetricData,
    Sample,
    all_label_sets,
    clean_labels,
    labels_key,
)
from comic2pdf.metrics.source import read_metric_data
from comic2pdf.publish import write_atomically

log = logging.getLogger(__name__)


def families(data: MetricData, *, versions: Mapping[str, str]) -> list[MetricFamily]:
    """Every metric of ``METRICS`` as a Prometheus family, from data already read."""
    return [_family(metric, data, versions) for metric in METRICS]


class _Families:
    """A collector that yields families read once, when the registry was built."""

    def __init__(self, families: list[MetricFamily]) -> None:
        self._families = families

    def collect(self) -> Iterator[MetricFamily]:
        return iter(self._families)


class StoreCollector:
    """A collector that reads the job store and the inbox at every scrape.

    A store that cannot be read fails the scrape (HTTP 500, so ``up`` is 0)
    rather than answering with partial or zero values.
    """

    def __init__(self, *, store: Path | str, in_dir: Path, versions: Mapping[str, str]) -> None:
        self.store = store
        self.in_dir = in_dir
        self.versions = dict(versions)

    def collect(self) -> Iterator[MetricFamily]:
        try:
            data = read_metric_data(store=self.store, in_dir=self.in_dir)
        except ComicError as e:
            log.error("scrape failed: %s", e)
            raise
        return iter(families(data, versions=self.versions))


def build_registry(data: MetricData, *, versions: Mapping[str, str]) -> CollectorRegistry:
    """A new registry holding every metric with the values of *data*."""
    registry = CollectorRegistry()
    registry.register(_Families(families(data, versions=versions)))
    return registry


def scrape_registry(
    *, store: Path | str, in_dir: Path, versions: Mapping[str, str]
) -> CollectorRegistry:
    """A new registry that reads the job *store* (path or URL) whenever it is collected."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store=store, in_dir=in_dir, versions=versions))
    return registry


def serve_metrics(
    registry: CollectorRegistry, *, port: int, address: str
) -> tuple[WSGIServer, Thread]:
    """Serve *registry* at ``http://address:port/metrics`` from a daemon thread.

    Raises:
        OSError: the port is taken or the address is not this machine's.
    """
    server, thread = start_http_server(port, addr=address, registry=registry)
    log.info("serving metrics at http://%s:%d/metrics", address, server.server_port)
    return server, thread


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """Write the exposition atomically, for node_exporter's textfile collector."""
    write_atomically(Path(path), exposition(registry))


def samples(metric: Metric, data: MetricData) -> list[Sample]:
    """Counter or gauge samples; every counter series is there from the start, at 0."""
    if metric.read is not None:
        raw: Iterable[tuple[Mapping[str, object], float]] = metric.read(data)
    else:
        raw = [
            (json.loads(key), value) for key, value in data.counters.get(metric.name, {}).items()
        ]
    merged: dict[str, float] = {}
    if metric.kind is Kind.COUNTER:
        merged = {labels_key(labels): 0 for labels in all_label_sets(metric)}
    for labels, value in raw:
        # Stored rows were cleaned when written; cleaning again keeps the
        # exposition within the sets even if a set shrank since.
        key = labels_key(clean_labels(metric, labels))
        merged[key] = merged.get(key, 0) + value
    return [(json.loads(key), value) for key, value in sorted(merged.items())]


def _family(metric: Metric, data: MetricData, versions: Mapping[str, str]) -> MetricFamily:
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
    for labels, value in samples(metric, data):
        family.add_metric([labels[label] for label in names], value)
    return family


def _info_family(metric: Metric, versions: Mapping[str, str]) -> MetricFamily:
    unknown = sorted(set(versions) - set(metric.labels))
    if unknown:
        log.warning("build info: ignoring versions of %s (not declared in METRICS)", unknown)
    values = {label: str(versions.get(label) or "unknown") for label in metric.labels}
    return InfoMetricFamily(f"{PREFIX}{metric.name}", metric.description, value=values)


def _histogram_samples(
    metric: Metric, data: MetricData
) -> list[tuple[Labels, list[tuple[str, float]], float]]:
    """Cumulative buckets per label set (every set, empty at first), from per-bucket counts."""
    merged: dict[str, tuple[dict[str, int], int, float]] = {
        labels_key(labels): ({}, 0, 0.0) for labels in all_label_sets(metric)
    }
    for key, (buckets, count, total) in data.histograms.get(metric.name, {}).items():
        labels_json = labels_key(clean_labels(metric, json.loads(key)))
        old_buckets, old_count, old_total = merged.get(labels_json, ({}, 0, 0.0))
        for le, n in buckets.items():
            old_buckets[le] = old_buckets.get(le, 0) + n
        merged[labels_json] = (old_buckets, old_count + count, old_total + total)
    return [
        (json.loads(labels_json), _cumulative(metric, buckets, count), total)
        for labels_json, (buckets, count, total) in sorted(merged.items())
    ]


def _cumulative(metric: Metric, buckets: Mapping[str, int], count: int) -> list[tuple[str, float]]:
    cumulative: list[tuple[str, float]] = []
    for bound in metric.buckets:
        below = sum(n for le, n in buckets.items() if float(le) <= bound)
        cumulative.append((floatToGoString(bound), below))
    cumulative.append(("+Inf", count))
    return cumulative
