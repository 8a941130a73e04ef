"""The deployments: prefect.yaml and ``comic2pdf serve`` agree, and both really run.

The server tests start a real ``prefect server`` once for the module, run
``scripts/deploy.sh`` (a real ``prefect deploy``) and ``scripts/worker.sh``, and
``comic2pdf serve``, each in its own process group.
"""

import importlib
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
)
from prefect.client.schemas.sorting import DeploymentSort, FlowRunSort

from comic2pdf.proc import kill_group
from comic2pdf.samples import make_comic
from comic2pdf.settings import Settings
from deployments.build import build_deployments
from tests.conftest import BIN, prefect_server_running, start_process

ROOT = Path(__file__).resolve().parents[1]
FLOWS = {"convert-comic", "scan-inbox", "push-metrics", "resolve-duplicate"}
POOLS = {"local": "comic2pdf-local", "docker": "comic2pdf-docker"}
SCHEDULED = {
    "scan-inbox": Settings.model_fields["scan_interval_seconds"].default,
    "push-metrics": Settings.model_fields["metrics_interval_seconds"].default,
}


def prefect_yaml() -> dict:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())


def entrypoint_flow(entrypoint: str) -> Flow:
    """``flows/convert.py:convert_comic`` → the flow object in ``flows.convert``."""
    path, function = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, function)


def entrypoint_module_flow(entrypoint: str) -> Flow:
    """``flows.convert.convert_comic`` → the flow object."""
    module, _, function = entrypoint.rpartition(".")
    return getattr(importlib.import_module(module), function)


def flow_name(deployment: dict) -> str:
    return entrypoint_flow(deployment["entrypoint"]).name


def step(steps: list[dict], name: str) -> dict:
    """The arguments of the one step called *name* (``module.function``)."""
    (found,) = [s[name] for s in steps if name in s]
    return found


# --- prefect.yaml --------------------------------------------------------------------


def test_prefect_yaml_is_valid_for_prefect_deploy():
    raw = prefect_yaml()
    model = PrefectYamlModel.model_validate(raw)  # what `prefect deploy` 3.8 parses
    assert len(model.deployments) == len(raw["deployments"]) == 8
    # Deploying the local ones must never build an image: no shared actions.
    assert not (model.build or model.push or model.pull)


def test_every_flow_is_deployed_once_to_each_pool():
    found = {
        (flow_name(d), d["name"], d["work_pool"]["name"]) for d in prefect_yaml()["deployments"]
    }
    assert found == {(flow, name, pool) for flow in FLOWS for name, pool in POOLS.items()}


def test_entrypoints_are_the_flows():
    for deployment in prefect_yaml()["deployments"]:
        flow = entrypoint_flow(deployment["entrypoint"])
        assert isinstance(flow, Flow), deployment["entrypoint"]
        assert (ROOT / deployment["entrypoint"].split(":")[0]).is_file()
        assert deployment["tags"] == ["comic2pdf"]


def test_schedules_match_the_settings_defaults():
    for deployment in prefect_yaml()["deployments"]:
        name = flow_name(deployment)
        if name in SCHEDULED:
            assert deployment["schedules"] == [{"interval": SCHEDULED[name]}]
            assert deployment["concurrency_limit"] == {
                "limit": 1,
                "collision_strategy": "CANCEL_NEW",
            }
        else:
            assert "schedules" not in deployment and "concurrency_limit" not in deployment


def test_local_deployments_run_in_the_checkout():
    for deployment in prefect_yaml()["deployments"]:
        if deployment["name"] == "local":
            pull = step(deployment["pull"], "prefect.deployments.steps.set_working_directory")
            assert pull == {"directory": "{{ $PWD }}"}
            assert "build" not in deployment and "push" not in deployment


def test_docker_deployments_run_the_image_they_build():
    dockerfile = (ROOT / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)", dockerfile, re.MULTILINE)[1]
    for deployment in prefect_yaml()["deployments"]:
        if deployment["name"] != "docker":
            continue
        build = step(deployment["build"], "prefect_docker.deployments.steps.build_docker_image")
        assert build["image_name"].endswith("comic2pdf")
        assert (ROOT / build["dockerfile"]).is_file()
        push = step(deployment["push"], "prefect_docker.deployments.steps.push_docker_image")
        assert push["image_name"] == f"{{{{ {build['id']}.image_name }}}}"
        assert push["tag"] == f"{{{{ {build['id']}.tag }}}}"
        pool = deployment["work_pool"]["job_variables"]
        assert pool["image"] == f"{{{{ {build['id']}.image }}}}"
        assert pool["volumes"] == ["/srv/comic2pdf/data:/data"]
        assert pool["env"]["DATA_DIR"] == "/data"
        pull = step(deployment["pull"], "prefect.deployments.steps.set_working_directory")
        assert pull["directory"] == workdir


# --- deployments/build.py (comic2pdf serve) ---------------------------------------------


def test_build_deployments_schedules_from_settings():
    settings = Settings(scan_interval_seconds=7, metrics_interval_seconds=11)
    deployments = {d.flow_name: d for d in build_deployments(settings)}
    assert set(deployments) == FLOWS
    intervals = {
        name: [s.schedule.interval.total_seconds() for s in d.schedules]
        for name, d in deployments.items()
    }
    assert intervals == {
        "convert-comic": [], "scan-inbox": [7], "push-metrics": [11], "resolve-duplicate": [],
    }  # fmt: skip
    for name, deployment in deployments.items():
        assert deployment.name == name and deployment.tags == ["comic2pdf"]
        assert isinstance(entrypoint_module_flow(deployment.entrypoint), Flow)
        assert (deployment.concurrency_limit == 1) is (name in SCHEDULED)


