"""Two hosts' worth of scanners on PostgreSQL: one data folder, each input converted once.

Real parts: the session's throwaway PostgreSQL cluster (tests/pg.py) holding both the
Prefect server's database (``scripts/server.sh``, the way ``make server`` starts it, with
basic auth) and the job store (``JOB_DB_URL``); two ``comic2pdf scan --once`` processes,
each in a working folder and PREFECT_HOME of its own, as two hosts would be, sharing one
DATA_DIR; real Tesseract on one small page per comic. Then one of two such scanners is
killed with ``kill -9`` in the middle of its OCR, and the other finishes its input.
"""

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from comic2pdf.proc import kill_group
from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB, State
from tests import hostile, pg
from tests.conftest import BIN, new_schema_url, start_process
from tests.fakes import alive, fake_tesseract, started_pids, wait_until
from tests.faults.ledger import Ledger, published_pdfs
from tests.pg_server import documented_server, server_env

pytestmark = [pytest.mark.server, pytest.mark.slow]

AUTH = f"comic2pdf:{secrets.token_hex(12)}"
COMICS = 10
PAGE = (300, 400)  # one small page: a second of OCR


@pytest.fixture
def server(postgres: pg.PgCluster, tmp_path: Path):
    """``scripts/server.sh`` on a database of its own; yields its API URL."""
    with documented_server(postgres, tmp_path / "server", auth=AUTH) as (url, _):
        yield url


def drop_inbox(inbox: Path, staging: Path) -> Ledger:
    """10 distinct comics, byte-copies of two of them, one broken archive: 13 files.

    Issue #16 says "12 comics (2 duplicates, 1 broken)"; read as 10 comics that become
    PDFs, plus 2 duplicates and 1 broken archive on top (13 inputs), which is what its
    expected result (10 PDFs, 2 held, 1 in error/) adds up to.
    """
    ledger = Ledger(inbox.parent)
    staging.mkdir()
    comics = [
        make_comic(staging / f"Issue {n:02d}.cbz", title=f"Issue {n}", pages=1, size=PAGE, seed=n)
        for n in range(COMICS)
    ]
    copies = [shutil.copy(comics[n].path, staging / f"Issue {n:02d} copy.cbz") for n in (3, 7)]
    broken = hostile.truncated_copy(staging, comics[0].path)
    for path in [*(c.path for c in comics), *map(Path, copies), broken]:
        ledger.drop(path.rename(inbox / path.name))  # same file system: a drop is a rename
    return ledger


def host_settings(server: str, data: Path, job_db_url: str, **more: str) -> dict[str, str]:
    """What each host's shell sets: the server, the shared data folder, the job store."""
    return {
        "PREFECT_API_URL": server,
        "PREFECT_API_AUTH_STRING": AUTH,
        "DATA_DIR": str(data),
        "JOB_DB_URL": job_db_url,
        "STABLE_SECONDS": "0",
        "OCR_JOBS": "1",
        "RETRY_DELAY_SECONDS": "0",
        "PREP_CONCURRENCY": "2",
        "OCR_CONCURRENCY": "2",
        **more,
    }


def wait_for_a_job(job_db_url: str, scanner: subprocess.Popen, log: Path, *, jobs: int = 1) -> None:
    """Return once the job store holds *jobs* jobs, *scanner* having claimed the last."""
    deadline = time.monotonic() + 120
    while scanner.poll() is None and time.monotonic() < deadline:
        with JobDB(job_db_url) as db:
            if len(db.list_jobs()) >= jobs:
                return
        time.sleep(0.2)
    raise AssertionError(f"the scanner claimed nothing; see {log}")


def conversions_in(log: str) -> int:
    """Comics this scanner converted, from its ``scan: started N {'done': n, …}`` lines."""
    return sum(int(n) for n in re.findall(r"'done': (\d+)", log))


