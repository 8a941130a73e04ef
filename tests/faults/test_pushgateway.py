"""A Pushgateway that hangs, then comes back: what was counted meanwhile is not lost.

tests/test_metrics_flow.py already proves a dead gateway (connection refused)
fails the run, keeps the snapshot and is caught up by the next push, and that
a silent gateway fails within the timeouts. What it leaves out: comics
converted while the gateway hangs, and the totals after it answers again.
"""

import json
import socket

import pytest

from flows.metrics import PUSH_RETRIES, push_metrics_flow
from tests.conftest import gateway_samples, total
from tests.test_metrics_flow import record_some

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_hung_gateway_then_back_carries_every_total(data_dir, pushgateway, monkeypatch):
    monkeypatch.setenv("INSTANCE_NAME", "faults-hung-then-back")
    monkeypatch.setenv("PUSHGATEWAY_TIMEOUT_SECONDS", "0.5")
    record_some(data_dir, done="before", failed="failed before")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers
        monkeypatch.setenv("PUSHGATEWAY_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        assert push_metrics_flow(return_state=True).is_failed()
        snapshot = json.loads((data_dir / "index" / "metrics.json").read_text())
        assert snapshot["done"] == 1 and snapshot["error"] == 1  # written despite the hang
        record_some(data_dir, done="during", failed=None)  # work goes on meanwhile
        assert push_metrics_flow(return_state=True).is_failed()

    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway)
    document = push_metrics_flow()

    samples = gateway_samples(pushgateway, "faults-hung-then-back")
    assert total(samples, "comic2pdf_jobs_done_total") == document["done"] == 2
    assert total(samples, "comic2pdf_jobs_failed_total") == document["error"] == 1
    assert total(samples, "comic2pdf_pages_processed_total") == document["pages_processed"] == 24
    assert samples[("comic2pdf_push_failures_total", ())] == 2 * (PUSH_RETRIES + 1)
