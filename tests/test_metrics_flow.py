"""The push-metrics flow and ``comic2pdf metrics`` against a real Pushgateway and Prefect API."""

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from comic2pdf.cli_metrics import add_metrics_command
from comic2pdf.metrics.definitions import METRICS_BY_NAME
from comic2pdf.metrics.reporting import refresh_snapshot
from comic2pdf.metrics.snapshot import JSON_KEYS, LEGACY_KEYS
from comic2pdf.samples import make_comic
from comic2pdf.settings import load_settings
from comic2pdf.store import JobDB
from flows.convert import checked_job_key, convert_comic
from flows.metrics import PUSH_RETRIES, push_metrics_flow
from tests.conftest import free_port, gateway_samples, task_run_counts, total
from tests.test_jobdb import claim

ROOT = Path(__file__).resolve().parents[1]


def flow_test(function):
    """A test that runs flows on the session's Prefect API."""
    return pytest.mark.slow(pytest.mark.usefixtures("prefect_harness")(function))


def record_some(data_dir: Path, *, done: str = "done", failed: str | None = "failed") -> None:
    """One comic done with 12 pages (2 without text) and, optionally, one failed in OCR."""
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        claim(db, done)
        db.start_stage(done, "prep")
        db.finish_job(done, output_path=f"/out/{done}.pdf", pages=12, pages_without_text=2)
        if failed:
            claim(db, failed)
            db.start_stage(failed, "ocr")
            db.fail_job(failed, stage="ocr", reason="ocr_failed", message="tesseract crashed")


def read_snapshot(data_dir: Path) -> dict:
    return json.loads((data_dir / "index" / "metrics.json").read_text())


def push_failures(data_dir: Path) -> int:
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        return db.counter_values().get("push_failures", 0)


@pytest.fixture
def gateway_env(monkeypatch, pushgateway, request):
    """PUSHGATEWAY_URL set to the live gateway; INSTANCE_NAME unique to the test."""
    instance = request.node.name.removeprefix("test_")
    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway)
    monkeypatch.setenv("INSTANCE_NAME", instance)
    monkeypatch.setenv("PUSHGATEWAY_TIMEOUT_SECONDS", "5")
    return instance


# --- the flow --------------------------------------------------------------------------------


@flow_test
def test_flow_pushes_what_the_snapshot_says(data_dir, pushgateway, gateway_env):
    record_some(data_dir)
    document = push_metrics_flow()

    assert document == read_snapshot(data_dir)
    samples = gateway_samples(pushgateway, gateway_env)
    assert samples[("comic2pdf_jobs_done_total", ())] == 1
    assert samples[("comic2pdf_pages_processed_total", ())] == 12
    failed = (("reason", "ocr_failed"), ("stage", "ocr"))
    assert samples[("comic2pdf_jobs_failed_total", failed)] == 1
    (build,) = [dict(labels) for name, labels in samples if name == "comic2pdf_build_info"]
    assert build["comic2pdf"] and build["tesseract"] != "unknown"
    for key, parts in JSON_KEYS.items():  # every JSON key is the sum of its series
        pushed = sum(
            value
            for (name, labels), value in samples.items()
            for part, wanted in parts
            if name == METRICS_BY_NAME[part].prometheus_name and set(wanted.items()) <= set(labels)
        )
        assert pushed == document[key], key
    assert all(document[old] == document[new] for old, new in LEGACY_KEYS.items())
    assert document["done"] == 1 and document["error"] == 1 and document["pages_processed"] == 12


# Runs in a child process: must not import Prefect (nor this module, which does).
NEW_PROCESS = """
import argparse, sys
from pathlib import Path
from comic2pdf.cli_metrics import add_metrics_command
from comic2pdf.store import JobDB
from tests.test_jobdb import claim

with JobDB(Path(sys.argv[1]) / "index" / "comic2pdf.sqlite3") as db:
    claim(db, "again")
    db.start_stage("again", "prep")
    db.finish_job("again", output_path="/out/again.pdf", pages=12, pages_without_text=0)
parser = argparse.ArgumentParser()
add_metrics_command(parser.add_subparsers())
args = parser.parse_args(["metrics", "--push"])
code = args.handler(args)
assert not [m for m in sys.modules if m.split(".")[0] == "prefect"], "the CLI imported Prefect"
sys.exit(code)
"""


