"""comic2pdf.batch: a scan pass keeps its conversions going without waiting for groups."""

from pathlib import Path

import pytest

from comic2pdf.batch import keep_converting


class Ticking:
    """Conversions that each take *ticks* calls of wait_ended; records what ran when."""

    def __init__(self, ticks: dict[str, int]) -> None:
        self.ticks = ticks
        self.left: dict[str, int] = {}
        self.started: list[str] = []
        self.most_at_once = 0
        self.running_when_started: dict[str, list[str]] = {}

    def start(self, path: Path) -> str:
        self.started.append(path.name)
        self.running_when_started[path.name] = sorted(self.left)
        self.left[path.name] = self.ticks.get(path.name, 1)
        self.most_at_once = max(self.most_at_once, len(self.left))
        return path.name

    def wait_ended(self, running: list[str], timeout: float) -> dict[str, str]:
        for name in running:
            self.left[name] -= 1
        ended = {name: "done" for name in running if self.left[name] == 0}
        for name in ended:
            del self.left[name]
        return ended


def paths(*names: str) -> list[Path]:
    return [Path("/inbox") / name for name in names]


def test_a_free_place_is_filled_at_once_not_after_the_group():
    # a is long; with groups of 2, c would wait for a. Here it starts when b ends.
    conversions = Ticking({"a": 5, "b": 1, "c": 1, "d": 1})
    inbox = paths("a", "b", "c", "d")
    outcomes = keep_converting(conversions, lambda: inbox, size=2, check=lambda: None, every=0)
    assert outcomes == {"a": "done", "b": "done", "c": "done", "d": "done"}
    assert conversions.most_at_once == 2
    assert conversions.running_when_started["c"] == ["a"]  # a still running
    assert conversions.running_when_started["d"] == ["a"]


def test_files_that_arrive_during_the_pass_join_it_and_none_starts_twice():
    conversions = Ticking({})
    inbox = paths("a", "b")

    def next_inputs() -> list[Path]:
        if len(conversions.started) == 2 and len(inbox) == 2:
            inbox.append(Path("/inbox/late"))  # became stable meanwhile
        return list(inbox)  # claimed files still listed: the pass must skip them

    outcomes = keep_converting(conversions, next_inputs, size=3, check=lambda: None, every=0)
    assert sorted(outcomes) == ["a", "b", "late"]
    assert sorted(conversions.started) == ["a", "b", "late"]


def test_an_empty_inbox_starts_nothing():
    conversions = Ticking({})
    assert keep_converting(conversions, list, size=4, check=lambda: None, every=0) == {}
    assert conversions.started == []


def test_check_stops_the_pass():
    conversions = Ticking({"a": 100})

    def cancelled() -> None:
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        keep_converting(conversions, lambda: paths("a"), size=1, check=cancelled, every=0)
    assert conversions.started == ["a"]
