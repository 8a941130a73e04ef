"""Metric definitions, the JSON snapshot, the exposition, the endpoint and a real Pushgateway."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from comic2pdf.errors import NotWritable, PushFailed, StoreMissing
from comic2pdf.metrics import definitions
from comic2pdf.metrics.definitions import LABEL_VALUES, METRICS, Kind
from comic2pdf.metrics.exposition import (
    build_registry,
    exposition,
    scrape_registry,
    serve_metrics,
    write_textfile,
)
from comic2pdf.metrics.push import push
from comic2pdf.metrics.snapshot import (
    JSON_KEYS,
    LEGACY_KEYS,
    REQUIRED_JSON_KEYS,
    snapshot_of,
    write_snapshot,
)
from comic2pdf.metrics.source import read_metric_data, store_instance_id
from comic2pdf.store import JobDB
from tests.conftest import free_port
from tests.test_jobdb import claim

VERSIONS = {
    "comic2pdf": "0.1.0",
    "ocrmypdf": "17.0.0",
    "tesseract": "5.3.0",
    "ghostscript": "10.0.0",
    "img2pdf": "0.6.0",
}


def populate(db: JobDB) -> None:
    """A little of everything: each state, every kind of metric, a bad label value."""
    claim(db, "queued")
    claim(db, "running")
    db.start_stage("running", "ocr")
    claim(db, "done")
    db.start_stage("done", "prep")
    db.record_attempt("prep", seconds=700.0, reason="timeout")
    db.start_stage("done", "prep")
    db.record_attempt("prep", seconds=42.0, reason=None)
    db.finish_job("done", output_path="/out/done.pdf", pages=12, pages_without_text=1)
    claim(db, "failed")
    db.fail_job("failed", stage="ocr", reason="no such reason", message="x")
    claim(db, "done")
    db.add_duplicate("done", held_path="/hold/done/x.cbz", incoming_name="x.cbz")
    db.record_event("inputs_rejected", labels={"reason": "too_large"})
    db.observe("job_duration_seconds", 1.0, labels={"outcome": "comic.cbz"})


class Store(JobDB):
    """A job store under test that knows its location (to open it again) and its inbox."""

    def __init__(self, location: str, inbox: Path) -> None:
        super().__init__(location)
        self.location = location
        self.inbox = inbox


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "index" / "comic2pdf.sqlite3"


@pytest.fixture
def db(job_store, tmp_path):
    """A populated store, on SQLite and on PostgreSQL."""
    with Store(job_store, tmp_path / "in") as database:
        populate(database)
        yield database


def read(db: Store):
    return read_metric_data(store=db.location, in_dir=db.inbox)


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def text_of(db: JobDB, versions=VERSIONS) -> str:
    return exposition(build_registry(read(db), versions=versions)).decode()


# --- the definition list ----------------------------------------------------------------------


def test_definitions_are_consistent():
    names = [metric.name for metric in METRICS]
    assert len(names) == len(set(names))
    for metric in METRICS:
        assert definitions.is_snake_case(metric.name), metric
        assert not metric.name.endswith("_total"), "the _total suffix is added for counters"
        assert (metric.read is not None) == (metric.kind is Kind.GAUGE), metric
        assert bool(metric.buckets) == (metric.kind is Kind.HISTOGRAM), metric
        assert list(metric.buckets) == sorted(set(metric.buckets)), metric
        if metric.kind is not Kind.INFO:
            assert set(metric.labels) <= set(LABEL_VALUES), metric
    for values in LABEL_VALUES.values():
        assert definitions.OTHER in values
    for parts in JSON_KEYS.values():  # every JSON key reads metrics and labels that exist
        for name, labels in parts:
            metric = definitions.METRICS_BY_NAME[name]
            assert all(labels[key] in LABEL_VALUES[key] for key in labels), (name, labels)
            assert set(labels) <= set(metric.labels)


# --- the job store as the source -------------------------------------------------------------


def test_reporting_never_creates_a_job_store(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(StoreMissing, match="no job store at .*comic2pdf.sqlite3"):
        read_metric_data(store=data / "index" / "comic2pdf.sqlite3", in_dir=data / "in")
    with pytest.raises(StoreMissing):
        store_instance_id(data / "index" / "comic2pdf.sqlite3")
    assert not data.exists()


def test_the_instance_id_is_made_once_and_kept(db_path, tmp_path):
    with JobDB(db_path) as db:
        made = db.instance_id()
    assert len(made) == 12 and made == store_instance_id(db_path)
    script = (
        "import sys; from comic2pdf.metrics.source import store_instance_id;"
        "print(store_instance_id(sys.argv[1]))"
    )
    moved = tmp_path / "elsewhere" / "comic2pdf.sqlite3"  # the folder mounted somewhere else
    moved.parent.mkdir()
    os.rename(db_path, moved)
    result = subprocess.run(
        [sys.executable, "-c", script, str(moved)], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip() == made, result.stderr
    with JobDB(tmp_path / "another" / "comic2pdf.sqlite3") as other:
        assert other.instance_id() != made


def test_health_gauges_come_from_the_store_and_the_inbox(db):
    inbox = db.inbox
    inbox.mkdir()
    for name in ("a.cbz", "b.cbr", ".hidden.cbz", "c.cbz.part"):
        (inbox / name).write_bytes(b"x")
    db.record_scan(interval=30)
    data = read(db)
    assert data.inbox_waiting == 2
    assert data.duplicates_pending == 1 and 0 <= data.age(data.oldest_duplicate) < 60
    assert data.queued == 1 and data.running == {"ocr": 1}
    assert 0 < data.age(data.oldest_in_flight) < 60
    assert data.scan_interval == 30 and 0 <= data.age(data.last_scan) < 60
    assert data.age(None) == 0


# --- the JSON snapshot -------------------------------------------------------------------------


def test_snapshot_has_the_seed_keys_the_old_names_and_integers(db, tmp_path):
    values = write_snapshot(read(db), tmp_path / "metrics.json")
    assert set(REQUIRED_JSON_KEYS) <= set(values)
    assert set(LEGACY_KEYS) | {"jobs_discarded"} <= set(values)
    assert all(type(values[key]) is int for key in values if key != "updatedAt")
    assert values["done"] == values["jobs_done"] == 1
    assert values["error"] == values["jobs_error"] == 2  # one failed job, one refused input
    assert values["running"] == 1 and values["queued"] == 1
    assert values["duplicates_detected"] == values["duplicates_total"] == 1
    assert values["duplicates_pending"] == 1 and values["jobs_discarded"] == 0
    assert values["prep_retries"] == 1 and values["ocr_retries"] == 0
    assert values["pages_processed"] == 12 and values["pages_without_text"] == 1
    assert values["input_rejected_size"] == 1 and values["input_rejected_signature"] == 0
    assert values["jobs_timed_out"] == 1  # the attempt that timed out, although the job succeeded


def test_write_snapshot_is_atomic_and_has_updated_at(db, tmp_path, monkeypatch):
    path = tmp_path / "index" / "metrics.json"
    written = write_snapshot(read(db), path)
    document = json.loads(path.read_text())
    assert document == written
    updated = datetime.fromisoformat(document.pop("updatedAt").replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - updated) < timedelta(minutes=1)
    assert all(type(value) is int for value in document.values())

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    db.record_event("push_failures")
    with pytest.raises(OSError):
        write_snapshot(read(db), path)
    assert json.loads(path.read_text()) == written  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir() if "metrics" in p.name) == ["metrics.json"]


def test_a_snapshot_path_that_is_a_folder_is_a_clear_error(db, tmp_path):
    path = tmp_path / "index" / "metrics.json"
    path.mkdir(parents=True)
    with pytest.raises(NotWritable, match=r"cannot write .*metrics\.json"):
        write_snapshot(read(db), path)
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left


def test_counters_survive_into_a_new_process(db):
    script = (
        "import json, sys; from pathlib import Path;"
        "from comic2pdf.metrics import snapshot, source;"
        "data = source.read_metric_data(store=sys.argv[1], in_dir=Path(sys.argv[2]));"
        "print(json.dumps(snapshot.snapshot_of(data)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, db.location, str(db.inbox)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(result.stdout) == snapshot_of(read(db))


# --- the Prometheus exposition ---------------------------------------------------------------


INFO_NAMES = {metric.prometheus_name for metric in METRICS if metric.kind is Kind.INFO}


def naming_violations(text: str) -> list[str]:
    """Every break of the SPEC's Prometheus rules in an exposition."""
    violations = []
    # The parser renames counter samples to end in _total, so read the raw TYPE lines.
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["#", "TYPE"] and parts[3] == "counter" and not parts[2].endswith("_total"):
            violations.append(f"{parts[2]}: counter without _total")
    for family in text_string_to_metric_families(text):
        name = family.name
        if not (name.startswith("comic2pdf_") and definitions.is_snake_case(name)):
            violations.append(f"{name}: not comic2pdf_ + snake_case")
        if "duration" in name and not (family.type == "histogram" and name.endswith("_seconds")):
            violations.append(f"{name}: durations are histograms in _seconds")
        for sample in family.samples:
            for label, value in sample.labels.items():
                if not definitions.is_snake_case(label):
                    violations.append(f"{sample.name}: label {label} not snake_case")
                elif name in INFO_NAMES or label == "le":
                    continue  # versions are free text; le is the histogram bound
                elif value not in LABEL_VALUES.get(label, ()):
                    violations.append(f"{sample.name}: {label}={value!r} outside its fixed set")
    return violations


