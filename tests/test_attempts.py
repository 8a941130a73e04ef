"""Attempts and time limits of the stages without Prefect (comic2pdf.pipeline.attempts)."""

import time
from pathlib import Path

import pytest

from comic2pdf import proc
from comic2pdf.errors import EncryptedArchive, JobCancelled, OcrFailed, StageTimeout
from comic2pdf.pipeline.attempts import StageLimit, attempt, stage_limits
from comic2pdf.pipeline.interrupt import stop_when, time_limit
from comic2pdf.settings import load_settings
from tests.fakes import alive


class Calls:
    """A stage that fails with the given errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_a_retryable_failure_is_tried_again_up_to_the_limit():
    flaky = Calls(OcrFailed("crashed"))
    assert attempt("ocr", flaky, limit=StageLimit(2, None), delay=0) == "done"
    assert flaky.count == 2
    failing = Calls(OcrFailed("1"), OcrFailed("2"), OcrFailed("3"))
    with pytest.raises(OcrFailed, match="2"):
        attempt("ocr", failing, limit=StageLimit(2, None), delay=0)
    assert failing.count == 2


def test_broken_input_is_not_tried_again():
    broken = Calls(EncryptedArchive("password needed"))
    with pytest.raises(EncryptedArchive):
        attempt("prep", broken, limit=StageLimit(3, None), delay=0)
    assert broken.count == 1


def test_unexpected_failures_get_their_retries():
    odd = Calls(KeyError("surprise"))
    assert attempt("prep", odd, limit=StageLimit(3, None), delay=0) == "done"
    assert odd.count == 2


def busy(seconds: float) -> None:
    """Python work that never returns within *seconds* by itself."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))


def test_a_stage_over_its_time_limit_is_stopped_and_retried():
    slow = Calls()
    slow_call = lambda: (slow(), busy(60))  # noqa: E731
    with pytest.raises(StageTimeout, match="prep did not finish within 0.5 s"):
        attempt("prep", slow_call, limit=StageLimit(2, 0.5), delay=0)
    assert slow.count == 2  # a timeout is worth another attempt


def test_a_time_limit_kills_the_child_process_group_the_stage_waits_on(tmp_path: Path):
    """Prep's limit works like OCR's: the child and its children die with the stage."""
    pid_file = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pid_file}; echo $$ >> {pid_file}; wait"
    with pytest.raises(StageTimeout), time_limit(1, stage="prep"):
        proc.run(["sh", "-c", script], timeout=120, name="sh")
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert len(pids) == 2
    assert alive(pids) == []


def test_a_stage_within_its_limit_is_left_alone():
    with time_limit(0.3, stage="finalize"):
        result = sum(range(10))
    busy(0.6)  # past the limit, outside the block: the cancelled watchdog never fires
    assert result == 45


def test_the_limits_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("MAX_ATTEMPTS_PREP", "4")
    monkeypatch.setenv("PREP_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("OCR_TIMEOUT_SECONDS", "100")
    limits = stage_limits(load_settings())
    assert limits["prep"] == StageLimit(4, 7)
    assert limits["ocr"].timeout == 130  # the child's own timeout fires first
    assert limits["finalize"] == StageLimit(1, None)


def test_an_outer_watchdog_passes_through_an_inner_one():
    """A run cancelled during a stage is cancelled, not timed out by the stage's own limit."""
    with (
        pytest.raises(JobCancelled),
        stop_when(lambda: True, every=0.2, what="x.cbz"),
        time_limit(60, stage="ocr"),
    ):
        busy(5)
