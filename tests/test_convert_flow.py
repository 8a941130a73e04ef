"""The convert-comic flow end to end on a real Prefect API, real ocrmypdf and Tesseract."""

import subprocess
from pathlib import Path

import pikepdf
import pytest

from comic2pdf.errors import EncryptedArchive, NotAnArchive, StageTimeout
from comic2pdf.samples import make_comic
from flows.convert import convert_comic
from tests.conftest import task_run_counts
from tests.fakes import alive, fake_tesseract, path_with

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_converts_a_comic_into_a_searchable_pdf(data_dir, tmp_path):
    comic = make_comic(tmp_path / "Space Cats 01.cbz", title="Space Cats", pages=3, seed=7)
    result = convert_comic(path=str(comic.path))
    assert result.output == data_dir / "out" / "Space Cats 01.pdf"
    assert result.pages == 3
    text = pdf_text(result.output).lower()
    found = [word for word in comic.words if word.lower() in text]
    assert len(found) >= 0.6 * len(comic.words), (comic.words, text)
    with pikepdf.open(result.output) as pdf:
        assert len(pdf.pages) == 3
        assert str(pdf.docinfo.get("/Title")) == "Space Cats"
    assert not (data_dir / "work" / result.job_key).exists()  # KEEP_WORK_DIR_DAYS=0
    assert comic.path.exists()  # one-shot convert leaves the input where it was


def run_artifacts(flow_run_id) -> list[dict]:
    """The run's artifacts, read over the REST API.

    Prefect 3.8's sync client sends null for every filter left out, which the
    API refuses, and empty flow/task-run filters drop keyed artifacts.
    """
    import httpx
    from prefect.settings import PREFECT_API_URL

    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50, "offset": 0}
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def run_logs(flow_run_id) -> list[str]:
    """The run's log lines as the UI shows them (message with its traceback, if any)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs go to the API in batches
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
            sort=LogSort.TIMESTAMP_ASC,
            limit=200,
        )
    return [log.message for log in logs]


def test_the_ui_gets_progress_and_a_summary(data_dir, tmp_path):
    comic = make_comic(tmp_path / "Shown.cbz", title="Shown", pages=2, seed=8)
    state = convert_comic(path=str(comic.path), return_state=True)
    result = state.result()
    artifacts = run_artifacts(state.state_details.flow_run_id)
    by_type = {artifact["type"]: artifact for artifact in artifacts}
    assert by_type["progress"]["data"] == 100.0
    summary = by_type["markdown"]
    assert summary["key"] == "comic2pdf-shown-cbz"
    assert "Converted Shown.cbz" in summary["data"]
    assert result.job_key in summary["data"] and "| pages | 2 |" in summary["data"]


def test_second_conversion_of_other_content_gets_a_new_name(data_dir, tmp_path):
    first = make_comic(tmp_path / "a" / "Same.cbz", title="One", pages=1, seed=1)
    second = make_comic(tmp_path / "b" / "Same.cbz", title="Two", pages=1, seed=2)
    out = tmp_path / "pdfs"
    assert convert_comic(path=str(first.path), out_dir=str(out)).output == out / "Same.pdf"
    assert convert_comic(path=str(second.path), out_dir=str(out)).output == out / "Same (2).pdf"


def test_converting_the_same_comic_again_replaces_its_pdf(data_dir, tmp_path):
    comic = make_comic(tmp_path / "Again.cbz", title="Again", pages=1, seed=4)
    first = convert_comic(path=str(comic.path))
    second = convert_comic(path=str(comic.path))
    assert first.output == second.output == data_dir / "out" / "Again.pdf"
    assert [p.name for p in (data_dir / "out").iterdir()] == ["Again.pdf"]


def test_broken_input_fails_at_once_without_retries(data_dir, tmp_path):
    state = convert_comic(path=str(FIXTURES / "archives" / "zip-encrypted.zip"), return_state=True)
    assert state.is_failed()
    with pytest.raises(EncryptedArchive):
        state.result()
    assert task_run_counts(state.state_details.flow_run_id)["prep"] == 1
    text = tmp_path / "notes.cbz"
    text.write_text("not an archive at all")
    with pytest.raises(NotAnArchive):
        convert_comic(path=str(text))


def test_hung_tesseract_times_out_retries_then_fails(data_dir, tmp_path, monkeypatch):
    pid_log = tmp_path / "pids"
    monkeypatch.setenv(
        "PATH", path_with(fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log))
    )
    monkeypatch.setenv("OCR_TIMEOUT_SECONDS", "6")
    monkeypatch.setenv("MAX_ATTEMPTS_OCR", "2")
    comic = make_comic(tmp_path / "Hang.cbz", title="Hang", pages=1, seed=3)
    state = convert_comic(path=str(comic.path), return_state=True)
    with pytest.raises(StageTimeout):
        state.result()
    assert state.name == "TimedOut" and state.message.startswith("timeout: ")
    logs = run_logs(state.state_details.flow_run_id)
    assert [line for line in logs if "Retries are exhausted" in line], logs
    assert not [line for line in logs if "Traceback" in line], logs  # an expected failure
    assert task_run_counts(state.state_details.flow_run_id)["ocr"] == 2
    pids = [int(pid) for pid in pid_log.read_text().split()]
    assert len(pids) == 2  # one hung tesseract per attempt, each killed
    assert alive(pids) == []
    assert not list(data_dir.glob("out/*.pdf"))
