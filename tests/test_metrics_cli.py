"""``comic2pdf metrics`` and ``scan`` as an operator runs them: wrong folders, read-only, serve.

Through ``comic2pdf.cli.main`` (the exit-code boundary) or the installed
command in a child process; real files, a real Pushgateway, real sockets.
"""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from comic2pdf.cli import main
from comic2pdf.proc import kill_group
from comic2pdf.store import JobDB
from tests.conftest import BIN, free_port, gateway_samples, start_process
from tests.test_metrics_flow import read_snapshot, record_some

COMIC2PDF = BIN / "comic2pdf"


def gateway_text(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return response.read().decode()


def ours(text: str) -> list[str]:
    """The gateway's lines about comic2pdf groups (its own process metrics always move)."""
    return sorted(line for line in text.splitlines() if 'job="comic2pdf"' in line)


def test_push_from_a_folder_without_a_job_store_changes_nothing(
    tmp_path, pushgateway, monkeypatch, capsys
):
    """`metrics --push` with a wrong DATA_DIR once pushed an empty store's zeros (#15, 3)."""
    data = tmp_path / "data"
    record_some(data)
    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway)
    assert main(["metrics", "--data-dir", str(data), "--push"]) == 0
    before = ours(gateway_text(pushgateway))
    assert any("comic2pdf_jobs_done_total" in line for line in before)

    wrong = tmp_path / "wrong"
    monkeypatch.chdir(tmp_path)  # the default DATA_DIR, ./data, must not be used either
    assert main(["metrics", "--data-dir", str(wrong), "--push"]) == 2

    err = capsys.readouterr().err
    assert "no_job_store" in err and str(wrong / "index" / "comic2pdf.sqlite3") in err
    assert not wrong.exists()
    assert ours(gateway_text(pushgateway)) == before


def test_push_uses_the_store_id_not_the_host_name(tmp_path, pushgateway, monkeypatch):
    """Two containers of one data folder, each with its own host name, make one group (#15, 2)."""
    data = tmp_path / "data"
    record_some(data)
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        instance = db.instance_id()
    env = {k: v for k, v in os.environ.items() if k != "INSTANCE_NAME"}
    env |= {"PUSHGATEWAY_URL": pushgateway, "DATA_DIR": str(data)}
    for host in ("container-a", "container-b"):
        pushed = subprocess.run(
            ["unshare", "--uts", "sh", "-c", f"hostname {host} && exec {COMIC2PDF} metrics --push"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
    groups = {
        sample.labels["instance"]
        for family in text_string_to_metric_families(gateway_text(pushgateway))
        for sample in family.samples
        if sample.name == "comic2pdf_jobs_done_total"
    }
    assert instance in groups and not groups & {"container-a", "container-b"}
    assert gateway_samples(pushgateway, instance)[("comic2pdf_jobs_done_total", ())] == 1


def read_only(index: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run comic2pdf with *index* mounted read-only, in a mount namespace of its own."""
    script = f'mount --bind -o ro "{index}" "{index}" && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(COMIC2PDF), *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_read_only_index_is_a_clear_error(tmp_path):
    data = tmp_path / "data"
    record_some(data)
    result = read_only(data / "index", "metrics", "--data-dir", str(data))
    assert result.returncode == 2, result.stderr
    assert "not_writable" in result.stderr and str(data / "index") in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unwritable_metrics_json_is_a_clear_error(tmp_path, capsys):
    data = tmp_path / "data"
    record_some(data)
    (data / "index" / "metrics.json").mkdir()
    assert main(["metrics", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "not_writable" in err and "metrics.json" in err


def test_serve_refuses_a_missing_store_before_listening(tmp_path, capsys):
    port = free_port()
    argv = ["metrics", "--serve", "--port", str(port), "--data-dir", str(tmp_path / "none")]
    assert main(argv) == 2
    assert "no_job_store" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_serve_answers_scrapes_with_current_values(tmp_path):
    data = tmp_path / "data"
    record_some(data, failed=None)
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data)}
    server = start_process(
        [COMIC2PDF, "metrics", "--serve", "--port", port], tmp_path / "serve.log", env
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        families = scrape_when_up(url, server)
        assert families["comic2pdf_jobs_done"].samples[0].value == 1
        record_some(data, done="second", failed=None)
        assert scrape_when_up(url, server)["comic2pdf_jobs_done"].samples[0].value == 2
    finally:
        kill_group(server, grace=5)
    assert "serving metrics of" in (tmp_path / "serve.log").read_text()


def scrape_when_up(url: str, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
            return {f.name: f for f in text_string_to_metric_families(text)}
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_an_idle_scan_refreshes_the_snapshot_and_the_scan_time(tmp_path):
    """`comic2pdf scan` once left metrics.json as the last `metrics` run wrote it (#15, 10)."""
    data = tmp_path / "data"
    record_some(data)
    env = {**os.environ, "DATA_DIR": str(data), "PREFECT_HOME": str(tmp_path / "prefect")}
    started = time.time()
    result = subprocess.run(
        [COMIC2PDF, "scan", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert read_snapshot(data)["done"] == 1 and read_snapshot(data)["error"] == 1
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        scanned = db.metric_data().last_scan
    assert scanned is not None and scanned.timestamp() >= started - 1


def test_serve_on_a_taken_port_is_a_clear_error(tmp_path, capsys):
    data = tmp_path / "data"
    record_some(data)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["metrics", "--serve", "--port", str(port), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "bad_settings" in err and f"127.0.0.1:{port}" in err and "METRICS_PORT" in err


def test_metrics_that_cannot_be_written_never_stop_a_scan(tmp_path):
    data = tmp_path / "data"
    record_some(data)
    (data / "index" / "metrics.json").mkdir()
    env = {**os.environ, "DATA_DIR": str(data), "PREFECT_HOME": str(tmp_path / "prefect")}
    result = subprocess.run(
        [COMIC2PDF, "scan", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "metrics were not recorded: not_writable" in result.stderr