def test_every_family_follows_the_naming_rules(db):
    text = text_of(db)
    assert naming_violations(text) == []
    parsed = families(text)
    # The parser names a counter's family without its _total suffix.
    declared = {metric.prometheus_name.removesuffix("_total") for metric in METRICS}
    assert set(parsed) == declared  # nothing published that METRICS does not define
    failed = {
        (s.labels["stage"], s.labels["reason"]): s.value
        for s in parsed["comic2pdf_jobs_failed"].samples
    }
    assert failed[("ocr", "other")] == 1 and sum(failed.values()) == 1


def test_every_labelled_series_is_there_from_the_start_at_0(job_store, tmp_path):
    """A series born at 1 shows no increase(): the first failure would never alert (#15)."""
    with Store(job_store, tmp_path / "in") as db:
        db.instance_id()  # a new, empty store
        parsed = families(text_of(db))
    for metric in METRICS:
        if metric.kind in (Kind.COUNTER, Kind.HISTOGRAM):
            family = parsed[metric.prometheus_name.removesuffix("_total")]
            suffix = "_total" if metric.kind is Kind.COUNTER else "_count"
            seen = [s for s in family.samples if s.name.endswith(suffix)]
            assert len(seen) == len(definitions.all_label_sets(metric)), metric.name
            assert all(s.value == 0 for s in family.samples), metric.name
    reasons = {s.labels["reason"] for s in parsed["comic2pdf_inputs_rejected"].samples}
    assert {"too_large", "not_an_archive", "missing_tool", "not_found", "other"} <= reasons
    # Gauges without a value yet are left out rather than faked:
    assert (
        "comic2pdf_last_success_timestamp_seconds" not in parsed
        or not parsed["comic2pdf_last_success_timestamp_seconds"].samples
    )


