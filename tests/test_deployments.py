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
from deployments.render import render
from tests.conftest import BIN, prefect_server_running, start_process
from tests.fakes import path_with
from tests.test_convert_flow import run_logs

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


def test_docker_deployments_run_an_image_built_once():
    dockerfile = (ROOT / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)", dockerfile, re.MULTILINE)[1]
    for deployment in prefect_yaml()["deployments"]:
        # prefect deploy would run build/push steps once per deployment: the script builds.
        assert "build" not in deployment and "push" not in deployment
        if deployment["name"] != "docker":
            continue
        pool = deployment["work_pool"]["job_variables"]
        assert pool["image_pull_policy"] == "IfNotPresent"  # a tag per build
        assert pool["volumes"] == ["/srv/comic2pdf/data:/data"]
        assert pool["env"]["DATA_DIR"] == "/data"
        pull = step(deployment["pull"], "prefect.deployments.steps.set_working_directory")
        assert pull["directory"] == workdir


# --- deployments/render.py (what scripts/deploy.sh deploys) ----------------------------


def rendered(target: str, image: str | None = None, **settings) -> list[dict]:
    result = render(prefect_yaml(), Settings(**settings), target, image)
    PrefectYamlModel.model_validate(result)
    return result["deployments"]


def test_render_takes_the_intervals_from_the_settings():
    for target, image in (("local", None), ("docker", "r/comic2pdf:1")):
        deployments = rendered(target, image, scan_interval_seconds=45, metrics_interval_seconds=90)
        assert {d["name"] for d in deployments} == {target}
        intervals = {
            flow_name(d): [s["interval"] for s in d.get("schedules", [])] for d in deployments
        }
        assert intervals == {
            "convert-comic": [], "scan-inbox": [45], "push-metrics": [90],
            "resolve-duplicate": [],
        }  # fmt: skip


def test_render_passes_the_settings_set_at_deploy_time(monkeypatch):
    monkeypatch.setenv("PUSHGATEWAY_URL", "http://metrics.lan:9091")
    monkeypatch.setenv("OCR_LANG", "fra+eng")
    monkeypatch.setenv("JOB_DB_URL", "postgresql+psycopg://comic2pdf:s3cret@db.lan/comic2pdf")
    monkeypatch.delenv("DATA_DIR", raising=False)
    for deployment in rendered("local"):
        env = deployment["work_pool"]["job_variables"]["env"]
        assert "JOB_DB_URL" not in env  # a password: each worker host sets it, never Prefect
        assert env["PUSHGATEWAY_URL"] == "http://metrics.lan:9091"
        assert env["OCR_LANG"] == "fra+eng"
        assert "DATA_DIR" not in env  # not set: the worker's environment decides
        assert env["PREFECT_LOGGING_EXTRA_LOGGERS"] == "comic2pdf,ocrmypdf"


def test_render_makes_each_scan_start_its_pools_conversions(monkeypatch):
    monkeypatch.delenv("CONVERT_DEPLOYMENT", raising=False)
    for target, image in (("local", None), ("docker", "r/comic2pdf:1")):
        envs = {
            flow_name(d): d["work_pool"]["job_variables"]["env"] for d in rendered(target, image)
        }
        assert envs["scan-inbox"]["CONVERT_DEPLOYMENT"] == f"convert-comic/{target}"
        assert "CONVERT_DEPLOYMENT" not in envs["convert-comic"]
    (scan,) = [
        d for d in rendered("local", convert_deployment="convert-comic/big")
        if flow_name(d) == "scan-inbox"
    ]  # fmt: skip
    assert scan["work_pool"]["job_variables"]["env"]["CONVERT_DEPLOYMENT"] == "convert-comic/big"


