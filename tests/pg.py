"""A throwaway PostgreSQL cluster for tests, from Debian's ``postgresql`` package.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to
the unprivileged ``postgres`` user (``runuser``). Each cluster lives in a folder of its
own, ``/tmp/comic2pdf-pg-*``, holding the data directory, the Unix socket and the log,
plus ``owner.pid``: the process that started it. A cluster whose owner is gone (a test
run that was killed) is stopped and removed by the next start, so runs never pile up;
a live owner's cluster (another session running tests in parallel) is left alone.

Clients connect over TCP on 127.0.0.1 with the password of a role that owns one
database; the superuser is reachable only through the socket in the private folder.
"""

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

PREFIX = "comic2pdf-pg-"
OWNER_FILE = "owner.pid"
SUPERUSER = "postgres"
#: A folder without owner.pid younger than this is one being set up right now.
SETUP_GRACE_SECONDS = 60


@dataclass(frozen=True)
class PgCluster:
    """A running cluster: one password-protected role owning one database."""

    folder: Path
    port: int
    user: str
    password: str
    database: str
    host: str = "127.0.0.1"

    def url(self, driver: str = "psycopg", database: str | None = None) -> str:
        """SQLAlchemy URL, e.g. ``postgresql+asyncpg://…`` for Prefect's server."""
        name = database or self.database
        return f"postgresql+{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{name}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run *statement* as the superuser through the private socket; its output rows."""
        return _psql(self.folder, self.port, statement, database)

    def create_database(self, name: str) -> str:
        """A new empty database owned by our role (e.g. one per Prefect server)."""
        self.sql(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        return name


def pg_bin() -> Path:
    """The newest installed PostgreSQL's programs (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql): make setup")
    return found[-1].parent


def start_cluster(base: Path | None = None, attempts: int = 3) -> PgCluster:
    """initdb + start a cluster under *base* (default: the temp folder); remove stale ones."""
    base = base or Path(tempfile.gettempdir())
    remove_stale(base)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    (folder / OWNER_FILE).write_text(str(os.getpid()))
    try:
        _initdb(folder)
        port = _start_on_free_port(folder, attempts)
        password = secrets.token_hex(16)
        cluster = PgCluster(folder, port, "comic2pdf", password, "comic2pdf")
        cluster.sql(f"CREATE ROLE \"{cluster.user}\" LOGIN PASSWORD '{password}'")
        cluster.create_database(cluster.database)
    except BaseException:
        _remove(folder)
        raise
    return cluster


def stop_cluster(cluster: PgCluster) -> None:
    """Stop the server and delete its folder."""
    _remove(cluster.folder)


def remove_stale(base: Path) -> list[Path]:
    """Stop and delete the clusters under *base* whose owner process is gone."""
    removed = []
    for folder in base.glob(f"{PREFIX}*"):
        if folder.is_dir() and not _owner_alive(folder):
            _remove(folder)
            removed.append(folder)
    return removed


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):
        # No owner yet: either being set up this instant or left half-made long ago.
        with contextlib.suppress(OSError):
            return time.time() - folder.stat().st_mtime < SETUP_GRACE_SECONDS
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _remove(folder: Path) -> None:
    if (folder / "data" / "PG_VERSION").exists():
        # A killed run may have left the server running; `immediate` needs no clean state.
        _run_as_postgres(
            [pg_bin() / "pg_ctl", "-D", folder / "data", "stop", "-m", "immediate", "-w"],
            check=False,
        )
    shutil.rmtree(folder, ignore_errors=True)


def _initdb(folder: Path) -> None:
    # mkdtemp made the folder 0700: the socket in it (trusted, no password) is reachable
    # by its owner only.
    if os.geteuid() == 0:
        shutil.chown(folder, user=SUPERUSER, group=SUPERUSER)
    _run_as_postgres(
        [
            pg_bin() / "initdb", "-D", folder / "data", "-U", SUPERUSER, "-E", "UTF8",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
        ]
    )  # fmt: skip


def _start_on_free_port(folder: Path, attempts: int) -> int:
    """pg_ctl start on a free port; another process may take it first, so try again."""
    for _ in range(attempts):
        port = free_port()
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
            # Throwaway data: durability costs time and buys nothing here.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = _run_as_postgres(
            [pg_bin() / "pg_ctl", "-D", folder / "data", "-l", folder / "server.log",
             "-w", "-t", "60", "-o", options, "start"],
            check=False,
        )  # fmt: skip
        if started.returncode == 0:
            return port
    log = (folder / "server.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"PostgreSQL did not start in {folder}:\n{log}")


def _psql(folder: Path, port: int, statement: str, database: str) -> str:
    done = _run_as_postgres(
        [pg_bin() / "psql", "-h", folder, "-p", str(port), "-U", SUPERUSER, "-d", database,
         "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", statement],
    )  # fmt: skip
    return done.stdout


def _run_as_postgres(argv: list, check: bool = True) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
    done = subprocess.run(
        [*prefix, *map(str, argv)], capture_output=True, text=True, timeout=120, cwd="/"
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{Path(str(argv[0])).name} failed ({done.returncode}): {done.stderr}")
    return done
