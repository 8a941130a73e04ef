"""Shared fixtures. Keep each fixture small and documented; add new ones below."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from comic2pdf.proc import kill_group

PUSHGATEWAY = Path("/usr/bin/prometheus-pushgateway")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, deadline: float) -> bool:
    """Poll *url* until it answers 200, the process dies, or *deadline* passes."""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory):
    """URL of a real Pushgateway on 127.0.0.1, started once for the session.

    Tests share it: use a distinct ``instance`` grouping label per test.
    """
    if not PUSHGATEWAY.exists():
        pytest.fail(f"{PUSHGATEWAY} is not installed: run make setup")
    folder = tmp_path_factory.mktemp("pushgateway")
    for _ in range(3):  # the free port may be taken between probe and bind
        url = f"http://127.0.0.1:{free_port()}"
        with (folder / "pushgateway.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    str(PUSHGATEWAY),
                    f"--web.listen-address={url.removeprefix('http://')}",
                    f"--persistence.file={folder / 'persistence'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        if wait_for_http(f"{url}/-/ready", process, time.monotonic() + 10):
            break
        _stop(process)
    else:
        pytest.fail(f"the Pushgateway did not start; see {folder / 'pushgateway.log'}")
    yield url
    _stop(process)


@pytest.fixture(scope="session")
def prefect_harness():
    """A real Prefect API (temporary database and server) for flow tests, once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DATA_DIR for settings read from the environment, with quick retries."""
    folder = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("OCR_JOBS", "2")
    return folder


def task_run_counts(flow_run_id) -> dict[str, int]:
    """How many times each task of a flow run ran (retries included)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        # The sync client needs an explicit sort and limit (it sends null otherwise).
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            limit=100,
        )
    return {run.name.rsplit("-", 1)[0]: run.run_count for run in runs}


def gateway_samples(url: str, instance: str) -> dict[tuple[str, tuple], float]:
    """The gateway's samples of one group: (name, sorted labels without job/instance) → value."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("instance") != instance:
                continue
            assert sample.labels["job"] == "comic2pdf", sample
            labels = {k: v for k, v in sample.labels.items() if k not in ("job", "instance")}
            samples[(sample.name, tuple(sorted(labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple[str, tuple], float], name: str) -> float:
    return sum(value for (sample_name, _), value in samples.items() if sample_name == name)


BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def start_process(argv: list, log: Path, env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    """Start *argv* in its own process group, output appended to *log*."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(a) for a in argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def start_prefect_server(
    launch: Callable[[str], tuple[list, dict[str, str]]], log: Path, *, seconds: float = 90
) -> tuple[subprocess.Popen, str]:
    """Start the server that *launch(port)* gives (argv, env) for; wait for its /api/health.

    Returns the process and its API URL; raises RuntimeError naming *log* if it never answers.
    """
    for _ in range(3):  # the free port may be taken between probe and bind
        port = str(free_port())
        url = f"http://127.0.0.1:{port}/api"
        argv, env = launch(port)
        server = start_process(argv, log, env)
        if wait_for_http(f"{url}/health", server, time.monotonic() + seconds):
            return server, url
        kill_group(server, grace=15)
    raise RuntimeError(f"the Prefect server did not start; see {log}")


class Server(NamedTuple):
    url: str
    env: dict[str, str]  # for client processes: PREFECT_API_URL and nothing else of ours
    log: Path


@contextlib.contextmanager
def prefect_server_running(folder: Path, *, ui: bool, extra_env: dict[str, str] | None = None):
    """A real ``prefect server start`` on 127.0.0.1 with its own PREFECT_HOME."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PREFECT_HOME": str(folder / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true" if ui else "false",
        **(extra_env or {}),
    }

    def launch(port: str) -> tuple[list, dict[str, str]]:
        argv = [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", port]
        return argv, env | {"PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}

    try:
        server, url = start_prefect_server(launch, folder / "server.log")
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield Server(url, env | {"PREFECT_API_URL": url}, folder / "server.log")
    finally:
        kill_group(server, grace=15)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1 (tests/pg.py), once per session.

    ``postgres.url("asyncpg")`` is its database for a Prefect server; tests that need
    a database of their own call ``postgres.create_database(name)``.
    """
    from tests import pg  # pg uses free_port from here: imported late, no cycle at load

    try:
        cluster = pg.start_cluster()
    except RuntimeError as error:
        pytest.fail(f"no PostgreSQL cluster: {error}")
    yield cluster
    pg.stop_cluster(cluster)


@pytest.fixture(params=["sqlite", "postgresql"])
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty job store: an SQLite file, or a schema of its own in ``postgres``.

    A schema per test keeps tests independent for the cost of one statement; the
    URL selects it with ``search_path``, as a user sharing one database could.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'index' / 'comic2pdf.sqlite3'}"
    return new_schema_url(request.getfixturevalue("postgres"))


def new_schema_url(cluster) -> str:
    """URL of a new empty schema in *cluster*'s database (a ``tests.pg.PgCluster``)."""
    schema = f"t{uuid.uuid4().hex[:16]}"
    cluster.sql(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{cluster.user}"', cluster.database)
    return f"{cluster.url()}?options=-csearch_path%3D{schema}"
