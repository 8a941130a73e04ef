"""The inbox pipeline end to end: real files, real database, real Prefect, real OCR."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from comic2pdf.metrics.snapshot import snapshot_of
from comic2pdf.samples import make_comic
from comic2pdf.settings import load_settings
from comic2pdf.store import JobDB, State
from flows.metrics import push_metrics_flow
from flows.scan import scan_inbox
from tests import hostile
from tests.conftest import gateway_samples, total
from tests.fakes import alive, fake_tesseract, path_with

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
COMIC2PDF = Path(sys.executable).parent / "comic2pdf"


@pytest.fixture
def inbox(data_dir, monkeypatch):
    monkeypatch.setenv("STABLE_SECONDS", "0")
    monkeypatch.setenv("MAX_JOBS_IN_FLIGHT", "3")
    (data_dir / "in").mkdir(parents=True)
    return data_dir / "in"


def scan_until_idle(max_passes: int = 20):
    for _ in range(max_passes):
        report = scan_inbox()
        if report.started == 0 and report.waiting == 0:
            return
    raise AssertionError("the inbox never emptied")


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def error_reasons(data_dir: Path) -> dict[str, str]:
    return {
        p.name.removesuffix(".error.json"): json.loads(p.read_text())["reason"]
        for p in (data_dir / "error").glob("*.error.json")
    }


def test_mixed_inbox_every_file_ends_in_exactly_one_place(data_dir, inbox, tmp_path):
    good = [
        make_comic(inbox / f"Good {n}.cbz", title=f"Good {n}", pages=1, seed=n).path for n in (1, 2)
    ]
    shutil.copy(good[0], inbox / "Good 1 copy.cbz")  # same content: a duplicate
    hostile_files = {
        hostile.zip_dotdot(inbox).name: "unsafe_path",
        hostile.tar_symlink(inbox).name: "unsafe_path",
        hostile.zip_bomb(inbox, size=300 * 1024 * 1024).name: "too_large",
        hostile.zip_huge_png(inbox).name: "image_too_large",
        hostile.truncated_zip(inbox).name: "corrupt",
        hostile.empty_file(inbox).name: "not_an_archive",
        hostile.text_as_cbz(inbox).name: "not_an_archive",
        hostile.zip_without_images(inbox).name: "no_images",
    }
    shutil.copy(FIXTURES / "archives" / "rar5-encrypted.rar", inbox / "locked.cbr")
    shutil.copy(FIXTURES / "security" / "rar5-evil-symlink-traversal.rar", inbox / "evil.cbr")
    hostile_files |= {"locked.cbr": "encrypted", "evil.cbr": "unsafe_path"}
    ignored = ["new.cbz.part", ".hidden.cbz", "download.crdownload", "x.tmp"]
    for name in ignored:
        (inbox / name).write_bytes(b"still arriving")
    dropped = len(list(inbox.iterdir()))

    scan_until_idle()

    assert names(inbox) == sorted(ignored)  # ignored names untouched
    # The original and its copy run at once: whichever claims the job key first
    # is converted, the other is held.
    (held,) = (data_dir / "hold" / "duplicates").glob("*/*__Good 1*.cbz")
    converted = "Good 1.cbz" if held.name.endswith("copy.cbz") else "Good 1 copy.cbz"
    assert names(data_dir / "out") == sorted([converted.replace(".cbz", ".pdf"), "Good 2.pdf"])
    assert names(data_dir / "archive") == sorted([converted, "Good 2.cbz"])
    assert error_reasons(data_dir) == hostile_files
    assert sorted(p.name for p in (data_dir / "error").iterdir() if p.suffix != ".json") == sorted(
        hostile_files
    )
    assert list((data_dir / "work" / "incoming").iterdir()) == []
    # conservation: files in = archived + errors + held + ignored
    assert dropped == 2 + len(hostile_files) + 1 + len(ignored)
    assert not list(tmp_path.rglob("pwned*"))  # nothing escaped any job folder
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        counters = snapshot_of(db.metric_data())
        assert {job.state for job in db.list_jobs()} <= {State.DONE, State.FAILED}
        assert db.integrity_ok()
    assert counters["duplicates_detected"] == 1
    assert counters["input_rejected_signature"] == 2


def test_checks_refuse_by_size_signature_and_disk(data_dir, inbox, monkeypatch):
    comic = make_comic(inbox / "big.cbz", title="Big", pages=1, seed=1).path
    monkeypatch.setenv("MAX_INPUT_SIZE_MB", "0.001")
    scan_until_idle()
    assert error_reasons(data_dir) == {"big.cbz": "too_large"}
    monkeypatch.setenv("MAX_INPUT_SIZE_MB", "500")
    monkeypatch.setenv("DISK_FREE_FACTOR", "1e12")
    make_comic(inbox / "disk.cbz", title="Disk", pages=1, seed=2)
    scan_until_idle()
    assert error_reasons(data_dir)["disk.cbz"] == "disk_error"
    report = json.loads((data_dir / "error" / "disk.cbz.error.json").read_text())
    assert report["stage"] == "check" and "DISK_FREE_FACTOR" in report["message"]
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        counters = snapshot_of(db.metric_data())
    assert counters["input_rejected_size"] == 1
    assert counters["disk_error"] == 1
    assert comic.name == "big.cbz"


def test_two_scans_at_once_process_each_file_once(data_dir, inbox):
    for n in range(3):
        make_comic(inbox / f"c{n}.cbz", title=f"C{n}", pages=1, seed=10 + n)
    barrier = threading.Barrier(2)

    def scan():
        barrier.wait()
        scan_inbox()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    scan_until_idle()
    assert names(data_dir / "out") == ["c0.pdf", "c1.pdf", "c2.pdf"]
    assert names(data_dir / "archive") == ["c0.cbz", "c1.cbz", "c2.cbz"]
    assert not (data_dir / "hold" / "duplicates").exists() or not list(
        (data_dir / "hold" / "duplicates").iterdir()
    )
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        assert db.counter_values()["jobs_claimed"] == 3


def test_kill_9_during_ocr_then_next_scan_finishes(data_dir, inbox, tmp_path):
    """A scan process killed mid-OCR leaves a claim; the next scan takes it over."""
    make_comic(inbox / "Crash.cbz", title="Crash", pages=1, seed=21)
    pid_log = tmp_path / "pids"
    env = {
        **os.environ,
        "PATH": path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log)),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
    }
    env.pop("PREFECT_API_URL", None)  # the child runs its own ephemeral Prefect
    scan = subprocess.Popen(
        [str(COMIC2PDF), "scan", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so the test can reap the ephemeral server it leaves behind
    )
    deadline = time.monotonic() + 120
    while not (pid_log.exists() and pid_log.read_text().strip()):
        assert scan.poll() is None and time.monotonic() < deadline, "never reached OCR"
        time.sleep(0.2)
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    tesseracts = [int(pid) for pid in pid_log.read_text().split()]
    deadline = time.monotonic() + 10
    while alive(tesseracts) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(tesseracts) == []  # OCR children died with the scan
    # Prefect's ephemeral API server, a child of the killed scan, outlives it: reap it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(scan.pid, signal.SIGKILL)
    assert names(inbox) == []
    assert len(list((data_dir / "work" / "incoming").glob("*/Crash.cbz"))) == 1
    time.sleep(1.5)  # past the claim folder's grace period

    scan_until_idle()

    assert names(data_dir / "out") == ["Crash.pdf"]
    assert names(data_dir / "archive") == ["Crash.cbz"]
    assert list((data_dir / "work" / "incoming").iterdir()) == []
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        (job,) = db.list_jobs()
        assert job.state is State.DONE
        assert db.integrity_ok()


def test_scan_once_cli_and_status(data_dir, inbox, tmp_path):
    make_comic(inbox / "Cli.cbz", title="Cli", pages=1, seed=30)
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "ph")}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [str(COMIC2PDF), "scan", "--once", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert names(data_dir / "out") == ["Cli.pdf"]
    status = subprocess.run(
        [str(COMIC2PDF), "status", "--json", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (row,) = json.loads(status.stdout)
    assert row["state"] == "DONE" and row["output"].endswith("Cli.pdf")
    assert load_settings(data_dir=data_dir).db_path.exists()


def test_scan_then_push_reaches_the_gateway(data_dir, inbox, pushgateway, monkeypatch):
    """One good and two bad comics through a real scan, then a real push."""
    make_comic(inbox / "Good.cbz", title="Good", pages=2, seed=40)
    hostile.text_as_cbz(inbox)  # refused by the signature check: no job
    hostile.zip_without_images(inbox)  # a job that fails in prep
    scan_until_idle()
    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway)
    monkeypatch.setenv("INSTANCE_NAME", "scan-e2e")
    snapshot = push_metrics_flow()
    samples = gateway_samples(pushgateway, "scan-e2e")
    assert total(samples, "comic2pdf_jobs_done_total") == snapshot["done"] == 1
    assert (
        samples[("comic2pdf_jobs_failed_total", (("reason", "no_images"), ("stage", "prep")))] == 1
    )
    assert snapshot["error"] == 2  # the failed job and the refused input: both in error/
    assert total(samples, "comic2pdf_pages_processed_total") == snapshot["pages_processed"] == 2
    assert samples[("comic2pdf_inputs_rejected_total", (("reason", "not_an_archive"),))] == 1
    assert snapshot["input_rejected_signature"] == 1
    assert total(samples, "comic2pdf_stage_duration_seconds_count") >= 3  # prep, ocr, finalize
    assert total(samples, "comic2pdf_last_success_timestamp_seconds") > 0
    assert json.loads((data_dir / "index" / "metrics.json").read_text())["done"] == 1


def ocr_intervals(times_log: Path) -> list[tuple[float, float]]:
    """(start, end) of each Tesseract run, from a ``timed`` fake's log (runs one at a time)."""
    events = [line.split() for line in times_log.read_text().splitlines()]
    starts = sorted(float(t) for kind, t in events if kind == "start")
    ends = sorted(float(t) for kind, t in events if kind == "end")
    return list(zip(starts, ends, strict=True))