def test_two_scanners_share_one_inbox_through_postgresql(postgres, server, tmp_path):
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    ledger = drop_inbox(data / "in", tmp_path / "staging")
    job_db_url = new_schema_url(postgres)
    # Small passes, so both scanners get a share.
    host = host_settings(server, data, job_db_url, MAX_JOBS_IN_FLIGHT="2")
    logs, scanners = [], []
    try:
        for name in ("host-a", "host-b"):
            folder = tmp_path / name
            folder.mkdir()
            logs.append(folder / "scan.log")
            argv = [BIN / "comic2pdf", "scan", "--once"]
            scanners.append(start_process(argv, logs[-1], server_env(folder, **host), cwd=folder))
        codes = [scanner.wait(timeout=240) for scanner in scanners]
    finally:
        for scanner in scanners:
            kill_group(scanner, grace=5)
    outputs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], [output[-3000:] for output in outputs]

    places = ledger.assert_conserved(settled=True)
    assert len(published_pdfs(data / "out")) == COMICS
    assert len(places["archive"]) == COMICS
    assert len(places["hold"]) == 2 and len(places["error"]) == 1
    assert places["error"][0].name.startswith("truncated-")
    assert not (data / "index" / "comic2pdf.sqlite3").exists()  # the job store is PostgreSQL

    with JobDB(job_db_url) as db:
        jobs = db.list_jobs()
        counters = db.counter_values()
        held = db.list_duplicates()
    assert Counter(job.state for job in jobs) == {State.DONE: COMICS, State.FAILED: 1}
    # Each input converted exactly once: one generation, one OCR attempt per comic.
    assert {(job.generation, job.attempts_ocr) for job in jobs if job.state is State.DONE} == {
        (1, 1)
    }
    assert counters["jobs_claimed"] == COMICS + 1 and counters["jobs_done"] == COMICS
    assert counters["duplicates_detected"] == 2 and len(held) == 2
    done_by = [conversions_in(output) for output in outputs]
    assert sum(done_by) == COMICS and all(done_by), done_by  # both hosts did work


# --- kill -9 of one scanner mid-OCR -------------------------------------------------------


def ocr_group(scanner: subprocess.Popen) -> int:
    """The process group of *scanner*'s OCR child (it leads its own session)."""
    (child,) = [
        p for p in psutil.Process(scanner.pid).children() if "comic2pdf.ocr.child" in p.cmdline()
    ]
    return os.getpgid(child.pid)


def group_alive(pgid: int) -> list[int]:
    """Running (not zombie) members of process group *pgid*."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


def test_after_kill_9_of_one_scanner_mid_ocr_the_other_finishes_its_input(
    postgres, server, tmp_path
):
    """host-a hangs in a fake Tesseract (its PATH only) and is killed; host-b takes over."""
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    ledger = Ledger(data)
    names = [f"Kill {n}.cbz" for n in range(3)]
    for n, name in enumerate(names):
        comic = make_comic(data / "in" / name, title=name, pages=1, size=PAGE, seed=n)
        ledger.drop(comic.path)
    job_db_url = new_schema_url(postgres)
    # One comic per pass, page mode: host-a takes one comic and hangs in its OCR.
    host = host_settings(server, data, job_db_url, MAX_JOBS_IN_FLIGHT="1", OCR_MODE="page")
    pid_log = tmp_path / "tesseract.pids"
    hang = fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log)
    argv = [BIN / "comic2pdf", "scan", "--once"]
    folders = [tmp_path / "host-a", tmp_path / "host-b"]
    for folder in folders:
        folder.mkdir()
    env_a = server_env(folders[0], **host)
    env_a["PATH"] = f"{hang}{os.pathsep}{env_a['PATH']}"  # the hanging Tesseract: host-a's only
    a = start_process(argv, folders[0] / "scan.log", env_a, cwd=folders[0])
    b = None
    try:
        wait_until(lambda: started_pids(pid_log), timeout=120, what="host-a's OCR started")
        group = ocr_group(a)
        b = start_process(argv, folders[1] / "scan.log", server_env(folders[1], **host), folders[1])
        wait_for_a_job(job_db_url, b, folders[1] / "scan.log", jobs=2)
        a.kill()  # kill -9 of host-a's scan process alone, in the middle of its OCR
        a.wait()
        wait_until(lambda: not group_alive(group), timeout=10, what="host-a's OCR group gone")
        assert alive(started_pids(pid_log)) == []
        code = b.wait(timeout=120)  # a hang guard: no lease is waited for (tasks/slots.py)
    finally:
        for scanner in (a, b):
            if scanner is not None:
                kill_group(scanner, grace=5)
    log_b = (folders[1] / "scan.log").read_text(errors="replace")
    assert code == 0, log_b[-3000:]

    places = ledger.assert_conserved(settled=True)  # no claim left in work/
    assert sorted(p.name for p in places["archive"]) == names
    pdfs = [pdf.name for pdf in published_pdfs(data / "out")]
    assert pdfs == [name.replace(".cbz", ".pdf") for name in names]  # none made twice
    assert conversions_in(log_b) == 3  # host-b converted its two and host-a's orphan
    assert list((data / "work" / "incoming").iterdir()) == []
    with JobDB(job_db_url) as db:
        jobs = db.list_jobs()
        counters = db.counter_values()
    assert [(job.state, job.generation) for job in jobs] == [(State.DONE, 1)] * 3
    assert counters["jobs_claimed"] == 3 and counters["jobs_done"] == 3
    assert counters["jobs_requeued"] == 1  # host-a's job, taken over once
