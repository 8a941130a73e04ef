"""``comic2pdf scan`` as a real process: started, watched from outside, killed or stopped.

Each scanner runs Prefect's temporary server (no PREFECT_API_URL), as
``comic2pdf scan`` does for a user, and all of them share one PREFECT_HOME, as
a user's scans do: what a killed scanner leaves in Prefect's database is there
for the next one.
"""

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

COMIC2PDF = Path(sys.executable).parent / "comic2pdf"
PREFECT = Path(sys.executable).parent / "prefect"


def migrate_prefect_home(home: Path) -> Path:
    """A PREFECT_HOME whose database is already migrated (saves each scanner ~15 s)."""
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    subprocess.run(
        [str(PREFECT), "server", "database", "upgrade", "-y"],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    return home


class Scanner:
    """One ``comic2pdf scan`` process in a session of its own."""

    def __init__(
        self, args: list[str], *, prefect_home: Path, folder: Path, env: dict[str, str]
    ) -> None:
        folder.mkdir(parents=True)
        full_env = {
            **os.environ,
            **env,
            "PREFECT_HOME": str(prefect_home),
            # A loaded CI machine can take a while to start the temporary server.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }
        full_env.pop("PREFECT_API_URL", None)  # its own temporary server, not the test's
        # In the job database's format, to tell this scanner's updates from older ones.
        self.started_at = datetime.now(UTC).isoformat(timespec="microseconds")
        self.log = folder / "scan.log"
        self.process = subprocess.Popen(
            [str(COMIC2PDF), "scan", *args],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._logger = threading.Thread(target=self._copy_output, daemon=True)
        self._logger.start()

    def _copy_output(self) -> None:
        """Copy the scanner's output to its log, each line stamped with the seconds since start."""
        started = time.monotonic()
        with self.log.open("w") as log:
            for line in io.TextIOWrapper(self.process.stdout, errors="replace"):
                log.write(f"{time.monotonic() - started:7.2f} {line}")
                log.flush()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for(self, condition: Callable[[], bool], *, timeout: float, poll: float) -> bool:
        """True once *condition* holds; False if the scanner exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if not self.running:
                return False
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout} s; see {self.log}")

    def kill9(self) -> None:
        """SIGKILL the scan process alone, then clear what is left of its session."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._end_session()
        self._logger.join(timeout=5)

    def stop(self, timeout: float = 10) -> int | None:
        """Ctrl-C, as a user would; SIGKILL what is left after *timeout*. The exit code, if any."""
        if self.running:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self._end_session()
        self.process.wait()
        self._logger.join(timeout=5)
        return code

    def _end_session(self) -> None:
        # The temporary Prefect server shares the scanner's process group and
        # outlives a SIGKILLed scanner; OCR children are in groups of their own
        # and die with their parent by design (tests/test_ocr.py proves it).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class JobRows:
    """Read-only view of the job table, polled from outside while a scanner runs."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None

    def stages(self, *, since: str = "") -> list[str]:
        """Stages of the RUNNING jobs updated after *since* (a job database timestamp)."""
        if self._conn is None:
            if not self.db_path.exists():
                return []
            self._conn = sqlite3.connect(self.db_path, timeout=5, isolation_level=None)
        try:
            rows = self._conn.execute(
                "SELECT stage FROM jobs WHERE state = 'RUNNING' AND updated_at > ?", (since,)
            )
            return [stage for (stage,) in rows]
        except sqlite3.OperationalError:  # the schema is not there yet
            return []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
