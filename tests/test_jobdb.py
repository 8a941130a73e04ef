"""The job store on SQLite and PostgreSQL alike, with a real process for a crash.

Every test runs on both (the ``job_store`` fixture); contention is in
``test_jobdb_concurrency.py``, the specifics of each database in
``test_jobdb_sqlite.py`` and ``test_jobdb_postgres.py``.
"""

import logging
import subprocess
import sys
import textwrap

import pytest

from comic2pdf.errors import DecisionError
from comic2pdf.store import ClaimStatus, DuplicateAction, JobDB, Stage, State
from comic2pdf.store import jobs as store_jobs


def claim(db: JobDB, key: str = "k1", **overrides):
    fields = {
        "input_name": f"{key}.cbz",
        "input_path": f"/data/work/{key}/{key}.cbz",
        "input_size": 1234,
        "file_sha256": key.split("__")[0],
        "profile_sha256": "p" * 64,
        "profile_json": '{"languages":["eng"]}',
    }
    return db.claim_job(key, **{**fields, **overrides})


@pytest.fixture
def db(job_store):
    with JobDB(job_store) as database:
        yield database


# --- jobs --------------------------------------------------------------------------------


def test_claim_then_the_same_key_is_a_duplicate_until_it_fails(db):
    first = claim(db)
    assert first.status is ClaimStatus.CLAIMED and first.claimed
    assert first.job.state is State.QUEUED and first.job.generation == 1

    for step in (lambda: None, lambda: db.start_stage("k1", Stage.PREP)):
        step()
        again = claim(db, input_name="copy.cbz")
        assert again.status is ClaimStatus.DUPLICATE
        assert again.job.input_name == "k1.cbz"  # the existing job, untouched

    db.fail_job("k1", stage=Stage.PREP, reason="corrupt", message="bad CRC")
    retried = claim(db, input_name="retry.cbz")
    assert retried.claimed
    assert retried.job.generation == 2 and retried.job.attempts_prep == 0
    assert retried.job.error_reason is None and retried.job.input_name == "retry.cbz"
    counters = db.counter_values()
    assert counters["jobs_claimed"] == 2 and counters["duplicates_detected"] == 2


def test_a_done_job_is_a_duplicate(db):
    claim(db)
    db.finish_job("k1", output_path="/data/out/k1.pdf", pages=3, pages_without_text=0)
    assert claim(db).status is ClaimStatus.DUPLICATE


def test_attempts_and_retries_are_counted_per_stage(db):
    claim(db, run_id="run-1")
    assert db.start_stage("k1", "prep") == 1
    assert db.start_stage("k1", "prep") == 2
    assert db.start_stage("k1", "ocr", run_id="run-2") == 1
    job = db.get_job("k1")
    assert (job.state, job.stage, job.attempts_prep, job.attempts_ocr) == (
        State.RUNNING,
        Stage.OCR,
        2,
        1,
    )
    assert job.run_id == "run-2"
    assert db.metric_data().counters["stage_retries"] == {'{"stage":"prep"}': 1}


def test_finish_records_done_and_its_counters_once(db):
    claim(db)
    db.start_stage("k1", "finalize")
    job = db.finish_job(
        "k1",
        output_path="/data/out/k1.pdf",
        pages=24,
        pages_without_text=2,
        input_path="/data/archive/k1.cbz",
    )
    assert job.state is State.DONE and job.stage is None and job.finished_at is not None
    assert str(job.output_path) == "/data/out/k1.pdf"
    assert str(job.input_path) == "/data/archive/k1.cbz"
    again = db.finish_job("k1", output_path="/elsewhere.pdf", pages=24, pages_without_text=2)
    assert str(again.output_path) == "/data/out/k1.pdf"
    counters = db.counter_values()
    assert (counters["jobs_done"], counters["pages_processed"], counters["pages_without_text"]) == (
        1,
        24,
        2,
    )
    histograms = db.metric_data().histograms
    assert histograms["pages_per_comic"]["{}"] == ({"30.0": 1}, 1, 24.0)
    assert histograms["job_duration_seconds"]['{"outcome":"done"}'][1] == 1


def test_fail_records_reason_and_stage_labels(db):
    claim(db, "a")
    claim(db, "b")
    db.fail_job("a", stage="ocr", reason="timeout", message="killed after 3600 s")
    db.fail_job("b", stage="prep", reason="something new", message="?")
    job = db.get_job("a")
    assert (job.state, job.stage, job.error_reason) == (State.FAILED, Stage.OCR, "timeout")
    counters = db.metric_data().counters["jobs_failed"]
    assert counters == {
        '{"reason":"timeout","stage":"ocr"}': 1,
        '{"reason":"other","stage":"prep"}': 1,
    }


def test_an_exception_inside_the_transaction_changes_neither_state_nor_counters(db, monkeypatch):
    claim(db)
    db.start_stage("k1", "finalize")
    before = db.counter_values()
    real_count = store_jobs.count_event

    def count_then_break(conn, name, *args, **kwargs):
        real_count(conn, name, *args, **kwargs)
        if name == "pages_processed":
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(store_jobs, "count_event", count_then_break)
    with pytest.raises(RuntimeError, match="simulated"):
        db.finish_job("k1", output_path="/o.pdf", pages=5, pages_without_text=0)
    monkeypatch.undo()
    assert db.get_job("k1").state is State.RUNNING
    assert db.counter_values() == before
    db.record_event("push_failures")  # the connection is still usable
    assert db.counter_values()["push_failures"] == 1