def test_the_naming_check_catches_bad_metrics():
    bad = """# TYPE comic2pdf_jobs counter
comic2pdf_jobs 1
# TYPE comic2pdf_ocr_duration gauge
comic2pdf_ocr_duration 3
# TYPE pages_total counter
pages_total{file="My Comic.cbz"} 1
# TYPE comic2pdf_errors_total counter
comic2pdf_errors_total{Stage="ocr"} 1
"""
    assert len(naming_violations(bad)) == 5


def test_values_and_gauges_in_the_exposition(db):
    parsed = families(text_of(db))

    def value(name, **labels):  # of a family (its first sample) or of a sample name
        samples = [s for f in parsed.values() for s in f.samples if name in (f.name, s.name)]
        return next(s.value for s in samples if labels.items() <= s.labels.items())

    assert value("comic2pdf_jobs_done") == 1
    assert value("comic2pdf_jobs_in_flight", stage="ocr") == 1
    assert value("comic2pdf_jobs_in_flight", stage="prep") == 0
    assert value("comic2pdf_jobs_queued") == 1
    assert abs(value("comic2pdf_last_success_timestamp_seconds") - time.time()) < 60
    assert value("comic2pdf_pages_per_comic", le="10.0") == 0
    assert value("comic2pdf_pages_per_comic", le="20.0") == 1
    assert value("comic2pdf_build_info", tesseract="5.3.0") == 1
    assert value("comic2pdf_stage_failures", stage="prep", reason="timeout") == 1
    assert value("comic2pdf_stage_retries", stage="prep") == 1
    assert value("comic2pdf_stage_duration_seconds_count", stage="prep") == 2  # the failed one too
    assert value("comic2pdf_stage_duration_seconds_sum", stage="prep") == 742
    assert value("comic2pdf_inputs_rejected", reason="too_large") == 1
    assert value("comic2pdf_duplicates_pending") == 1
    assert value("comic2pdf_oldest_job_in_flight_age_seconds") > 0
    assert abs(value("comic2pdf_metrics_timestamp_seconds") - time.time()) < 60


