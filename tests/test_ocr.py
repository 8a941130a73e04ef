"""The ocrmypdf runner, on real tesseract/ocrmypdf, with faults injected by fake binaries."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import img2pdf
import psutil
import pytest

from comic2pdf.errors import (
    DiskError,
    InvalidOcrOutput,
    MissingTool,
    OcrFailed,
    OcrInputRefused,
    SettingsError,
    StageTimeout,
)
from comic2pdf.jobkey import build_profile, profile_sha256
from comic2pdf.ocr import (
    OcrOptions,
    count_pages_without_text,
    error_for_exit,
    ocrmypdf_args,
    run_ocr,
)
from tests.fakes import alive, fake_tesseract, path_with

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
TYPEWRITER = FIXTURES / "pages" / "typewriter.png"


def make_raw_pdf(folder: Path, images: list[Path]) -> Path:
    raw = folder / "raw.pdf"
    raw.write_bytes(
        img2pdf.convert(
            [str(i) for i in images], layout_fun=img2pdf.get_fixed_dpi_layout_fun((300, 300))
        )
    )
    return raw


def test_args_for_comics_by_default():
    args = ocrmypdf_args(Path("raw.pdf"), Path("final.pdf"), Path("final.txt"), OcrOptions())
    assert "--deskew" not in args and "--rotate-pages" not in args
    assert args[args.index("--output-type") + 1] == "pdf"
    assert args[args.index("--optimize") + 1] == "0"
    assert args[-2:] == ["raw.pdf", "final.pdf"]
    plugins = [args[i + 1] for i, arg in enumerate(args) if arg == "--plugin"]
    assert plugins == ["comic2pdf.ocr.progress", "comic2pdf.ocr.raster", "comic2pdf.ocr.engine"]
    # The comic engine scales each region itself: Tesseract's downsampling stays off.
    assert "--tesseract-downsample-above" not in args
    # The engine's Python work runs in page worker processes, not threads under one GIL.
    assert "--no-use-threads" in args
    page = ocrmypdf_args(Path("r"), Path("f"), Path("s"), OcrOptions(mode="page"))
    assert "comic2pdf.ocr.engine" not in page and "--no-use-threads" not in page
    assert "--tesseract-downsample-above" not in page  # off by default in page mode too
    shrunk = OcrOptions(mode="page", downsample_above=1200)
    shrunk_args = ocrmypdf_args(Path("r"), Path("f"), Path("s"), shrunk)
    assert shrunk_args[shrunk_args.index("--tesseract-downsample-above") + 1] == "1200"
    plain = ocrmypdf_args(Path("r"), Path("f"), Path("s"), OcrOptions(fast_raster=False))
    assert "comic2pdf.ocr.raster" not in plain
    asked = ocrmypdf_args(
        Path("r"),
        Path("f"),
        Path("s"),
        OcrOptions(rotate_pages=True, deskew=True, languages=("eng", "fra")),
    )
    assert "--rotate-pages" in asked and "--deskew" in asked
    assert asked[asked.index("--language") + 1] == "eng+fra"


def test_the_ocr_mode_is_part_of_the_job_profile():
    """The two modes make different text layers: switching must give new job keys."""
    comic, page = OcrOptions().profile(), OcrOptions(mode="page").profile()
    assert comic["mode"] == "comic" and page["mode"] == "page"
    assert profile_sha256(build_profile(ocr=comic, dpi=300, versions={})) != profile_sha256(
        build_profile(ocr=page, dpi=300, versions={})
    )


@pytest.mark.parametrize(
    ("code", "tail", "error"),
    [
        (1, "bad", SettingsError),
        (2, "input file", OcrInputRefused),
        (3, "tesseract not found", MissingTool),
        (4, "", InvalidOcrOutput),
        (6, "page already has text", OcrInputRefused),
        (8, "encrypted", OcrInputRefused),
        (7, "child failed", OcrFailed),
        (99, "", OcrFailed),
        (7, "OSError: [Errno 28] No space left on device", DiskError),
    ],
)
def test_exit_codes_map_to_errors(code, tail, error):
    exc = error_for_exit(code, tail, path=Path("raw.pdf"))
    assert type(exc) is error
    assert f"exit {code}" in exc.message or error is DiskError
    # "This input" codes fail the same way every time: one OCR run, no retries.
    assert exc.retryable is (code in (5, 7, 99) or error is DiskError)


def test_pages_without_text_from_sidecar(tmp_path):
    sidecar = tmp_path / "s.txt"
    sidecar.write_text("words\n\f\n\f[OCR skipped on page(s) 3]\fmore")
    assert count_pages_without_text(sidecar, 4) == 2
    assert count_pages_without_text(sidecar, 5) == 3  # a missing tail counts as empty
    assert count_pages_without_text(tmp_path / "missing.txt", 2) == 2


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["comic", "page"])
def test_real_ocr_finds_text_and_blank_page(tmp_path, mode):
    """A typed page of prose and a blank page, in both modes."""
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (600, 900), "white").save(blank)
    raw = make_raw_pdf(tmp_path, [TYPEWRITER, blank])
    options = OcrOptions(jobs=2, mode=mode)
    result = run_ocr(raw, tmp_path / "final.pdf", options=options, pages=2, timeout=120)
    assert result.pages_without_text == 1
    text = subprocess.run(
        ["pdftotext", str(result.pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = text.split()
    assert {"Waterman", "linzen", "liter", "water", "boter", "melk"} <= set(words), text
    if mode == "page":
        # Comic mode reads this monospaced title as "Lin zensoep": it reads a
        # page of prose word by word (README: choose OCR_MODE=page for prose).
        assert "Linzensoep" in words


@pytest.mark.slow
def test_missing_language_fails_clearly(tmp_path):
    raw = make_raw_pdf(tmp_path, [TYPEWRITER])
    with pytest.raises((MissingTool, SettingsError)) as info:
        run_ocr(
            raw,
            tmp_path / "final.pdf",
            options=OcrOptions(languages=("xyz",)),
            pages=1,
            timeout=120,
        )
    assert not (tmp_path / "final.pdf").exists()
    assert info.value.retryable is False


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["comic", "page"])
def test_hung_tesseract_is_killed_with_its_group(tmp_path, monkeypatch, mode):
    pid_log = tmp_path / "pids"
    monkeypatch.setenv(
        "PATH", path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    )
    raw = make_raw_pdf(tmp_path, [TYPEWRITER])
    started = time.monotonic()
    with pytest.raises(StageTimeout):
        run_ocr(raw, tmp_path / "final.pdf", options=OcrOptions(mode=mode), pages=1, timeout=8)
    assert time.monotonic() - started < 20
    pids = [int(p) for p in pid_log.read_text().split()]
    assert pids, "the fake tesseract never ran"
    assert alive(pids) == []
    assert not (tmp_path / "final.pdf").exists()


@pytest.mark.slow
def test_ocr_children_die_with_a_killed_parent(tmp_path):
    """kill -9 of the process that runs OCR: tesseract and ocrmypdf must not linger."""
    pid_log = tmp_path / "pids"
    env = {
        **os.environ,
        "PATH": path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log)),
    }
    raw = make_raw_pdf(tmp_path, [TYPEWRITER])
    parent_code = textwrap.dedent(f"""
        from pathlib import Path
        from comic2pdf.ocr import OcrOptions, run_ocr
        run_ocr(Path({str(raw)!r}), Path({str(tmp_path / "final.pdf")!r}),
                options=OcrOptions(), pages=1, timeout=600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env)
    deadline = time.monotonic() + 60
    while not (pid_log.exists() and pid_log.read_text().strip()):
        assert time.monotonic() < deadline, "OCR never reached tesseract"
        time.sleep(0.2)
    group = [p for p in psutil.Process(parent.pid).children(recursive=True)]
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    pids = [p.pid for p in group] + [int(p) for p in pid_log.read_text().split()]
    deadline = time.monotonic() + 10
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(pids) == []