def test_a_process_killed_inside_the_transaction_changes_nothing(db, job_store):
    claim(db)
    db.start_stage("k1", "finalize")
    before = db.counter_values()
    script = textwrap.dedent("""
        import os, sys
        from comic2pdf.store import JobDB, jobs
        real_count = jobs.count_event
        def count_then_die(conn, name, *args, **kwargs):
            real_count(conn, name, *args, **kwargs)
            if name == "pages_processed":
                os._exit(7)  # no rollback, no cleanup: like a kill -9
        jobs.count_event = count_then_die
        JobDB(sys.argv[1]).finish_job("k1", output_path="/o.pdf", pages=5, pages_without_text=0)
    """)
    result = subprocess.run([sys.executable, "-c", script, job_store], timeout=30)
    assert result.returncode == 7
    with JobDB(job_store) as fresh:
        assert fresh.get_job("k1").state is State.RUNNING
        assert fresh.counter_values() == before
        assert fresh.integrity_ok()


def test_in_flight_requeue_and_force_reprocess(db):
    claim(db, "queued")
    claim(db, "running")
    db.start_stage("running", "ocr")
    claim(db, "done")
    db.finish_job("done", output_path="/o.pdf", pages=1, pages_without_text=0)
    assert {job.job_key for job in db.jobs_in_flight()} == {"queued", "running"}
    assert [job.job_key for job in db.list_jobs([State.DONE])] == ["done"]
    assert len(db.list_jobs()) == 3

    assert db.requeue("running")
    assert db.get_job("running").state is State.QUEUED
    assert db.get_job("running").attempts_ocr == 1  # history kept for recovery
    assert not db.requeue("done")

    with pytest.raises(DecisionError, match="still"):
        db.force_reprocess("queued", input_name="x.cbz", input_path="/x.cbz")
    again = db.force_reprocess("done", input_name="held.cbz", input_path="/data/work/held.cbz")
    assert (again.state, again.generation, again.output_path) == (State.QUEUED, 2, None)
    assert again.input_name == "held.cbz"
    assert db.counter_values()["jobs_requeued"] == 1


def test_unknown_job_and_wrong_state_are_loud(db):
    with pytest.raises(KeyError):
        db.start_stage("missing", "prep")
    claim(db)
    db.fail_job("k1", stage="prep", reason="corrupt", message="x")
    with pytest.raises(ValueError, match="FAILED"):
        db.start_stage("k1", "ocr")


# --- duplicates ----------------------------------------------------------------------------


def test_duplicate_decision_is_applied_once(db):
    held = "/data/hold/duplicates/k1/20250101T000000Z__copy.cbz"
    first = db.add_duplicate("k1", held_path=held, incoming_name="copy.cbz")
    assert db.add_duplicate("k1", held_path=held, incoming_name="copy.cbz").id == first.id
    other = db.add_duplicate("k2", held_path="/h/other.cbz", incoming_name="other.cbz")
    assert [d.id for d in db.list_duplicates()] == [first.id, other.id]
    assert [d.id for d in db.list_duplicates(job_key="k2")] == [other.id]

    with pytest.raises(DecisionError, match="no decision"):
        db.mark_duplicate_applied(held)
    with pytest.raises(DecisionError, match="unknown action"):
        db.decide_duplicate(held, "KEEP_BOTH")
    db.decide_duplicate(held, "DISCARD")
    decided = db.decide_duplicate(first.id, DuplicateAction.USE_EXISTING_RESULT)  # changed mind
    assert decided.decision is DuplicateAction.USE_EXISTING_RESULT

    db.record_duplicate_error(held, "existing PDF missing")
    assert db.list_duplicates()[0].error == "existing PDF missing"
    assert db.mark_duplicate_applied(held) is True
    assert db.mark_duplicate_applied(first.id) is False
    with pytest.raises(DecisionError, match="already applied"):
        db.decide_duplicate(held, "DISCARD")
    assert [d.id for d in db.list_duplicates()] == [other.id]
    assert len(db.list_duplicates(pending_only=False)) == 2
    assert db.metric_data().counters["duplicates_resolved"] == {
        '{"action":"USE_EXISTING_RESULT"}': 1
    }
    with pytest.raises(DecisionError, match="no held duplicate"):
        db.decide_duplicate(999, "DISCARD")


# --- events ----------------------------------------------------------------------------------


def test_unknown_event_is_ignored_with_a_warning(db, caplog):
    with caplog.at_level(logging.WARNING, logger="comic2pdf"):
        db.record_event("no_such_event")
        db.observe("no_such_histogram", 3.0)
        db.observe("jobs_done", 3.0)  # a counter is not a histogram
        db.record_event("push_failures", value=-1)
    assert db.counter_values() == {}
    assert db.metric_data().histograms == {}
    assert "no_such_event" in caplog.text and "no_such_histogram" in caplog.text


def test_unknown_label_values_become_other(db, caplog):
    with caplog.at_level(logging.WARNING, logger="comic2pdf"):
        db.record_event("stage_retries", labels={"stage": "/data/in/secret name.cbz"})
        db.record_event("stage_retries", labels={"stage": "ocr", "job_key": "abc"})
        db.record_event("stage_retries")
    assert db.metric_data().counters["stage_retries"] == {
        '{"stage":"other"}': 2,
        '{"stage":"ocr"}': 1,
    }
    assert "secret name" in caplog.text  # reported in the log, never in a label


def test_observations_are_stored_per_bucket(db):
    for seconds in (0.5, 3, 4, 99999):
        db.observe("stage_duration_seconds", seconds, labels={"stage": "ocr"})
    db.observe("stage_duration_seconds", float("nan"), labels={"stage": "ocr"})
    buckets, count, total = db.metric_data().histograms["stage_duration_seconds"]['{"stage":"ocr"}']
    assert buckets == {"1.0": 1, "5.0": 2, "+Inf": 1}
    assert (count, total) == (4, 100006.5)
