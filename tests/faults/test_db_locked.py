"""Another process holds the job database's write lock past the busy timeout mid-conversion."""

import subprocess
import sys
import textwrap

import pytest

from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB, State
from flows.convert import convert_comic
from tests.conftest import task_run_counts
from tests.faults.ledger import assert_database_intact, published_pdfs

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

BUSY_TIMEOUT = 1.0
#: Long enough that the first write after the claim (prep's), however late it comes, times
#: out at least once; each attempt waits BUSY_TIMEOUT, so ATTEMPTS outlast the lock.
HOLD = 3.5
ATTEMPTS = 5

# Waits for the job row, then takes the write lock at once and holds it with a
# write of its own in flight: the conversion's next write is its prep attempt.
LOCKER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if conn.execute("SELECT count(*) FROM jobs").fetchone()[0]:
                break
        except sqlite3.OperationalError:  # no database or schema yet
            pass
        time.sleep(0.002)
    else:
        sys.exit("no job appeared")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute(
        "INSERT INTO counters (name, labels_json, value) VALUES ('push_failures', '{}', 1)"
    )
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    print("released", flush=True)
""")


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """JobDB's busy timeout (30 s, not a setting yet) down to BUSY_TIMEOUT for this test.

    With a DB_BUSY_TIMEOUT_SECONDS setting this becomes a monkeypatch.setenv.
    """
    defaults = {**JobDB.__init__.__kwdefaults__, "busy_timeout": BUSY_TIMEOUT}
    monkeypatch.setattr(JobDB.__init__, "__kwdefaults__", defaults)


def test_a_locked_database_makes_the_task_retry_and_loses_no_update(
    data_dir, short_busy_timeout, monkeypatch
):
    monkeypatch.setenv("MAX_ATTEMPTS_PREP", str(ATTEMPTS))
    monkeypatch.setenv("MAX_ATTEMPTS_OCR", str(ATTEMPTS))
    (data_dir / "in").mkdir(parents=True)
    comic = make_comic(data_dir / "in" / "Locked.cbz", title="Locked", pages=1, size=(300, 400))
    db_path = data_dir / "index" / "comic2pdf.sqlite3"
    with JobDB(db_path) as db:
        db.counter_values()  # create the schema, so the locker only waits for the job
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db_path), str(HOLD)], stdout=subprocess.PIPE, text=True
    )
    try:
        state = convert_comic(path=str(comic.path), return_state=True)
        out, _ = locker.communicate(timeout=60)
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()
    assert out.split() == ["locked", "released"]

    result = state.result()  # the conversion succeeded
    runs = task_run_counts(state.state_details.flow_run_id)
    assert runs["prep"] >= 2 and runs["finalize"] == 1  # prep's attempts hit the lock
    assert published_pdfs(data_dir / "out") == [data_dir / "out" / "Locked.pdf"]
    assert [p.name for p in (data_dir / "archive").iterdir()] == ["Locked.cbz"]
    assert_database_intact(db_path)
    with JobDB(db_path) as db:
        job = db.get_job(result.job_key)
        counters = db.counter_values()
        durations = db.metric_data().histograms["stage_duration_seconds"]
    assert job.state is State.DONE
    assert job.attempts_prep <= runs["prep"] and job.attempts_ocr <= runs["ocr"]
    # Every update of both writers is there, once: the locker's own write, one
    # claim, one DONE, a duration for each attempt that got past its start
    # (the failed ones too), at least one per stage.
    assert counters["push_failures"] == 1
    assert counters["jobs_claimed"] == counters["jobs_done"] == counters["pages_processed"] == 1
    started = job.attempts_prep + job.attempts_ocr + job.attempts_finalize
    assert 3 <= sum(count for _, count, _ in durations.values()) <= started
