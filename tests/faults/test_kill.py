"""kill -9 at chosen moments: nothing lost, nothing published twice, nothing half-written.

The moments are picked from outside, by watching the data folder and the job
table, with seeded random delays: no test hook in the product.
tests/test_scan_flow.py already proves a kill during a hung OCR is taken over;
here the kills land in extraction, in a real OCR, in a database write and
around the final move, one scanner after the other, each new scanner taking
over what the previous one left.
"""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from comic2pdf.inbox import claim_file, ensure_layout
from comic2pdf.samples import make_comic
from comic2pdf.settings import load_settings
from comic2pdf.store import JobDB, State
from flows.convert import checked_job_key, start_job
from flows.scan import scan_inbox
from tests import hostile
from tests.faults.ledger import (
    Ledger,
    assert_database_intact,
    assert_no_temporaries,
    published_pdfs,
)
from tests.faults.scanners import JobRows, Scanner

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SEED = 20261123
PAGE = (300, 400)  # one small page: OCR takes about a second
#: A non-image entry this big keeps extraction busy long enough to be caught in the act.
BONUS_BYTES = 32 << 20
POLL = 0.002


def comic_with_bonus(path: Path, *, seed: int) -> Path:
    """A one-page comic plus a large non-image entry (skipped after extraction)."""
    make_comic(path, title=path.stem, pages=1, size=PAGE, seed=seed)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("bonus/making-of.bin", random.Random(seed).randbytes(BONUS_BYTES))
    return path


def _scratch(data_dir: Path) -> list[Path]:
    """The job scratch folders ``work/<jobKey>/``."""
    work = data_dir / "work"
    return [p for p in work.iterdir() if p.name != "incoming"] if work.is_dir() else []


def in_stage(jobs: JobRows, scanner: Scanner, stage: str) -> Callable[[], bool]:
    """A condition: a job of *scanner* is RUNNING in *stage*."""
    return lambda: stage in jobs.stages(since=scanner.started_at)


def kill_during_extraction(scanner: Scanner, data_dir: Path, jobs: JobRows, rng) -> None:
    """Kill as soon as a job's ``work/<key>/extract`` appears (the bonus entry keeps it busy)."""

    def extracting() -> bool:
        return any((p / "extract").is_dir() for p in _scratch(data_dir))

    assert scanner.wait_for(extracting, timeout=120, poll=POLL), scanner.output()[-3000:]
    time.sleep(rng.uniform(0, 0.005))
    scanner.kill9()
    assert [p for p in _scratch(data_dir) if (p / "extract").is_dir()], "prep was already over"


def kill_during_ocr(scanner: Scanner, data_dir: Path, jobs: JobRows, rng) -> None:
    """Kill while Tesseract is running on a job's page (real ocrmypdf)."""
    ocr_started = in_stage(jobs, scanner, "ocr")
    assert scanner.wait_for(ocr_started, timeout=120, poll=0.02), scanner.output()[-3000:]

    def tesseract_running() -> bool:
        programs = [Path(command.split()[0]).name for command in ocr_survivors(data_dir)]
        return "tesseract" in programs

    assert scanner.wait_for(tesseract_running, timeout=60, poll=0.01), scanner.output()[-3000:]
    time.sleep(rng.uniform(0, 0.1))
    scanner.kill9()