def overlapping(intervals: list[tuple[float, float]]) -> bool:
    ordered = sorted(intervals)
    return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:]))


@pytest.mark.parametrize("ocr_concurrency", [1, 3])
def test_the_global_ocr_limit_holds_while_two_comics_convert_at_once(
    data_dir, inbox, tmp_path, monkeypatch, ocr_concurrency
):
    """OCR_CONCURRENCY=1: never two OCRs at once; 3: they do overlap (the control).

    Without a Prefect server the bound is the scanning process's own (tasks/slots.py);
    with one it is a Prefect global limit (tests/test_prefect_runs.py).
    """
    pid_log = tmp_path / "pids"
    bin_dir = fake_tesseract(tmp_path / "bin", behaviour="timed", pid_log=pid_log)
    monkeypatch.setenv("PATH", path_with(bin_dir))
    monkeypatch.setenv("OCR_CONCURRENCY", str(ocr_concurrency))
    monkeypatch.setenv("OCR_JOBS", "1")  # one page, one Tesseract per comic
    for n in range(2):
        make_comic(inbox / f"C{n}.cbz", title=f"C{n}", pages=1, size=(1200, 1800), seed=n)

    report = scan_inbox()

    assert report.outcomes == {"done": 2}
    intervals = ocr_intervals(pid_log.with_name("pids.times"))
    # Comic mode: one Tesseract run for the page's balloons, then one for the rest of it.
    assert len(intervals) == 4
    assert overlapping(intervals) is (ocr_concurrency > 1)
