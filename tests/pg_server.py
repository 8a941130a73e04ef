"""A Prefect server on the test session's PostgreSQL, started the documented way (make server)."""

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from comic2pdf.proc import kill_group
from tests import pg
from tests.conftest import BIN, ROOT, start_prefect_server

SCRIPT = ROOT / "scripts" / "server.sh"


def server_env(folder: Path, **settings: str) -> dict[str, str]:
    """Our environment without PREFECT_* or data settings, plus *settings*: one host's shell."""
    ours = ("PREFECT_", "JOB_DB_URL", "DATA_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PREFECT_HOME": str(folder / "home"),
        **settings,
    }


@contextlib.contextmanager
def documented_server(postgres: pg.PgCluster, folder: Path, *, auth: str) -> Iterator[tuple]:
    """``scripts/server.sh`` on a new database of *postgres*; yields (API URL, database)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = postgres.create_database(f"prefect_{secrets.token_hex(4)}")

    def launch(port: str) -> tuple[list, dict[str, str]]:
        env = server_env(
            folder,
            PREFECT_API_DATABASE_CONNECTION_URL=postgres.url("asyncpg", database),
            PREFECT_SERVER_API_AUTH_STRING=auth,
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=port,
            PREFECT_UI_ENABLED="false",  # not needed here; saves the UI's build step
        )
        return [SCRIPT], env

    # /health answers without the auth string (Prefect lets health probes through).
    try:
        process, url = start_prefect_server(launch, folder / "server.log", seconds=180)
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield url, database
    finally:
        kill_group(process, grace=15)
