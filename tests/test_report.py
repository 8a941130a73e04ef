"""The OCR progress sender: the reader of ocrmypdf's output never waits on the API."""

import logging
import threading

from tasks.report import _LatestValueSender


def test_offers_never_wait_for_a_slow_api_and_the_last_value_arrives():
    sent: list[float] = []
    release = threading.Event()

    def slow_send(value: float) -> None:
        release.wait(timeout=30)  # the API hangs until released
        sent.append(value)

    sender = _LatestValueSender(slow_send)
    sender.start()
    for page in range(1, 101):
        sender.offer(float(page))  # while the first send hangs
    assert sent == []  # all 100 offers returned while the API was still hung
    release.set()
    sender.stop(timeout=30)
    assert sent[-1] == 100.0 and len(sent) < 100  # coalesced, ending with the last value
    assert sent == sorted(set(sent))


def test_a_failing_api_is_logged_not_raised(caplog):
    def broken(value: float) -> None:
        raise RuntimeError("Cannot send a request, as the client has been closed.")

    sender = _LatestValueSender(broken)
    sender.start()
    with caplog.at_level(logging.WARNING, logger="tasks.report"):
        sender.offer(50.0)
        sender.stop(timeout=30)
    assert "client has been closed" in caplog.text
