"""The comic2pdf command line, run as a user runs it (ephemeral Prefect, no server)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from comic2pdf.samples import make_comic

pytestmark = pytest.mark.slow
COMIC2PDF = Path(sys.executable).parent / "comic2pdf"


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMIC2PDF), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_convert_good_and_bad_files(tmp_path):
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "DATA_DIR": str(tmp_path / "d"),
        "RETRY_DELAY_SECONDS": "0",
    }
    env.pop("PREFECT_API_URL", None)
    good = make_comic(tmp_path / "Good One.cbz", title="Good", pages=2, seed=5).path
    bad = tmp_path / "bad.cbz"
    bad.write_text("this is text, not a zip")
    done = run_cli(
        "convert",
        str(good),
        str(bad),
        str(tmp_path / "missing.cbr"),
        "--out",
        str(tmp_path / "pdfs"),
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert f"{good} → {tmp_path / 'pdfs' / 'Good One.pdf'} (2 pages" in done.stdout
    assert f"{bad}: not_an_archive: " in done.stderr
    assert f"{tmp_path / 'missing.cbr'}: not_found: no such file" in done.stderr
    assert (tmp_path / "pdfs" / "Good One.pdf").is_file()


def test_convert_only_good_files_exits_zero(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "DATA_DIR": str(tmp_path / "d")}
    env.pop("PREFECT_API_URL", None)
    good = make_comic(tmp_path / "x.cbz", title="X", pages=1, seed=9).path
    done = run_cli("convert", str(good), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d" / "out" / "x.pdf").is_file()


def test_bad_setting_is_a_clear_error(tmp_path):
    env = {**os.environ, "OCR_LANG": "eng; rm -rf /", "DATA_DIR": str(tmp_path / "d")}
    done = run_cli("convert", "whatever.cbz", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "OCR_LANG" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_idle_scan_starts_no_flow_run(tmp_path):
    """Nothing to take: `scan --once` ends without asking Prefect (its API here is a dead port)."""
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    (data / "in" / "still arriving.cbz.part").write_bytes(b"PK")
    env = {**os.environ, "DATA_DIR": str(data), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    done = run_cli("scan", "--once", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "scan: nothing to start, 0 waiting"


def test_has_work_sees_each_kind_of_work(tmp_path, monkeypatch):
    from comic2pdf.duplicates import DECISION_FILE
    from comic2pdf.inbox import ensure_layout
    from comic2pdf.settings import load_settings
    from flows.scan import has_work

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STABLE_SECONDS", "0")
    monkeypatch.setenv("KEEP_WORK_DIR_DAYS", "1")
    settings = load_settings()
    ensure_layout(settings)
    (settings.in_dir / "new.cbz.part").write_bytes(b"PK")
    assert not has_work(settings)
    (settings.in_dir / "new.cbz.part").rename(settings.in_dir / "new.cbz")
    assert has_work(settings)
    (settings.in_dir / "new.cbz").unlink()
    old = settings.work_dir / "abc__def"
    old.mkdir(parents=True)
    os.utime(old, (0, 0))
    assert has_work(settings)
    old.rmdir()
    held = settings.hold_dir / "abc__def"
    held.mkdir(parents=True)
    assert not has_work(settings)
    (held / DECISION_FILE).write_text('{"action": "DISCARD"}')
    assert has_work(settings)
