"""Global concurrency slots on a real Prefect API: created once, waited for without errors."""

import logging
import threading
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from comic2pdf.settings import load_settings
from tasks.limits import (
    OCR_LIMIT,
    PREP_LIMIT,
    ensure_concurrency_limits,
    pass_slots,
    stage_slot,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def read_limits(field: str) -> dict[str, int]:
    with get_client(sync_client=True) as client:
        return {
            name: getattr(client.read_global_concurrency_limit_by_name(name), field)
            for name in (PREP_LIMIT, OCR_LIMIT)
        }


def limit_sizes() -> dict[str, int]:
    return read_limits("limit")


def test_limits_follow_the_settings(data_dir, monkeypatch):
    monkeypatch.setenv("OCR_CONCURRENCY", "2")
    ensure_concurrency_limits(load_settings())
    assert limit_sizes() == {PREP_LIMIT: 2, OCR_LIMIT: 2}
    monkeypatch.setenv("OCR_CONCURRENCY", "1")
    monkeypatch.setenv("PREP_CONCURRENCY", "3")
    ensure_concurrency_limits(load_settings())
    assert limit_sizes() == {PREP_LIMIT: 3, OCR_LIMIT: 1}


def test_a_slot_held_by_another_process_is_taken_soon_after_it_is_freed(data_dir, caplog):
    """The other holder asks Prefect directly, as another process or host would."""
    settings = load_settings()  # OCR_CONCURRENCY=1
    ensure_concurrency_limits(settings)
    events: dict[str, float] = {}
    holding = threading.Event()

    def other_process() -> None:
        with concurrency(OCR_LIMIT):
            holding.set()
            time.sleep(1.5)
            events["released"] = time.monotonic()

    other = threading.Thread(target=other_process)
    other.start()
    assert holding.wait(timeout=60)
    with (
        caplog.at_level(logging.WARNING, logger="prefect._internal.concurrency"),
        stage_slot(OCR_LIMIT, settings, take=True),
    ):
        events["ours"] = time.monotonic()
    other.join()

    assert events["ours"] >= events["released"]  # it waited for the slot
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # refused attempts are expected while waiting, not errors
    assert read_limits("active_slots") == {PREP_LIMIT: 0, OCR_LIMIT: 0}


def test_one_process_queues_its_own_flows_before_asking(data_dir):
    """OCR_CONCURRENCY=1: four threads of one process, one holder at a time."""
    settings = load_settings()
    ensure_concurrency_limits(settings)
    inside, most = [0], [0]
    lock = threading.Lock()

    def stage() -> None:
        with stage_slot(OCR_LIMIT, settings, take=True):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.2)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=stage) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert most == [1] and inside == [0]


def test_a_scan_pass_holds_the_slots_its_conversions_use(data_dir):
    """One request per limit for the pass; its conversions ask Prefect for nothing more."""
    settings = load_settings()  # PREP_CONCURRENCY=2, OCR_CONCURRENCY=1
    ensure_concurrency_limits(settings)
    with pass_slots(settings, jobs=3):
        assert read_limits("active_slots") == {PREP_LIMIT: 2, OCR_LIMIT: 1}
        with stage_slot(OCR_LIMIT, settings, take=True):
            assert read_limits("active_slots") == {PREP_LIMIT: 2, OCR_LIMIT: 1}
    with pass_slots(settings, jobs=1):
        assert read_limits("active_slots") == {PREP_LIMIT: 1, OCR_LIMIT: 1}
    assert read_limits("active_slots") == {PREP_LIMIT: 0, OCR_LIMIT: 0}
