"""compose.yaml agrees with the Dockerfile, prefect.yaml, the settings and its .env.example.

No Docker engine (nor `docker compose`) runs here: these tests read the files. The stack's
Prefect server is the one tests/test_server_pg.py starts for real (scripts/server.sh).
"""

import re
import shutil
import subprocess
from urllib.parse import urlsplit

import prefect.settings
import pytest
import yaml
from sqlalchemy.engine import make_url

from comic2pdf.settings import Settings
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
OURS = ("server", "deploy", "worker")  # the services that run the project's image
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# Read by something other than comic2pdf's settings or Prefect (standard, documented).
OTHER_VARIABLES = {"DO_NOT_TRACK"}  # "don't send usage data", honoured by Prefect's client
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, over *env*."""

    def one(match: re.Match) -> str:
        name, kind, default = match.groups()
        if env.get(name):
            return env[name]
        assert kind != ":?", f"{name} is required: {default}"
        return default if kind == ":-" else ""

    return VARIABLE.sub(one, value)


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = re.findall(r"^ENV\s+(.*)$", text, flags=re.MULTILINE)
    return dict(item.split("=", 1) for line in pairs for item in line.split())


def test_the_stack_has_every_part_of_the_issue():
    assert set(SERVICES) == {
        "postgres", "server", "deploy", "worker", "pushgateway", "prometheus"
    }  # fmt: skip


@pytest.mark.parametrize("name", OURS)
def test_our_services_run_the_image_built_from_the_dockerfile(name):
    service = SERVICES[name]
    assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert service["image"] == "comic2pdf:latest"
    assert "user" not in service, "the Dockerfile's non-root user runs it"
    program = service["command"][0]
    assert program == "prefect" or (ROOT / program).is_file(), program


def test_the_worker_uses_the_images_data_folder_on_the_shared_volume():
    data_dir = dockerfile_env()["DATA_DIR"]
    worker = SERVICES["worker"]
    assert worker["environment"]["DATA_DIR"] == data_dir
    assert f"data:{data_dir}" in worker["volumes"]
    assert "data" in COMPOSE["volumes"]
    assert f"VOLUME {data_dir}" in (ROOT / "Dockerfile").read_text()


def test_the_worker_serves_the_process_pool_that_prefect_yaml_and_deploy_sh_use():
    command = SERVICES["worker"]["command"]
    pool = command[command.index("--pool") + 1]
    assert command[command.index("--type") + 1] == "process"
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    on_pool = [d for d in deployments if d["work_pool"]["name"] == pool]
    assert {d["entrypoint"] for d in on_pool} >= {
        "flows/convert.py:convert_comic", "flows/scan.py:scan_inbox"
    }  # fmt: skip
    assert SERVICES["deploy"]["command"] == ["scripts/deploy.sh"]
    assert f"local) pool={pool};" in (ROOT / "scripts" / "deploy.sh").read_text()
    depends = SERVICES["worker"]["depends_on"]
    assert depends["deploy"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", OURS)
def test_every_variable_our_services_set_is_a_setting_or_a_prefect_variable(name):
    ours = {field.upper() for field in Settings.model_fields}
    for variable in SERVICES[name]["environment"]:
        known = variable in ours or variable in OTHER_VARIABLES
        assert known or hasattr(prefect.settings, variable), f"{name}: {variable} is read by nobody"


def test_postgres_is_not_published_and_the_server_reaches_it_with_its_password():
    database = SERVICES["postgres"]
    assert "ports" not in database and "network_mode" not in database
    assert set(database["environment"]) == POSTGRES_IMAGE_VARIABLES
    env = env_example() | {"POSTGRES_PASSWORD": "pw123", "PREFECT_AUTH_STRING": "u:p"}
    server = SERVICES["server"]["environment"]
    url = make_url(interpolate(server["PREFECT_API_DATABASE_CONNECTION_URL"], env))
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port) == ("postgres", 5432)
    assert url.username == database["environment"]["POSTGRES_USER"]
    assert url.database == database["environment"]["POSTGRES_DB"]
    assert url.password == interpolate(database["environment"]["POSTGRES_PASSWORD"], env)


def test_the_worker_keeps_its_jobs_in_the_database_the_postgres_volume_is_made_with():
    database = SERVICES["postgres"]
    init = [v.split(":")[0] for v in database["volumes"] if "docker-entrypoint-initdb.d" in v]
    created = re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", (ROOT / init[0]).read_text())
    env = env_example() | {"POSTGRES_PASSWORD": "pw123", "PREFECT_AUTH_STRING": "u:p"}
    url = make_url(interpolate(SERVICES["worker"]["environment"]["JOB_DB_URL"], env))
    assert url.drivername == "postgresql+psycopg" and (url.host, url.port) == ("postgres", 5432)
    assert created == [(url.database, url.username)]
    assert url.username == database["environment"]["POSTGRES_USER"]
    assert url.password == "pw123"


def test_the_server_requires_auth_and_every_client_sends_the_same_string():
    server = SERVICES["server"]
    assert server["command"] == ["scripts/server.sh"]  # refuses to start without auth
    required = server["environment"]["PREFECT_SERVER_API_AUTH_STRING"]
    name, kind, _ = VARIABLE.fullmatch(required).groups()
    assert kind == ":?", "no default: compose stops when the auth string is missing"
    with pytest.raises(AssertionError, match="required"):
        interpolate(required, {})
    port = server["environment"]["PREFECT_SERVER_API_PORT"]
    for client in ("deploy", "worker"):
        env = SERVICES[client]["environment"]
        assert VARIABLE.fullmatch(env["PREFECT_API_AUTH_STRING"]).group(1) == name
        api = urlsplit(env["PREFECT_API_URL"])
        assert (api.hostname, str(api.port), api.path) == ("server", port, "/api")


def test_published_ports_listen_on_loopback_unless_env_says_otherwise():
    env = env_example()
    published = {
        name: [interpolate(port, {}) for port in service.get("ports", [])]
        for name, service in SERVICES.items()
    }
    assert published.pop("postgres") == []
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)
    assert all(env[f"{name.upper()}_BIND"] == "127.0.0.1" for name in ("prefect", "pushgateway"))


def test_every_variable_compose_reads_is_explained_in_env_example():
    text = (ROOT / "compose.yaml").read_text()
    used = {match.group(1) for match in VARIABLE.finditer(text)}
    assert used == set(env_example())


def test_prometheus_scrapes_the_pushgateway_the_worker_pushes_to():
    prometheus = SERVICES["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.endswith(":/etc/prometheus:ro"))
    config_name = prometheus["command"][0].removeprefix("--config.file=/etc/prometheus/")
    config_path = ROOT / mount.split(":")[0] / config_name
    config = yaml.safe_load(config_path.read_text())
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True
    pushgateway = urlsplit(SERVICES["worker"]["environment"]["PUSHGATEWAY_URL"]).netloc
    assert job["static_configs"][0]["targets"] == [pushgateway]
    assert pushgateway.split(":")[0] in SERVICES
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is missing: make setup"
    check = subprocess.run(
        [promtool, "check", "config", config_path], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