def test_each_registry_is_fresh_and_read_when_built(db):
    first = build_registry(read(db), versions=VERSIONS)
    db.record_event("push_failures")
    second = build_registry(read(db), versions=VERSIONS)
    assert first is not second
    assert b"comic2pdf_push_failures_total 0.0" in exposition(first)
    assert b"comic2pdf_push_failures_total 1.0" in exposition(second)


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return families(response.read().decode())


@pytest.mark.parametrize("job_store", ["sqlite"], indirect=True)  # it moves the file away
def test_the_endpoint_reads_the_store_at_each_scrape(db):
    registry = scrape_registry(store=db.location, in_dir=db.inbox, versions={})
    server, _ = serve_metrics(registry, port=0, address="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert scrape(url)["comic2pdf_push_failures"].samples[0].value == 0
        db.record_event("push_failures")
        assert scrape(url)["comic2pdf_push_failures"].samples[0].value == 1
        db.path.rename(db.path.with_suffix(".moved"))  # the store is gone: fail the scrape
        with pytest.raises(urllib.error.HTTPError) as failed:
            scrape(url)
        assert failed.value.code == 500
    finally:
        server.shutdown()
        server.server_close()


def test_write_textfile_is_parseable_and_leaves_no_temp_files(db, tmp_path):
    path = tmp_path / "textfile" / "comic2pdf.prom"
    write_textfile(build_registry(read(db), versions={}), path)
    assert "comic2pdf_jobs_done" in families(path.read_text())
    assert [p.name for p in path.parent.iterdir()] == ["comic2pdf.prom"]


# --- the Pushgateway -------------------------------------------------------------------------


def gateway_value(url: str, sample_name: str, instance: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and sample.labels.get("instance") == instance:
                assert sample.labels["job"] == "comic2pdf"
                return sample.value
    raise AssertionError(f"{sample_name}{{instance={instance!r}}} not on the gateway")


def test_push_replaces_the_group_with_cumulative_totals(db, pushgateway):
    push(
        build_registry(read(db), versions=VERSIONS),
        url=pushgateway,
        instance="test-cumulative",
        timeout=5,
    )
    assert gateway_value(pushgateway, "comic2pdf_jobs_done_total", "test-cumulative") == 1
    assert gateway_value(pushgateway, "comic2pdf_build_info", "test-cumulative") == 1

    claim(db, "second")
    db.finish_job("second", output_path="/out/second.pdf", pages=8, pages_without_text=0)
    push(
        build_registry(read(db), versions=VERSIONS),
        url=pushgateway,
        instance="test-cumulative",
        timeout=5,
    )
    assert gateway_value(pushgateway, "comic2pdf_jobs_done_total", "test-cumulative") == 2
    assert gateway_value(pushgateway, "comic2pdf_pages_processed_total", "test-cumulative") == 20


def test_push_to_a_dead_port_fails_quickly(db):
    started = time.monotonic()
    with pytest.raises(PushFailed) as caught:
        push(
            build_registry(read(db), versions=VERSIONS),
            url=f"http://127.0.0.1:{free_port()}",
            instance="dead",
            timeout=2,
        )
    assert time.monotonic() - started < 2
    assert caught.value.reason == "push_failed" and caught.value.retryable


def test_push_to_a_gateway_that_never_answers_times_out(db):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts the connection; nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(PushFailed, match="timed out"):
            push(
                build_registry(read(db), versions=VERSIONS),
                url=url,
                instance="silent",
                timeout=0.5,
            )
        assert 0.4 < time.monotonic() - started < 3


def test_push_needs_a_timeout(db):
    with pytest.raises(ValueError, match="timeout"):
        push(
            build_registry(read(db), versions={}),
            url="http://127.0.0.1:1",
            instance="x",
            timeout=0,
        )