def test_build_deployments_parameters():
    deployments = {d.flow_name: d for d in build_deployments(Settings())}
    convert = deployments["convert-comic"]._parameter_openapi_schema
    assert convert.required == ["path"]
    assert set(convert.properties) == {"path", "out_dir", "lang", "force_reprocess"}
    resolve = deployments["resolve-duplicate"]._parameter_openapi_schema
    assert resolve.required == ["job_key", "action"]
    assert resolve.definitions["DuplicateAction"]["enum"] == [
        "USE_EXISTING_RESULT", "DISCARD", "FORCE_REPROCESS",
    ]  # fmt: skip


# --- a real Prefect server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """A real Prefect server with its own PREFECT_HOME, once for this module."""
    # Schedule runs soon after a deployment appears, not after a minute.
    fast_scheduler = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}
    with prefect_server_running(
        tmp_path_factory.mktemp("prefect-server"), ui=False, extra_env=fast_scheduler
    ) as server:
        yield server


def wait_for_run(flow_run_id: UUID, timeout: float):
    """The flow run once it is final; fails if it is not final within *timeout*."""
    deadline = time.monotonic() + timeout
    run = None
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(1)
    pytest.fail(f"flow run {flow_run_id} is still {run and run.state_name} after {timeout} s")


def tagged_deployments(client) -> list:
    return client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["comic2pdf"])),
        sort=DeploymentSort.NAME_ASC,
        limit=50,
    )


def wait_for_deployments(process: subprocess.Popen, log: Path, count: int, timeout: float) -> list:
    """The deployments tagged comic2pdf, once *process* has registered *count* of them."""
    deadline = time.monotonic() + timeout
    found = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and process.poll() is None:
            found = tagged_deployments(client)
            if len(found) >= count:
                return found
            time.sleep(1)
    pytest.fail(
        f"{len(found)} deployments registered, expected {count}; exit code {process.poll()}\n"
        f"{log.read_text()[-3000:]}"
    )


def first_run_of(deployment_id: UUID, server_log: Path, timeout: float) -> UUID:
    """The first run the server's scheduler made for the deployment."""
    deadline = time.monotonic() + timeout
    only_this = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=only_this, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1
            )
            if runs:
                return runs[0].id
            time.sleep(1)
    pytest.fail(
        f"no run of deployment {deployment_id} was scheduled within {timeout} s; "
        f"the server's scheduler says:\n{server_log.read_text()[-2000:]}"
    )


@pytest.mark.server
@pytest.mark.slow
def test_make_deploy_and_worker_convert_a_comic(prefect_server, tmp_path):
    env = prefect_server.env
    comic = make_comic(tmp_path / "x.cbz", title="X", pages=1).path
    out = tmp_path / "out"
    deployed = subprocess.run(
        [ROOT / "scripts" / "deploy.sh"], env=env, capture_output=True, text=True, timeout=120
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    again = subprocess.run(  # `make deploy` after a change: the pool exists, deployments update
        [ROOT / "scripts" / "deploy.sh"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    worker_env = env | {
        "DATA_DIR": str(tmp_path / "data"), "RETRY_DELAY_SECONDS": "0", "OCR_JOBS": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }  # fmt: skip
    worker = start_process([ROOT / "scripts" / "worker.sh"], tmp_path / "worker.log", worker_env)
    try:
        started = subprocess.run(
            [BIN / "prefect", "deployment", "run", "convert-comic/local",
             "--param", f"path={comic}", "--param", f"out_dir={out}"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        flow_run_id = UUID(re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)[1])
        run = wait_for_run(flow_run_id, timeout=180)
    finally:
        kill_group(worker, grace=15)
    log = (tmp_path / "worker.log").read_text()
    assert run.state.is_completed(), f"{run.state}\n{log[-3000:]}"
    assert (out / "x.pdf").stat().st_size > 0


@pytest.mark.server
@pytest.mark.slow
def test_serve_registers_and_runs_the_schedules(prefect_server, tmp_path):
    env = prefect_server.env
    with get_client(sync_client=True) as client:
        for deployment in tagged_deployments(client):  # the other test's, same names
            client.delete_deployment(deployment.id)
    from tests.conftest import free_port

    metrics_port = free_port()
    serve = start_process(
        [BIN / "comic2pdf", "serve"], tmp_path / "serve.log",
        env | {"DATA_DIR": str(tmp_path / "data"), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
               "METRICS_PORT": str(metrics_port)},
        cwd=tmp_path,
    )  # fmt: skip
    try:
        deployments = wait_for_deployments(serve, tmp_path / "serve.log", count=4, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            assert b"comic2pdf_jobs_done_total 0.0" in r.read()  # /metrics served alongside
        intervals = {
            d.entrypoint: [s.schedule.interval.total_seconds() for s in d.schedules]
            for d in deployments
        }
        assert intervals == {
            "flows.convert.convert_comic": [],
            "flows.scan.scan_inbox": [30],
            "flows.metrics.push_metrics_flow": [60],
            "flows.duplicates.resolve_duplicate": [],
        }
        assert {d.name for d in deployments} == {
            "convert-comic", "scan-inbox", "push-metrics", "resolve-duplicate",
        }  # fmt: skip
        scan = next(d for d in deployments if d.entrypoint == "flows.scan.scan_inbox")
        # The first scheduled scan runs in the serving process (started in tmp_path).
        run = wait_for_run(first_run_of(scan.id, prefect_server.log, timeout=60), timeout=60)
    finally:
        kill_group(serve, grace=15)
    log = (tmp_path / "serve.log").read_text()
    assert run.state.is_completed(), f"{run.state}\n{log[-3000:]}"
    assert (tmp_path / "data" / "in").is_dir()