def kill_during_database_write(scanner: Scanner, data_dir: Path, jobs: JobRows, rng) -> None:
    """Hold the database's write lock over an OCR; kill the scanner waiting in its next write.

    OCR writes nothing to the database, so the first write after it (the end of
    the ocr attempt) is the one that waits for our lock: the scanner is killed
    inside a write, with final.pdf made but not yet recorded.
    """
    ocr_started = in_stage(jobs, scanner, "ocr")
    assert scanner.wait_for(ocr_started, timeout=120, poll=0.02), scanner.output()[-3000:]
    lock = sqlite3.connect(jobs.db_path, timeout=30, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        locked_at = time.time()

        def ocr_done() -> bool:
            outputs = [p / "final.pdf" for p in _scratch(data_dir)]
            return any(p.exists() and p.stat().st_mtime >= locked_at for p in outputs)

        assert scanner.wait_for(ocr_done, timeout=120, poll=0.02), scanner.output()[-3000:]
        time.sleep(rng.uniform(0.3, 0.8))  # the scanner is now waiting for the lock
        scanner.kill9()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert ocr_started(), "the end of the OCR attempt was recorded despite the lock"


def kill_around_final_move(scanner: Scanner, data_dir: Path, jobs: JobRows, rng) -> None:
    """Kill within a few milliseconds of finalize starting: validate, publish, archive."""
    finalizing = in_stage(jobs, scanner, "finalize")
    assert scanner.wait_for(finalizing, timeout=180, poll=POLL), scanner.output()[-3000:]
    time.sleep(rng.uniform(0, 0.05))
    scanner.kill9()


#: What the OCR stage starts; each must die with the scanner that started it.
OCR_TOOLS = ("comic2pdf.ocr.child", "ocrmypdf", "tesseract", "gs")


def ocr_survivors(data_dir: Path) -> list[str]:
    """OCR processes working for *data_dir* (they inherit its DATA_DIR), zombies excepted."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE or not info["cmdline"]:
            continue
        if (info["environ"] or {}).get("DATA_DIR") != str(data_dir):
            continue
        words = [Path(arg).name for arg in info["cmdline"]]
        if any(tool in words for tool in OCR_TOOLS):
            found.append(" ".join(info["cmdline"]))
    return found


def assert_no_ocr_survivors(data_dir: Path, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (survivors := ocr_survivors(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors == []


KILLS = (
    kill_during_extraction,
    kill_during_ocr,
    kill_during_database_write,
    kill_around_final_move,
)


@pytest.mark.usefixtures("prefect_harness")
def test_kill_9_at_four_moments_then_a_new_scan_finishes(data_dir, scanners, monkeypatch):
    inbox = data_dir / "in"
    inbox.mkdir(parents=True)
    ledger = Ledger(data_dir)
    ledger.drop(comic_with_bonus(inbox / "Bonus.cbz", seed=1))
    ledger.drop(make_comic(inbox / "Alpha.cbz", title="Alpha", pages=1, size=PAGE, seed=2).path)
    ledger.drop(Path(shutil.copy(inbox / "Alpha.cbz", inbox / "Alpha again.cbz")))
    ledger.drop(hostile.zip_dotdot(inbox))
    db_path = data_dir / "index" / "comic2pdf.sqlite3"
    jobs = JobRows(db_path)
    rng = random.Random(SEED)

    for kill in KILLS:
        scanner = scanners("--once", STABLE_SECONDS="0", OCR_JOBS="1", RETRY_DELAY_SECONDS="0")
        kill(scanner, data_dir, jobs, rng)
        assert_no_ocr_survivors(data_dir)
        # What must hold at every moment, whatever the kill interrupted:
        ledger.assert_conserved(settled=False)
        published_pdfs(data_dir / "out")
        assert_database_intact(db_path)
    jobs.close()

    monkeypatch.setenv("STABLE_SECONDS", "0")
    monkeypatch.setenv("OCR_JOBS", "1")
    scan_until_idle()

    places = ledger.assert_conserved(settled=True)
    assert len(places["archive"]) == 2 and len(places["hold"]) == 1
    assert [p.name for p in places["error"]] == ["dotdot.cbz"]
    pdfs = published_pdfs(data_dir / "out")
    assert len(pdfs) == 2 and not [p for p in pdfs if "(2)" in p.name]  # none published twice
    assert "Bonus.pdf" in {p.name for p in pdfs}
    assert_no_temporaries(data_dir)
    assert [p.name for p in (data_dir / "work").iterdir()] == ["incoming"]  # scratch cleaned
    assert list((data_dir / "work" / "incoming").iterdir()) == []
    assert_database_intact(db_path)
    with JobDB(db_path) as db:
        states = Counter(job.state for job in db.list_jobs())
        counters = db.counter_values()
    assert states == {State.DONE: 2, State.FAILED: 1}
    assert counters["jobs_requeued"] >= 1
    assert counters["jobs_done"] == 2


@pytest.mark.usefixtures("prefect_harness")
def test_killed_after_done_was_recorded_the_next_scan_only_archives(data_dir, monkeypatch):
    """The narrowest window of the kill test above, built exactly: DONE committed, not moved.

    A kill there left the input in its claim folder; the next scan used to
    crash on it (TypeError) at every pass, so it never reached archive/.
    """
    monkeypatch.setenv("STABLE_SECONDS", "0")
    settings = load_settings()
    ensure_layout(settings)
    comic = make_comic(settings.in_dir / "Done.cbz", title="Done", pages=1, size=PAGE, seed=9)
    claim = claim_file(comic.path, settings)
    key, profile = checked_job_key(claim.path, settings)
    assert start_job(claim, key, profile, settings, force=False) == (State.QUEUED, 1)
    with JobDB(settings.db_path) as db:
        db.start_stage(key, "finalize")
        db.finish_job(key, output_path=settings.out_dir / "Done.pdf", pages=1, pages_without_text=0)
    os.close(claim.lock_fd)  # the process dies: the kernel drops its lock
    os.utime(claim.folder, (time.time() - 60, time.time() - 60))  # past the claim grace period

    report = scan_inbox()

    assert report.outcomes == {"done": 1}
    assert [p.name for p in settings.archive_dir.iterdir()] == ["Done.cbz"]
    assert list(settings.incoming_dir.iterdir()) == []
    with JobDB(settings.db_path) as db:
        job = db.get_job(key)
        assert job.state is State.DONE and job.input_path == settings.archive_dir / "Done.cbz"
        assert db.counter_values()["jobs_done"] == 1  # not counted twice


def scan_until_idle(max_passes: int = 20) -> None:
    for _ in range(max_passes):
        report = scan_inbox()
        if report.started == 0 and report.waiting == 0:
            return
    raise AssertionError("the inbox never emptied")


# --- a kill in the middle of a commit ---------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from comic2pdf.store import JobDB
    with JobDB(sys.argv[1]) as db:
        done = 0
        while True:
            db.record_event("pages_processed")  # one write transaction, fsync'ed
            done += 1
            print(done, flush=True)
""")


def test_kill_9_in_the_middle_of_commits_loses_nothing_acknowledged(tmp_path):
    """A process committing as fast as it can is killed at seeded moments, five times.

    Each commit is all or nothing: the counter holds every acknowledged commit,
    plus at most the one that committed just before the kill.
    """
    db_path = tmp_path / "index" / "comic2pdf.sqlite3"
    rng = random.Random(SEED)
    recorded = 0
    for _ in range(5):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout.readline().strip() == "1", "the writer never committed"
        time.sleep(rng.uniform(0.02, 0.3))
        writer.send_signal(signal.SIGKILL)
        lines = ["1", *writer.stdout.read().split()]
        writer.wait()
        writer.stdout.close()
        acknowledged = int(lines[-1])
        assert_database_intact(db_path)
        with JobDB(db_path) as db:
            value = db.counter_values()["pages_processed"]
        assert recorded + acknowledged <= value <= recorded + acknowledged + 1
        recorded = value
