"""Issue #14 end to end: odd archives through ``comic2pdf convert`` and ``scan --once``.

Real ocrmypdf and Tesseract on small pages, an ephemeral Prefect per command.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB
from tests import hostile, realworld

pytestmark = pytest.mark.slow
COMIC2PDF = Path(sys.executable).parent / "comic2pdf"
#: 82 characters, 246 bytes: fits, but not with " (2)" or a timestamp in front.
LONG_STEM = "進撃の巨人" * 16 + " 第1巻"


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "DATA_DIR": str(tmp_path / "data"),
        "RETRY_DELAY_SECONDS": "0",
        "STABLE_SECONDS": "0",
        "OCR_JOBS": "2",
        # Its default 20 s is short on a loaded machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    }
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [str(COMIC2PDF), *args], env=env, capture_output=True, text=True, timeout=600,
        cwd=tmp_path,
    )  # fmt: skip


def odd_comic(path: Path, seed: int) -> Path:
    """A readable comic plus what real ones hold: a damaged JPEG, a tiny page, a fake page."""
    base = make_comic(path.with_suffix(".base.cbz"), title="Odd", pages=1, seed=seed).path
    with zipfile.ZipFile(base) as sample:
        page = next(name for name in sample.namelist() if not name.endswith(".xml"))
        entries = [("01 " + page, sample.read(page))]
    base.unlink()
    damaged = realworld.damaged_jpegs()["truncated.jpg"]
    entries += [
        ("02 damaged.jpg", damaged),
        ("03 spacer.png", realworld.encoded(Image.new("L", (1, 1), 255), "PNG")),
        ("04 missing.jpg", b"<html>404</html>"),
    ]
    return realworld.write_zip(path, entries)


def test_convert_odd_comics_with_dots_and_long_names(tmp_path):
    dotted = odd_comic(tmp_path / "Spider-Man Vol. 2 #15", seed=1)
    first = make_comic(tmp_path / f"{LONG_STEM}.cbz", title="A", pages=1, seed=2).path
    (tmp_path / "other").mkdir()
    second = make_comic(tmp_path / "other" / f"{LONG_STEM}.cbz", title="B", pages=1, seed=3).path
    out = tmp_path / "pdfs"

    done = run_cli("convert", str(dotted), str(first), str(second), "--out", str(out),
                   tmp_path=tmp_path)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{dotted} → {out / 'Spider-Man Vol. 2 #15.pdf'} (3 pages" in done.stdout
    assert f"{dotted}: warning: 04 missing.jpg: not an image" in done.stderr
    assert f"{dotted}: warning: 02 damaged.jpg: damaged JPEG" in done.stderr
    names = sorted(path.name for path in out.iterdir())
    assert len(names) == 3 and all(len(name.encode()) <= 255 for name in names)
    assert f"{LONG_STEM}.pdf" in names
    (doubled,) = [name for name in names if name.endswith(" (2).pdf")]
    with pikepdf.open(out / doubled) as pdf:  # the input's full name is kept in the PDF
        assert str(pdf.docinfo["/Comic2pdfSourceName"]) == f"{LONG_STEM}.cbz"
    with pikepdf.open(out / "Spider-Man Vol. 2 #15.pdf") as pdf:
        assert len(pdf.pages) == 3


def test_scan_once_returns_with_a_long_named_duplicate_held_and_a_failure_in_error(tmp_path):
    inbox = tmp_path / "data" / "in"
    inbox.mkdir(parents=True)
    original = make_comic(inbox / "Short.cbz", title="S", pages=1, seed=4).path
    shutil.copy(original, inbox / f"{LONG_STEM}.cbz")  # same bytes: a duplicate
    # 246 bytes: "<name>.error.json" and its temporary name must be shortened.
    broken = hostile.truncated_zip(inbox).rename(inbox / f"{'進撃の巨人' * 16} x.cbz")

    done = run_cli("scan", "--once", tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    data = tmp_path / "data"
    assert list(inbox.iterdir()) == []
    held = list((data / "hold" / "duplicates").glob("*/*.cbz"))
    archived = list((data / "archive").iterdir())
    assert len(held) == 1 and len(archived) == 1  # whichever came first was converted
    assert all(len(path.name.encode()) <= 255 for path in [*held, *archived])
    (report,) = (data / "reports" / "duplicates").glob("*.json")
    incoming = json.loads(report.read_text())["incoming"]["name"]
    assert incoming in ("Short.cbz", f"{LONG_STEM}.cbz")  # the full original name
    assert (data / "error" / broken.name).is_file()
    (error_file,) = (data / "error").glob("*.error.json")
    assert json.loads(error_file.read_text())["file"] == broken.name
    assert json.loads(error_file.read_text())["reason"] == "corrupt"
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        assert broken.name in {job.input_name for job in db.list_jobs()}


def test_an_input_whose_job_cannot_start_goes_to_error_instead_of_looping(tmp_path):
    """No scan pass may loop on one file: here its duplicate cannot be held."""
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    first = make_comic(data / "in" / "A.cbz", title="A", pages=1, seed=6).path
    assert run_cli("scan", "--once", tmp_path=tmp_path).returncode == 0
    with JobDB(data / "index" / "comic2pdf.sqlite3") as db:
        (job,) = db.list_jobs()
    (data / "hold" / "duplicates" / job.job_key).write_text("a file where a folder should be")
    shutil.copy(data / "archive" / first.name, data / "in" / "B.cbz")

    done = run_cli("scan", "--once", tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    assert list((data / "in").iterdir()) == []
    assert (data / "error" / "B.cbz").is_file()
    report = json.loads((data / "error" / "B.cbz.error.json").read_text())
    assert report["reason"] == "error" and "FileExistsError" in report["message"]
    assert list((data / "work" / "incoming").iterdir()) == []
