"""Fixtures of the fault-injection tests."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.faults.scanners import Scanner, migrate_prefect_home


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one PREFECT_HOME of every scanner of the session, as a user has one."""
    return migrate_prefect_home(tmp_path_factory.mktemp("prefect-home"))


@pytest.fixture
def scanners(prefect_home, data_dir, tmp_path):
    """Start ``comic2pdf scan`` processes on DATA_DIR; whatever is left is stopped at the end."""
    started: list[Scanner] = []

    def start(*args: str, **env: str) -> Scanner:
        scanner = Scanner(
            list(args),
            prefect_home=prefect_home,
            folder=tmp_path / f"scanner-{len(started) + 1}",
            env={"DATA_DIR": str(data_dir), **env},
        )
        started.append(scanner)
        return scanner

    yield start
    for scanner in started:
        scanner.stop()


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs on a fresh folder: ``mount(size_bytes) -> folder``, or None if refused.

    Needs root and the right to mount (CI and `make test` run as root); where
    mounting is refused the caller fills the disk another way.
    """
    mounted: list[Path] = []

    def mount(size: int) -> Path | None:
        folder = tmp_path / f"disk-{len(mounted) + 1}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"cannot mount a tmpfs here: {done.stderr.strip()}")
            return None
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)
        os.rmdir(folder)
