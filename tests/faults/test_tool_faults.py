"""The machine misbehaves during a conversion: Tesseract crashes once, the disk fills up."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from comic2pdf.errors import DiskError, StageTimeout
from comic2pdf.metrics.snapshot import snapshot_of
from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB, State
from flows.convert import convert_comic
from tests.conftest import task_run_counts
from tests.fakes import alive, fake_tesseract, path_with
from tests.faults.ledger import Ledger, assert_database_intact, published_pdfs

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_hung_tesseract_is_killed_retried_then_the_input_goes_to_error(
    data_dir, tmp_path, monkeypatch
):
    pid_log = tmp_path / "pids"
    monkeypatch.setenv(
        "PATH", path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    )
    monkeypatch.setenv("OCR_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("MAX_ATTEMPTS_OCR", "2")
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "0")
    (data_dir / "in").mkdir(parents=True)
    ledger = Ledger(data_dir)
    comic = make_comic(data_dir / "in" / "Hung.cbz", title="Hung", pages=1, size=(300, 400))
    ledger.drop(comic.path)

    state = convert_comic(path=str(comic.path), return_state=True)

    with pytest.raises(StageTimeout):
        state.result()
    assert task_run_counts(state.state_details.flow_run_id)["ocr"] == 2
    pids = [int(pid) for pid in pid_log.read_text().split()]
    assert len(pids) == 2 and alive(pids) == []  # each attempt's tree was killed
    ledger.assert_conserved(settled=True)
    report = json.loads((data_dir / "error" / "Hung.cbz.error.json").read_text())
    assert (report["reason"], report["stage"], report["attempts"]) == ("timeout", "ocr", 2)
    assert list((data_dir / "out").iterdir()) == []
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        (job,) = db.list_jobs()
        counters = snapshot_of(db.metric_data())
    assert job.state is State.FAILED and job.error_reason == "timeout"
    assert counters["jobs_timed_out"] == 2 and counters["ocr_retries"] == 1  # per attempt


def test_tesseract_crashing_once_costs_one_retry(data_dir, tmp_path, monkeypatch):
    pid_log = tmp_path / "pids"
    monkeypatch.setenv(
        "PATH", path_with(fake_tesseract(tmp_path / "bin", behaviour="crash-once", pid_log=pid_log))
    )
    (data_dir / "in").mkdir(parents=True)
    comic = make_comic(data_dir / "in" / "Flaky.cbz", title="Flaky", pages=1, size=(300, 400))

    state = convert_comic(path=str(comic.path), return_state=True)

    result = state.result()
    assert task_run_counts(state.state_details.flow_run_id)["ocr"] == 2
    assert len(pid_log.read_text().split()) >= 2  # the crash, then the real runs
    assert published_pdfs(data_dir / "out") == [data_dir / "out" / "Flaky.pdf"]
    assert [p.name for p in (data_dir / "archive").iterdir()] == ["Flaky.cbz"]
    with JobDB(data_dir / "index" / "comic2pdf.sqlite3") as db:
        job = db.get_job(result.job_key)
        counters = snapshot_of(db.metric_data())
    assert job.state is State.DONE and job.attempts_ocr == 2
    assert counters["ocr_retries"] == 1 and counters["jobs_done"] == 1


def test_disk_full_during_ocr_fails_clearly_and_keeps_the_input(
    data_dir, small_disk, monkeypatch, tmp_path
):
    """DATA_DIR and TMPDIR on one small disk: prep fits, OCR's temporary files do not.

    A comic page of 2000x3000 is a 250 kB JPEG, but ocrmypdf rasterises it into
    megabytes of temporary images: the disk is sized between the two. Where no
    tmpfs can be mounted, Tesseract's writes hit ENOSPC instead (a fake).
    """
    comic = make_comic(tmp_path / "Big Page.cbz", title="Big", pages=1, size=(2000, 3000))
    size = comic.path.stat().st_size
    disk = small_disk(3 * size + 640 * 1024)  # input, pages, raw.pdf, the database
    if disk is None:
        disk = tmp_path / "no-tmpfs"
        disk.mkdir()
        fakes = fake_tesseract(tmp_path / "bin", behaviour="disk-full", pid_log=tmp_path / "pids")
        monkeypatch.setenv("PATH", path_with(fakes))
    data = disk / "data"
    (disk / "tmp").mkdir()
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setattr(tempfile, "tempdir", tempfile.gettempdir())  # this process keeps its own
    monkeypatch.setenv("TMPDIR", str(disk / "tmp"))  # ocrmypdf's scratch, same disk
    monkeypatch.setenv("DISK_FREE_FACTOR", "1")
    monkeypatch.setenv("MAX_ATTEMPTS_OCR", "2")
    monkeypatch.setenv("OCR_JOBS", "1")
    (data / "in").mkdir(parents=True)
    ledger = Ledger(data)
    dropped = ledger.drop(Path(shutil.move(comic.path, data / "in" / comic.path.name)))

    state = convert_comic(path=str(dropped), return_state=True)

    with pytest.raises(DiskError):
        state.result()
    ledger.assert_conserved(settled=True)
    assert sorted(p.name for p in (data / "error").iterdir()) == [
        "Big Page.cbz",
        "Big Page.cbz.error.json",
    ]
    report = json.loads((data / "error" / "Big Page.cbz.error.json").read_text())
    assert report["reason"] == "disk_error" and report["stage"] == "ocr"
    assert report["attempts"] == 2
    assert list((data / "out").iterdir()) == []
    assert [p.name for p in (data / "work").iterdir()] == ["incoming"]  # scratch deleted
    assert list((data / "work" / "incoming").iterdir()) == []
    assert list((disk / "tmp").iterdir()) == []  # ocrmypdf cleaned up after itself
    assert_database_intact(data / "index" / "comic2pdf.sqlite3")
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        (job,) = db.list_jobs()
        counters = snapshot_of(db.metric_data())
    assert job.state is State.FAILED and job.error_reason == "disk_error"
    assert counters["disk_error"] == 2 and counters["ocr_retries"] == 1  # per attempt