@flow_test
def test_counters_survive_into_a_new_process(data_dir, pushgateway, gateway_env):
    record_some(data_dir)
    push_metrics_flow()
    assert gateway_samples(pushgateway, gateway_env)[("comic2pdf_jobs_done_total", ())] == 1

    # A new process records another comic and runs `comic2pdf metrics --push`.
    done = subprocess.run(
        [sys.executable, "-c", NEW_PROCESS, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr

    samples = gateway_samples(pushgateway, gateway_env)
    assert samples[("comic2pdf_jobs_done_total", ())] == 2
    assert samples[("comic2pdf_pages_processed_total", ())] == 24
    assert total(samples, "comic2pdf_jobs_failed_total") == 1
    assert read_snapshot(data_dir)["done"] == 2


@flow_test
def test_gateway_down_fails_the_run_and_the_next_push_carries_everything(
    data_dir, pushgateway, gateway_env, monkeypatch
):
    record_some(data_dir)
    monkeypatch.setenv("PUSHGATEWAY_URL", f"http://127.0.0.1:{free_port()}")

    state = push_metrics_flow(return_state=True)

    assert state.is_failed()
    assert "could not push metrics" in state.message
    assert read_snapshot(data_dir)["done"] == 1
    counts = task_run_counts(state.state_details.flow_run_id)
    assert counts == {"write-snapshot": 1, "push": PUSH_RETRIES + 1}
    assert push_failures(data_dir) == PUSH_RETRIES + 1

    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway)
    assert push_metrics_flow()["done"] == 1
    samples = gateway_samples(pushgateway, gateway_env)
    assert samples[("comic2pdf_jobs_done_total", ())] == 1
    assert total(samples, "comic2pdf_jobs_failed_total") == 1
    assert samples[("comic2pdf_push_failures_total", ())] == PUSH_RETRIES + 1


@flow_test
def test_a_gateway_that_never_answers_fails_within_the_timeouts(data_dir, monkeypatch):
    record_some(data_dir)
    timeout = 0.5
    monkeypatch.setenv("PUSHGATEWAY_TIMEOUT_SECONDS", str(timeout))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts the connections; nobody ever answers
        monkeypatch.setenv("PUSHGATEWAY_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        state = push_metrics_flow(return_state=True)
        elapsed = time.monotonic() - started

    assert state.is_failed()
    assert "timed out" in state.message
    attempts = PUSH_RETRIES + 1
    assert timeout * attempts <= elapsed < timeout * attempts + 10
    assert (data_dir / "index" / "metrics.json").is_file()


# --- the CLI command (no Prefect) -------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="comic2pdf")
    add_metrics_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["metrics", *argv])
    return args.handler(args)


def test_cli_prints_a_parseable_exposition_and_writes_the_snapshot(tmp_path, capsys):
    data = tmp_path / "data"
    record_some(data)
    assert run_cli("--data-dir", str(data)) == 0

    families = {f.name: f for f in text_string_to_metric_families(capsys.readouterr().out)}
    assert families["comic2pdf_jobs_done"].samples[0].value == 1
    assert families["comic2pdf_build_info"].samples[0].labels["ocrmypdf"] != "unknown"
    assert read_snapshot(data)["done"] == 1


def test_cli_writes_a_parseable_textfile(tmp_path, capsys):
    data = tmp_path / "data"
    record_some(data)
    textfile = tmp_path / "textfile" / "comic2pdf.prom"
    assert run_cli("--data-dir", str(data), "--textfile", str(textfile)) == 0

    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    assert families["comic2pdf_pages_processed"].samples[0].value == 12
    assert textfile.read_text() == capsys.readouterr().out
    assert [p.name for p in textfile.parent.iterdir()] == ["comic2pdf.prom"]


def test_cli_push_to_a_dead_gateway_exits_1_and_still_writes_the_snapshot(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    record_some(data)
    monkeypatch.setenv("PUSHGATEWAY_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("PUSHGATEWAY_TIMEOUT_SECONDS", "2")

    assert run_cli("--data-dir", str(data), "--push") == 1

    assert capsys.readouterr().err.startswith("push_failed: could not push metrics")
    assert read_snapshot(data)["done"] == 1
    assert push_failures(data) == 1


def test_cli_push_needs_a_gateway_url(tmp_path, monkeypatch):
    from comic2pdf.errors import SettingsError

    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    with pytest.raises(SettingsError, match="PUSHGATEWAY_URL"):
        run_cli("--data-dir", str(tmp_path / "data"), "--push")
    assert not (tmp_path / "data" / "index" / "metrics.json").exists()


# --- what the convert flow records -------------------------------------------------------------


@flow_test
def test_refusals_of_every_reason_and_held_duplicates_are_counted(data_dir):
    """A missing language pack refused an input without counting it anywhere (#15, 9)."""

    inbox = data_dir / "in"
    refused = make_comic(inbox / "Refused.cbz", title="Refused", pages=1, size=(300, 400)).path
    assert convert_comic(path=str(refused), lang="zzz", return_state=True).is_failed()
    (data_dir / "in" / "text.cbz").write_text("not a comic\n" * 40)
    assert convert_comic(path=str(data_dir / "in" / "text.cbz"), return_state=True).is_failed()

    held = make_comic(inbox / "Held.cbz", title="Held", pages=1, size=(300, 400)).path
    key, _ = checked_job_key(held, load_settings())
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        claim(db, key)  # the same comic in flight elsewhere
    assert convert_comic(path=str(held)).outcome == "duplicate"

    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        data = db.metric_data()
    assert data.counters["inputs_rejected"] == {
        '{"reason":"missing_tool"}': 1,
        '{"reason":"not_an_archive"}': 1,
    }
    durations = data.histograms["job_duration_seconds"]
    outcomes = {labels: count for labels, (_, count, _) in durations.items()}
    assert outcomes == {'{"outcome":"rejected"}': 2, '{"outcome":"duplicate"}': 1}
    assert data.counters["duplicates_detected"] == {"{}": 1}
    assert refresh_snapshot(load_settings())["error"] == 2  # both went to error/


@flow_test
def test_an_attempt_killed_by_its_time_limit_is_recorded_as_a_timeout(data_dir, monkeypatch):
    """stage_duration_seconds once left out every attempt a timeout killed (#15, 6 and 7)."""
    from prefect import flow, task

    from tasks.stages import stage_attempt

    monkeypatch.setenv("PREP_TIMEOUT_SECONDS", "0.5")  # our watchdog, in the task's thread
    settings = load_settings()

    @task(retries=1, retry_delay_seconds=0)
    def hanging_prep():
        with stage_attempt(settings, "hung", "prep"):
            for _ in range(300):  # short sleeps: the watchdog interrupts a thread between them
                time.sleep(0.1)

    @flow
    def one_stage():
        hanging_prep()

    with JobDB.from_settings(settings) as db:
        claim(db, "hung")
    assert one_stage(return_state=True).is_failed()

    with JobDB.from_settings(settings) as db:
        data = db.metric_data()
    assert data.counters["stage_failures"] == {'{"reason":"timeout","stage":"prep"}': 2}
    assert data.counters["stage_retries"] == {'{"stage":"prep"}': 1}
    _, count, total = data.histograms["stage_duration_seconds"]['{"stage":"prep"}']
    assert count == 2 and total >= 2 * 0.5  # each ran until its time limit
