"""A live Prometheus, configured from docs/prometheus/, watching a real scan (issue #15).

Prometheus (temporary storage, 1 s scrape and evaluation intervals, a free
port) scrapes ``comic2pdf metrics --serve`` and the session's Pushgateway with
the docs' config and rules. It sees the counters at 0 first, then a scan of
one good, one broken and one refused input; the checks are on what an operator
would see: pending alerts, sums, and every query of the Grafana dashboard.
"""

import contextlib
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from comic2pdf.proc import kill_group
from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB
from tests import hostile
from tests.conftest import BIN, ROOT, free_port, start_process, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

PROMETHEUS = Path("/usr/bin/prometheus")
DOCS = ROOT / "docs"
DASHBOARD = DOCS / "grafana" / "comic2pdf.json"
COMIC2PDF = BIN / "comic2pdf"


def prometheus_config(folder: Path, *, endpoint: str, gateway: str) -> Path:
    """docs/prometheus/prometheus.yml with our targets and 1 s intervals."""
    config = yaml.safe_load((DOCS / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DOCS / "prometheus" / "alerts.yml")]
    targets = {"comic2pdf": endpoint, "pushgateway": gateway.removeprefix("http://")}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict]:
        query = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict]:
        """Poll *expr* until it returns something; that result."""
        deadline = time.monotonic() + timeout
        while not (result := self.query(expr)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr}: still {result} after {timeout} s")
            time.sleep(0.5)
        return result


@contextlib.contextmanager
def running(argv: list, log: Path, env: dict, ready_url: str):
    process = start_process(argv, log, env)
    try:
        if not wait_for_http(ready_url, process, time.monotonic() + 60):
            pytest.fail(f"{argv[0]} did not start; see {log}")
        yield process
    finally:
        kill_group(process, grace=5)


def run_scan(data: Path) -> None:
    """One scan-inbox pass in this process, on the session's Prefect API."""
    from flows.scan import scan_inbox

    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "DATA_DIR": str(data), "STABLE_SECONDS": "0", "RETRY_DELAY_SECONDS": "0",
            "OCR_JOBS": "1", "MAX_JOBS_IN_FLIGHT": "3",
        }.items():  # fmt: skip
            env.setenv(name, value)
        report = scan_inbox()
    assert report.started == 3, report


def push(data: Path, gateway: str, host: str) -> subprocess.CompletedProcess:
    """`comic2pdf metrics --push` from a process with its own host name, as in a container."""
    env = {k: v for k, v in os.environ.items() if k != "INSTANCE_NAME"}
    env |= {"PUSHGATEWAY_URL": gateway, "DATA_DIR": str(data)}
    command = f"hostname {host} && exec {COMIC2PDF} metrics --push"
    return subprocess.run(
        ["unshare", "--uts", "sh", "-c", command], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory, pushgateway):
    """Prometheus watching a data folder through a scan; yields (prometheus, endpoint, data)."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is not installed: run make setup")
    folder = tmp_path_factory.mktemp("live")
    data = folder / "data"
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        db.instance_id()  # the store exists before anything is reported
    endpoint = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "DATA_DIR": str(data)}
    serve = [COMIC2PDF, "metrics", "--serve", "--port", endpoint.split(":")[1]]
    url = f"http://127.0.0.1:{free_port()}"
    config = prometheus_config(folder, endpoint=endpoint, gateway=pushgateway)
    prometheus_argv = [
        PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address={url.removeprefix('http://')}",
    ]  # fmt: skip
    with (
        running(serve, folder / "serve.log", env, f"http://{endpoint}/metrics"),
        running(prometheus_argv, folder / "prometheus.log", env, f"{url}/-/ready"),
    ):
        prometheus = Prometheus(url)
        # The zeros first, as from a running comic2pdf before anything happens.
        prometheus.wait_for(f'comic2pdf_jobs_failed_total{{instance="{endpoint}"}} == 0')
        inbox = data / "in"
        make_comic(inbox / "Good.cbz", title="Good", pages=1, size=(300, 400))
        hostile.truncated_zip(inbox)
        hostile.text_as_cbz(inbox)
        run_scan(data)
        # A scrape after the whole scan, not one from the middle of it.
        prometheus.wait_for(f'comic2pdf_last_scan_timestamp_seconds{{instance="{endpoint}"}}')
        yield prometheus, endpoint, data


def test_first_failure_and_first_refusal_make_alerts_pending(live):
    prometheus, endpoint, _ = live
    for alert in ("ComicConversionsFailing", "ComicInputsRejected"):
        found = prometheus.wait_for(f'ALERTS{{alertname="{alert}", instance="{endpoint}"}}')
        assert found[0]["metric"]["alertstate"] in ("pending", "firing"), found
    failed = prometheus.query(
        f'comic2pdf_jobs_failed_total{{instance="{endpoint}"}} > 0'
        f' or comic2pdf_inputs_rejected_total{{instance="{endpoint}"}} > 0'
    )
    reasons = {(r["metric"]["__name__"], r["metric"]["reason"]) for r in failed}
    assert reasons == {
        ("comic2pdf_jobs_failed_total", "corrupt"),
        ("comic2pdf_inputs_rejected_total", "not_an_archive"),
    }


def test_pushes_from_two_host_names_do_not_double_any_sum(live, pushgateway):
    prometheus, endpoint, data = live
    for host in ("worker-a", "worker-b"):
        pushed = push(data, pushgateway, host)
        assert pushed.returncode == 0, pushed.stderr
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        instance = db.instance_id()
    pushed_series = f'{{job="comic2pdf", instance="{instance}"}}'
    prometheus.wait_for(f"comic2pdf_jobs_done_total{pushed_series}")
    assert prometheus.query('comic2pdf_jobs_done_total{instance=~"worker-.*"}') == []
    snapshot = json.loads((data / "index" / "metrics.json").read_text())
    for name, key in [
        ("comic2pdf_jobs_done_total", "done"),
        ("comic2pdf_pages_processed_total", "pages_processed"),
        ("comic2pdf_jobs_failed_total", None),
        ("comic2pdf_inputs_rejected_total", None),
    ]:
        via_gateway = prometheus.value(f"sum({name}{pushed_series})")
        scraped = prometheus.value(f'sum({name}{{instance="{endpoint}"}})')
        assert via_gateway == scraped, name
        if key:
            assert via_gateway == snapshot[key], name
    assert snapshot["error"] == 2  # the failed job and the refused input


def test_a_push_without_a_job_store_fails_and_changes_nothing(live, pushgateway, tmp_path):
    def comic2pdf_lines() -> list[str]:
        with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5) as response:
            return sorted(
                line for line in response.read().decode().splitlines() if "comic2pdf" in line
            )

    before = comic2pdf_lines()
    result = push(tmp_path / "no such data", pushgateway, "worker-c")
    assert result.returncode == 2 and "no_job_store" in result.stderr
    assert comic2pdf_lines() == before
    assert not (tmp_path / "no such data").exists()


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_every_dashboard_query_returns_data(live):
    prometheus, endpoint, _ = live
    variables = {"$instance": endpoint, "$__rate_interval": "10m", "$__range": "10m"}
    queries = dashboard_queries()
    assert len(queries) >= 10
    for title, expr in queries:
        for name, value in variables.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, (title, expr)
        assert prometheus.query(expr), (title, expr)
