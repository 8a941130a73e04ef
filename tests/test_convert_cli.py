"""``comic2pdf convert`` as a user sees it: without Prefect by default, in a terminal or a pipe.

Real archives, real ocrmypdf and Tesseract, a real pseudo-terminal; faults by
fake binaries on PATH (tests/fakes.py).
"""

import os
import pty
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from comic2pdf.samples import make_comic
from tests.fakes import alive, fake_tesseract, path_with

pytestmark = pytest.mark.slow
COMIC2PDF = Path(sys.executable).parent / "comic2pdf"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ESC = "\x1b["
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def env(tmp_path):
    """A user's environment: no Prefect API configured, a Prefect home of the test's own."""
    values = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "DATA_DIR": str(tmp_path / "data"),
        "RETRY_DELAY_SECONDS": "0",
        "OCR_JOBS": "2",
    }
    values.pop("PREFECT_API_URL", None)
    values.pop("PREFECT_PROFILE", None)
    return values


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMIC2PDF), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def run_in_terminal(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; its exit code and output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: cwd and env as asked, then the CLI
        os.chdir(cwd)
        os.execve(str(COMIC2PDF), [str(COMIC2PDF), *args], env | {"COLUMNS": "120"})
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def test_a_terminal_shows_each_stage_and_the_pages_done(tmp_path, env):
    name = "[Group] Shown 01"  # brackets are rich markup: a name must be shown as it is
    comic = make_comic(tmp_path / f"{name}.cbz", title="Shown", pages=3, seed=11).path
    code, output = run_in_terminal("convert", str(comic), "--out", "pdfs", cwd=tmp_path, env=env)
    assert code == 0, output
    assert ESC in output  # a live display, redrawn in place
    text = ANSI.sub("", output)
    for stage in ("prep", "ocr"):
        assert f"{name}.cbz {stage}" in text
    assert re.search(rf"{re.escape(name)}\.cbz ocr +━+ [0-3]/3 pages", text), text
    assert f"{comic} → pdfs/{name}.pdf (3 pages, " in text
    assert (tmp_path / "pdfs" / f"{name}.pdf").is_file()


def test_a_pipe_gets_plain_lines_and_results_on_stdout(tmp_path, env):
    comic = make_comic(tmp_path / "Piped.cbz", title="Piped", pages=2, seed=12).path
    bad = tmp_path / "bad.cbz"
    bad.write_text("text, not an archive")
    done = run_cli("convert", str(comic), str(bad), "--out", "pdfs", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "Piped.cbz: prep",
        "Piped.cbz: ocr (2 pages)",
        "Piped.cbz: finalize",
        f"{comic} → pdfs/Piped.pdf (2 pages, 0 without text, "
        + done.stdout.split("without text, ")[1].splitlines()[0],
    ]
    assert ESC not in done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"{bad}: not_an_archive: not a ZIP, RAR, 7z or tar archive (judged by content)"
    ]


def test_quiet_prints_only_the_failures(tmp_path, env):
    comic = make_comic(tmp_path / "Hush.cbz", title="Hush", pages=1, seed=13).path
    missing = tmp_path / "missing.cbr"
    done = run_cli("convert", "-q", str(comic), str(missing), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"{missing}: not_found: no such file"]
    assert (tmp_path / "data" / "out" / "Hush.pdf").is_file()


def test_without_an_api_prefect_is_not_even_imported(tmp_path, env):
    """No server, no Prefect line: the run imports no Prefect module and starts no server."""
    comic = make_comic(tmp_path / "Lean.cbz", title="Lean", pages=1, seed=14).path
    script = (
        "import sys\nfrom comic2pdf.cli import main\n"
        f"code = main(['convert', {str(comic)!r}])\n"
        "print('prefect modules:', sorted(m for m in sys.modules if m.startswith('prefect')))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prefect modules: []" in done.stdout
    assert done.stderr == ""
    assert not (tmp_path / "prefect").exists()  # Prefect's home was never made


def test_verbose_shows_ocrmypdf_lines(tmp_path, env):
    comic = make_comic(tmp_path / "Loud.cbz", title="Loud", pages=1, seed=15).path
    done = run_cli("convert", "--verbose", str(comic), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "comic2pdf.tool.ocrmypdf" in done.stderr  # ocrmypdf's own lines, by its logger
    quiet = run_cli("convert", str(comic), cwd=tmp_path, env=env)
    assert quiet.stderr == ""


def test_hung_ocr_is_killed_with_its_group_and_retried(tmp_path, env):
    pid_log = tmp_path / "pids"
    fakes = fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log)
    env |= {"PATH": path_with(fakes), "OCR_TIMEOUT_SECONDS": "5", "MAX_ATTEMPTS_OCR": "2"}
    comic = make_comic(tmp_path / "Hang.cbz", title="Hang", pages=1, seed=3).path
    done = run_cli("convert", str(comic), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(f"{comic}: timeout: ocrmypdf did not finish")
    pids = [int(pid) for pid in pid_log.read_text().split()]
    assert len(pids) == 2  # one hung tesseract per attempt
    assert alive(pids) == []
    assert not list((tmp_path / "data").glob("out/*.pdf"))
    assert not list((tmp_path / "data").glob("work/*"))


def test_broken_input_fails_at_once_with_its_reason(tmp_path, env):
    encrypted = FIXTURES / "archives" / "zip-encrypted.zip"
    env |= {"MAX_ATTEMPTS_PREP": "3"}
    done = run_cli("convert", str(encrypted), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["zip-encrypted.zip: prep"]  # one attempt, not three
    assert done.stderr.startswith(f"{encrypted}: encrypted: ")
    assert encrypted.is_file()


def flow_run_names(prefect_home: Path) -> list[str]:
    """Flow runs recorded in the database of Prefect's temporary server."""
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        return [name for (name,) in db.execute("SELECT name FROM flow_run")]


def test_prefect_option_makes_a_flow_run_and_prints_no_prefect_line(tmp_path, env):
    comic = make_comic(tmp_path / "Flowing.cbz", title="Flowing", pages=1, seed=16).path
    done = run_cli("convert", "--prefect", str(comic), "--out", "pdfs", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no INFO lines, no "Failed to send telemetry"
    assert done.stdout.splitlines()[-1].startswith(f"{comic} → pdfs/Flowing.pdf (1 pages, ")
    assert flow_run_names(tmp_path / "prefect") == ["convert-Flowing"]


def test_scan_once_prints_no_prefect_line(tmp_path, env):
    inbox = tmp_path / "data" / "in"
    inbox.mkdir(parents=True)
    make_comic(inbox / "Dropped.cbz", title="Dropped", pages=1, seed=17)
    env |= {"STABLE_SECONDS": "0"}
    done = run_cli("scan", "--once", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[0] == "scan: started 1 {'done': 1}, 0 waiting"
    assert (tmp_path / "data" / "out" / "Dropped.pdf").is_file()
