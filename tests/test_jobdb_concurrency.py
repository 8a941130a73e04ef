"""The job store under contention, on SQLite and PostgreSQL: real processes, exact results.

Several processes count, observe and claim the same keys at once: every
increment and observation is kept and each key is claimed exactly once (a
failed one exactly once more), whatever the interleaving.
"""

import multiprocessing

from comic2pdf.store import JobDB
from tests.test_jobdb import claim

# --- concurrency: real processes -------------------------------------------------------------

WORKERS = 4
EVENTS_PER_WORKER = 200
KEYS = [f"{n:02d}__profile" for n in range(20)]
#: Keys that failed before the workers start: each is claimed again, once, as generation 2.
FAILED_KEYS = KEYS[::4]


def _hammer(job_store, worker, barrier, results) -> None:
    """One process: 200 counts and observations interleaved with claims of every key."""
    order = KEYS[worker * 5 :] + KEYS[: worker * 5]
    claimed = []
    barrier.wait()
    with JobDB(job_store) as db:
        for n in range(EVENTS_PER_WORKER):
            db.record_event("push_failures")
            db.observe("stage_duration_seconds", 0.5, labels={"stage": "ocr"})
            if n < len(order) and claim(db, order[n]).claimed:
                claimed.append(order[n])
    results.put(claimed)


def test_concurrent_processes_lose_no_increment_and_claim_each_key_once(job_store):
    with JobDB(job_store) as db:
        for key in FAILED_KEYS:
            claim(db, key)
            db.fail_job(key, stage="prep", reason="corrupt", message="x")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(job_store, n, barrier, results))
        for n in range(WORKERS)
    ]
    for process in workers:
        process.start()
    claimed = [results.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    all_claims = sorted(key for keys in claimed for key in keys)
    assert all_claims == sorted(KEYS)  # every key claimed, none twice
    with JobDB(job_store) as db:
        counters = db.counter_values()
        histogram = db.metric_data().histograms["stage_duration_seconds"]['{"stage":"ocr"}']
        generations = {job.job_key: job.generation for job in db.list_jobs()}
    assert counters["push_failures"] == WORKERS * EVENTS_PER_WORKER
    assert histogram == ({"1.0": WORKERS * EVENTS_PER_WORKER}, WORKERS * EVENTS_PER_WORKER, 400.0)
    assert counters["jobs_claimed"] == len(KEYS) + len(FAILED_KEYS)
    assert counters["duplicates_detected"] == (WORKERS - 1) * len(KEYS)
    assert generations == {key: 2 if key in FAILED_KEYS else 1 for key in KEYS}
