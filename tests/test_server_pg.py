"""A Prefect server on PostgreSQL with basic auth, started the documented way (make server).

Real parts only: the session's throwaway PostgreSQL cluster (tests/pg.py), a real
``scripts/server.sh`` → ``prefect server start``, the real ``prefect`` CLI as a client.
"""

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests import pg
from tests.conftest import BIN, ROOT
from tests.pg_server import SCRIPT, documented_server, server_env

AUTH = f"comic2pdf:{secrets.token_hex(12)}"

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(postgres: pg.PgCluster, tmp_path_factory: pytest.TempPathFactory):
    """`scripts/server.sh` on a database of its own; yields (API URL, database name, home)."""
    folder = tmp_path_factory.mktemp("pg-server")
    with documented_server(postgres, folder, auth=AUTH) as (url, database):
        yield url, database, folder / "home"


def status_of(url: str, auth: str | None) -> int:
    """HTTP status of a flow query (POST /flows/filter), with or without basic auth."""
    request = urllib.request.Request(f"{url}/flows/filter", data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")
    if auth is not None:
        request.add_header("Authorization", f"Basic {base64.b64encode(auth.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def prefect_cli(args: list[str], url: str, folder: Path, auth: str | None):
    client = {"PREFECT_API_URL": url} | ({"PREFECT_API_AUTH_STRING": auth} if auth else {})
    return subprocess.run(
        [BIN / "prefect", *args], env=server_env(folder, **client),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def query(postgres: pg.PgCluster, database: str, sql: str) -> list[tuple]:
    """Rows of *sql* in *database*, read as our password-protected role over TCP."""
    with psycopg.connect(
        host=postgres.host, port=postgres.port, user=postgres.user,
        password=postgres.password, dbname=database,
    ) as connection:  # fmt: skip
        return connection.execute(sql).fetchall()


def test_the_server_keeps_its_tables_in_postgresql(server, postgres):
    url, database, home = server
    tables = {row[0] for row in query(postgres, database, "SELECT tablename FROM pg_tables")}
    assert {"flow", "flow_run", "work_pool", "deployment", "alembic_version"} <= tables
    assert not list(home.glob("*.db")), "the server also made a SQLite database"


def test_a_client_with_the_auth_string_can_use_the_server(server, postgres, tmp_path):
    url, database, _ = server
    assert status_of(url, AUTH) == 200
    done = prefect_cli(["work-pool", "create", "pg-pool", "--type", "process"], url, tmp_path, AUTH)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = query(postgres, database, "SELECT type FROM work_pool WHERE name = 'pg-pool'")
    assert rows == [("process",)]


def test_a_client_without_the_auth_string_is_refused(server, tmp_path):
    url, _, _ = server
    assert status_of(url, None) == 401
    assert status_of(url, "comic2pdf:wrong") == 401
    done = prefect_cli(["work-pool", "ls"], url, tmp_path, auth=None)
    assert done.returncode != 0
    assert "401" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://u:p@h/db"}, "AUTH_STRING"),
        (
            {
                "PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///prefect.db",
                "PREFECT_SERVER_API_AUTH_STRING": AUTH,
            },
            "must start with postgresql+asyncpg://",
        ),
        ({"PREFECT_SERVER_API_AUTH_STRING": AUTH}, "CONNECTION_URL is not set"),
    ],
)
def test_the_script_refuses_a_server_without_postgresql_or_auth(settings, complaint, tmp_path):
    done = subprocess.run(
        [SCRIPT], env=server_env(tmp_path, **settings), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert complaint in done.stderr


def test_a_cluster_left_by_a_killed_run_is_removed_by_the_next_run():
    # The postgres user must reach the base folder: pytest's own tmp folders are root's only.
    base = Path(tempfile.mkdtemp(prefix="comic2pdf-pgbase-"))
    base.chmod(0o755)
    starter = (
        "import sys, time; from tests import pg; "
        "print(pg.start_cluster(__import__('pathlib').Path(sys.argv[1])).folder, flush=True); "
        "time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", starter, str(base)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        stale = Path(child.stdout.readline().strip())
        postmaster = int((stale / "data" / "postmaster.pid").read_text().split()[0])
        child.kill()  # as a killed test run: no teardown
        child.wait()
        assert stale.is_dir() and _alive(postmaster)

        cluster = pg.start_cluster(base)
        try:
            assert not stale.exists()
            assert not _alive(postmaster)
            assert query(cluster, cluster.database, "SELECT current_user") == [(cluster.user,)]
        finally:
            pg.stop_cluster(cluster)
        assert not cluster.folder.exists()
    finally:
        child.kill()
        child.wait()
        pg.remove_stale(base)
        shutil.rmtree(base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def test_the_script_reads_its_settings_from_env_file(tmp_path):
    env_file = tmp_path / "server.env"
    env_file.write_text(
        f"PREFECT_SERVER_API_AUTH_STRING={AUTH}\n"
        "PREFECT_API_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///prefect.db\n"
    )
    env = server_env(tmp_path, ENV_FILE=str(env_file))
    done = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, timeout=30)
    # The URL is only in the file: without reading it the complaint would be 'is not set'.
    assert done.returncode == 2
    assert "must start with postgresql+asyncpg://" in done.stderr