def test_render_docker_mounts_data_dir_and_runs_the_image(monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/nas/comics")
    for deployment in rendered("docker", "registry.lan:5000/comic2pdf:abc-1"):
        variables = deployment["work_pool"]["job_variables"]
        assert variables["image"] == "registry.lan:5000/comic2pdf:abc-1"
        assert variables["volumes"] == ["/nas/comics:/data"]
        assert variables["env"]["DATA_DIR"] == "/data"
    with pytest.raises(ValueError, match="image"):
        render(prefect_yaml(), Settings(), "docker")


def test_deploy_docker_without_a_registry_says_so(tmp_path):
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    done = subprocess.run(
        [ROOT / "scripts" / "deploy.sh", "docker"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "COMIC2PDF_REGISTRY is not set" in done.stderr


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
    assert all(resolve.properties[name]["description"] for name in ("job_key", "action"))
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
    deploy_env = env | {"SCAN_INTERVAL_SECONDS": "45", "MAX_ATTEMPTS_OCR": "2"}
    deployed = subprocess.run(
        [ROOT / "scripts" / "deploy.sh"], env=deploy_env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with get_client(sync_client=True) as client:
        local = [d for d in tagged_deployments(client) if d.name == "local"]
    assert len(local) == 4
    for deployment in local:  # what was set when deploying reaches every run
        assert deployment.job_variables["env"]["MAX_ATTEMPTS_OCR"] == "2"
        intervals = [s.schedule.interval.total_seconds() for s in deployment.schedules]
        expected = {"flows/scan.py:scan_inbox": [45], "flows/metrics.py:push_metrics_flow": [60]}
        assert intervals == expected.get(deployment.entrypoint, [])
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
def test_deploy_docker_builds_once_and_registers_the_tag(prefect_server, tmp_path):
    # No Docker engine runs here: a fake `docker` records what it is asked to do.
    calls = tmp_path / "docker.calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    fake.chmod(0o755)
    env = prefect_server.env | {
        "PATH": path_with(fake.parent), "COMIC2PDF_REGISTRY": "registry.lan:5000/",
        "DATA_DIR": "/nas/comics",
    }  # fmt: skip
    deployed = subprocess.run(
        [ROOT / "scripts" / "deploy.sh", "docker"], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    build, push = calls.read_text().splitlines()  # once for the four deployments
    image = push.removeprefix("push ")
    assert build == f"build --tag {image} ."
    assert re.fullmatch(r"registry\.lan:5000/comic2pdf:[\w.-]+-\d{14}", image)
    with get_client(sync_client=True) as client:
        docker = [d for d in tagged_deployments(client) if d.name == "docker"]
    assert len(docker) == 4
    for deployment in docker:
        assert deployment.work_pool_name == "comic2pdf-docker"
        assert deployment.job_variables["image"] == image
        assert deployment.job_variables["image_pull_policy"] == "IfNotPresent"
        assert deployment.job_variables["volumes"] == ["/nas/comics:/data"]


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
        refused = refuse_random_bytes(deployments, tmp_path)
    finally:
        kill_group(serve, grace=15)
    log = (tmp_path / "serve.log").read_text()
    assert run.state.is_completed(), f"{run.state}\n{log[-3000:]}"
    assert run.state.name == "Idle"  # nothing in the inbox
    assert (tmp_path / "data" / "in").is_dir()
    # A deployment run of random bytes: a few readable lines, no traceback (issue #13).
    assert refused.state.message.startswith("not_an_archive: "), refused.state
    logs = run_logs(refused.id)
    assert len(logs) <= 5 and not [line for line in logs if "Traceback" in line], logs
    assert not [line for line in logs if "unexpected" in line], logs


def refuse_random_bytes(deployments: list, folder: Path):
    """Run convert-comic's deployment on a .cbz of random bytes; the run once final."""
    noise = folder / "noise.cbz"
    noise.write_bytes(bytes(range(256)) * 16)
    convert = next(d for d in deployments if d.entrypoint == "flows.convert.convert_comic")
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(convert.id, parameters={"path": str(noise)})
    run = wait_for_run(run.id, timeout=90)
    time.sleep(3)  # the serving process sends a run's last log lines as it ends
    return run
