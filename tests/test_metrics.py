"""Metric definitions, the JSON snapshot, the exposition and a real Pushgateway."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from comic2pdf import metrics
from comic2pdf.errors import PushFailed
from comic2pdf.jobdb import JobDB
from comic2pdf.metrics import LABEL_VALUES, METRICS, REQUIRED_JSON_KEYS, Kind
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
    db.start_stage("done", "prep")
    db.finish_job("done", output_path="/out/done.pdf", pages=12, pages_without_text=1)
    claim(db, "failed")
    db.fail_job("failed", stage="ocr", reason="no such reason", message="x")
    claim(db, "done")
    db.add_duplicate("done", held_path="/hold/done/x.cbz", incoming_name="x.cbz")
    db.record_event("input_rejected_size")
    db.record_event("jobs_timed_out", labels={"stage": "ocr"})
    db.observe("stage_duration_seconds", 42.0, labels={"stage": "prep"})
    db.observe("job_duration_seconds", 1.0, labels={"outcome": "comic.cbz"})


@pytest.fixture
def db(tmp_path):
    with JobDB(tmp_path / "index" / "comic2pdf.sqlite3") as database:
        populate(database)
        yield database


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


# --- the definition list ----------------------------------------------------------------------


def test_definitions_are_consistent():
    names = [metric.name for metric in METRICS]
    assert len(names) == len(set(names))
    json_keys = [metric.json_key for metric in METRICS if metric.json_key]
    assert len(json_keys) == len(set(json_keys))
    assert set(REQUIRED_JSON_KEYS) <= set(json_keys)
    for metric in METRICS:
        assert metrics.is_snake_case(metric.name), metric
        assert not metric.name.endswith("_total"), "the _total suffix is added for counters"
        assert (metric.read is not None) == (metric.kind is Kind.GAUGE), metric
        assert bool(metric.buckets) == (metric.kind is Kind.HISTOGRAM), metric
        assert list(metric.buckets) == sorted(set(metric.buckets)), metric
        if metric.kind is not Kind.INFO:
            assert set(metric.labels) <= set(LABEL_VALUES), metric
    for values in LABEL_VALUES.values():
        assert metrics.OTHER in values


# --- the JSON snapshot -------------------------------------------------------------------------


def test_snapshot_has_integer_counters_and_current_gauges(db):
    values = metrics.snapshot(db)
    assert set(REQUIRED_JSON_KEYS) <= set(values)
    assert all(type(value) is int for value in values.values())
    assert values["done"] == 1 and values["error"] == 1
    assert values["running"] == 1 and values["queued"] == 1
    assert values["duplicates_detected"] == 1 and values["duplicates_pending"] == 1
    assert values["prep_retries"] == 1 and values["ocr_retries"] == 0
    assert values["pages_processed"] == 12 and values["pages_without_text"] == 1
    assert values["input_rejected_size"] == 1 and values["jobs_timed_out"] == 1


def test_write_snapshot_is_atomic_and_has_updated_at(db, tmp_path, monkeypatch):
    path = tmp_path / "index" / "metrics.json"
    written = metrics.write_snapshot(db, path)
    document = json.loads(path.read_text())
    assert document == written
    updated = datetime.fromisoformat(document.pop("updatedAt").replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - updated) < timedelta(minutes=1)
    assert all(type(value) is int for value in document.values())

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    db.record_event("disk_error")
    with pytest.raises(OSError):
        metrics.write_snapshot(db, path)
    assert json.loads(path.read_text()) == written  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir() if "metrics" in p.name) == ["metrics.json"]


def test_counters_survive_into_a_new_process(db):
    script = (
        "import json, sys; from comic2pdf.jobdb import JobDB; from comic2pdf import metrics;"
        "print(json.dumps(metrics.snapshot(JobDB(sys.argv[1]))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(db.path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(result.stdout) == metrics.snapshot(db)


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
        if not (name.startswith("comic2pdf_") and metrics.is_snake_case(name)):
            violations.append(f"{name}: not comic2pdf_ + snake_case")
        if "duration" in name and not (family.type == "histogram" and name.endswith("_seconds")):
            violations.append(f"{name}: durations are histograms in _seconds")
        for sample in family.samples:
            for label, value in sample.labels.items():
                if not metrics.is_snake_case(label):
                    violations.append(f"{sample.name}: label {label} not snake_case")
                elif name in INFO_NAMES or label == "le":
                    continue  # versions are free text; le is the histogram bound
                elif value not in LABEL_VALUES.get(label, ()):
                    violations.append(f"{sample.name}: {label}={value!r} outside its fixed set")
    return violations


def test_every_family_follows_the_naming_rules(db):
    text = metrics.exposition(metrics.build_registry(db, versions=VERSIONS)).decode()
    assert naming_violations(text) == []
    parsed = families(text)
    # The parser names a counter's family without its _total suffix.
    declared = {metric.prometheus_name.removesuffix("_total") for metric in METRICS}
    assert set(parsed) == declared  # nothing published that METRICS does not define
    assert parsed["comic2pdf_jobs_failed"].samples[0].labels == {"stage": "ocr", "reason": "other"}
    outcomes = {s.labels.get("outcome") for s in parsed["comic2pdf_job_duration_seconds"].samples}
    assert outcomes == {"done", "error", "other"}


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
    parsed = families(metrics.exposition(metrics.build_registry(db, versions=VERSIONS)).decode())

    def value(family, **labels):
        samples = parsed[family].samples
        return next(s.value for s in samples if labels.items() <= s.labels.items())

    assert value("comic2pdf_jobs_done") == 1
    assert value("comic2pdf_jobs_in_flight", stage="ocr") == 1
    assert value("comic2pdf_jobs_in_flight", stage="prep") == 0
    assert value("comic2pdf_jobs_queued") == 1
    assert abs(value("comic2pdf_last_success_timestamp_seconds") - time.time()) < 60
    assert value("comic2pdf_pages_per_comic", le="10.0") == 0
    assert value("comic2pdf_pages_per_comic", le="20.0") == 1
    assert value("comic2pdf_build_info", tesseract="5.3.0") == 1


def test_each_registry_is_fresh_and_read_when_built(db):
    first = metrics.build_registry(db, versions=VERSIONS)
    db.record_event("pdf_invalid")
    second = metrics.build_registry(db, versions=VERSIONS)
    assert first is not second
    assert b"comic2pdf_pdf_invalid_total 0.0" in metrics.exposition(first)
    assert b"comic2pdf_pdf_invalid_total 1.0" in metrics.exposition(second)


def test_write_textfile_is_parseable_and_leaves_no_temp_files(db, tmp_path):
    path = tmp_path / "textfile" / "comic2pdf.prom"
    metrics.write_textfile(metrics.build_registry(db, versions={}), path)
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
    metrics.push(
        metrics.build_registry(db, versions=VERSIONS),
        url=pushgateway,
        instance="test-cumulative",
        timeout=5,
    )
    assert gateway_value(pushgateway, "comic2pdf_jobs_done_total", "test-cumulative") == 1
    assert gateway_value(pushgateway, "comic2pdf_build_info", "test-cumulative") == 1

    claim(db, "second")
    db.finish_job("second", output_path="/out/second.pdf", pages=8, pages_without_text=0)
    metrics.push(
        metrics.build_registry(db, versions=VERSIONS),
        url=pushgateway,
        instance="test-cumulative",
        timeout=5,
    )
    assert gateway_value(pushgateway, "comic2pdf_jobs_done_total", "test-cumulative") == 2
    assert gateway_value(pushgateway, "comic2pdf_pages_processed_total", "test-cumulative") == 20


def test_push_to_a_dead_port_fails_quickly(db):
    started = time.monotonic()
    with pytest.raises(PushFailed) as caught:
        metrics.push(
            metrics.build_registry(db, versions=VERSIONS),
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
            metrics.push(
                metrics.build_registry(db, versions=VERSIONS),
                url=url,
                instance="silent",
                timeout=0.5,
            )
        assert 0.4 < time.monotonic() - started < 3


def test_push_needs_a_timeout(db):
    with pytest.raises(ValueError, match="timeout"):
        metrics.push(
            metrics.build_registry(db, versions={}),
            url="http://127.0.0.1:1",
            instance="x",
            timeout=0,
        )
