"""What a Prefect user sees of a convert-comic run: its final state, artifacts and logs.

On the session's real Prefect API (a temporary server), real archives, real
ocrmypdf and Tesseract; faults through fake programs on PATH.
"""

import json
import shutil
from pathlib import Path

import pytest

from comic2pdf import jobkey
from comic2pdf.errors import InputMissing, NotAnArchive, StageTimeout
from comic2pdf.pipeline.job import job_profile
from comic2pdf.samples import make_comic
from comic2pdf.settings import load_settings
from comic2pdf.store import DuplicateAction, JobDB
from deployments.build import build_deployments
from flows.convert import convert_comic
from tests import test_convert_cli
from tests.conftest import task_run_counts
from tests.fakes import alive, fake_tesseract, path_with
from tests.test_convert_cli import run_cli
from tests.test_convert_flow import run_artifacts, run_logs

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
#: The fixture ``env`` of the CLI tests: a user's environment without a Prefect API.
user_environment = test_convert_cli.env


def markdown_of(flow_run_id) -> dict:
    (artifact,) = [a for a in run_artifacts(flow_run_id) if a["type"] == "markdown"]
    return artifact


def test_broken_input_fails_with_its_reason_an_artifact_and_no_traceback(data_dir, tmp_path):
    noise = tmp_path / "Noise.cbz"
    noise.write_bytes(bytes(range(256)) * 20)

    state = convert_comic(path=str(noise), return_state=True)

    assert state.is_failed() and state.name == "Failed"
    assert state.message == (
        "not_an_archive: not a ZIP, RAR, 7z or tar archive (judged by content)"
    )
    with pytest.raises(NotAnArchive):
        state.result()  # a caller of the flow still gets the exception
    run_id = state.state_details.flow_run_id
    artifact = markdown_of(run_id)
    assert artifact["key"] == "comic2pdf-noise-cbz"
    assert "Failed: Noise.cbz (not_an_archive)" in artifact["data"]
    assert "drop it into in/ again" in artifact["data"]
    logs = run_logs(run_id)
    assert not [line for line in logs if "Traceback" in line], logs
    assert len(logs) <= 6, logs  # begin, the reason, the hook's two lines, finished


def test_a_missing_path_fails_not_found(data_dir, tmp_path):
    missing = tmp_path / "nope.cbz"

    state = convert_comic(path=str(missing), return_state=True)

    assert state.is_failed() and state.message == "not_found: no such file"
    with pytest.raises(InputMissing):
        state.result()
    artifact = markdown_of(state.state_details.flow_run_id)
    assert "Failed: nope.cbz (not_found)" in artifact["data"]
    assert "| input now in | nowhere |" in artifact["data"]
    assert not [line for line in run_logs(state.state_details.flow_run_id) if "Traceback" in line]


def flow_run_named(name: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=5,
        )
    return run


def test_a_conversion_logs_the_ocrmypdf_command_and_stage_times(tmp_path, user_environment):
    """Run as a user runs it (`comic2pdf convert` with a Prefect API), read back from the API."""
    from prefect.settings import PREFECT_API_URL

    comic = make_comic(tmp_path / "Logged.cbz", title="Logged", pages=2, seed=21)
    env = user_environment | {"PREFECT_API_URL": PREFECT_API_URL.value()}

    done = run_cli("convert", str(comic.path), "--out", "pdfs", cwd=tmp_path, env=env)

    assert done.returncode == 0, done.stderr
    run = flow_run_named("convert-Logged")
    assert run.state.is_completed() and run.state.name == "Completed"
    assert run.state.message.startswith("Logged.cbz → pdfs/Logged.pdf: 2 pages (0 without text)")
    logs = run_logs(run.id)
    command = [line for line in logs if line.startswith("running ocrmypdf: ")]
    assert len(command) == 1 and "--language eng" in command[0], logs
    for stage in ("prep", "ocr", "finalize"):
        assert [line for line in logs if line.startswith(f"Logged.cbz: {stage} done in ")], logs
    assert "Postprocessing..." in logs  # ocrmypdf's own lines
    # Not a line per page: the comic engine's Tesseract runs stay out.
    assert not [line for line in logs if "running tesseract" in line], logs


def test_an_unexpected_error_keeps_its_traceback(data_dir, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    # A fault injected at the seam where the stage validates its output.
    monkeypatch.setattr("comic2pdf.pipeline.stages.validate_pdf", broken)
    comic = make_comic(tmp_path / "Bug.cbz", title="Bug", pages=1, seed=23)

    state = convert_comic(path=str(comic.path), return_state=True)

    assert state.is_failed()
    with pytest.raises(RuntimeError, match="a bug"):
        state.result()
    logs = run_logs(state.state_details.flow_run_id)
    assert [line for line in logs if "Traceback" in line and "RuntimeError: a bug" in line], logs


def hanging_7zip(folder: Path, pid_log: Path) -> Path:
    """A ``7zz`` that hangs when asked to list or extract (the fallback for a damaged ZIP)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "7zz"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in l|x) echo $$ >> "{pid_log}"; exec sleep 600;; esac\n'
        f'exec {shutil.which("7zz")} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def test_a_task_time_limit_ends_timed_out_with_an_artifact(data_dir, tmp_path, monkeypatch):
    """prep's time limit: extraction runs in the flow's process, stopped by our watchdog."""
    comic = make_comic(data_dir / "in" / "Stuck.cbz", title="Stuck", pages=1, seed=27).path
    comic.write_bytes(comic.read_bytes()[:-200])  # zipfile refuses it: 7-Zip is tried
    pid_log = tmp_path / "pids"
    monkeypatch.setenv("PATH", path_with(hanging_7zip(tmp_path / "bin", pid_log)))
    monkeypatch.setenv("PREP_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("MAX_ATTEMPTS_PREP", "2")

    state = convert_comic(path=str(comic), return_state=True)

    assert state.is_failed() and state.name == "TimedOut"
    assert state.message.startswith("timeout: prep did not finish within 3 s")
    with pytest.raises(StageTimeout):
        state.result()
    assert task_run_counts(state.state_details.flow_run_id)["prep"] == 2
    artifact = markdown_of(state.state_details.flow_run_id)
    assert "Timed out: Stuck.cbz" in artifact["data"] and "| reason | timeout |" in artifact["data"]
    assert not [line for line in run_logs(state.state_details.flow_run_id) if "Traceback" in line]
    assert alive([int(pid) for pid in pid_log.read_text().split()]) == []
    error = json.loads((data_dir / "error" / "Stuck.cbz.error.json").read_text())
    assert error["reason"] == "timeout" and error["stage"] == "prep"


def test_prefects_flow_time_limit_ends_timed_out_with_an_artifact(data_dir, tmp_path, monkeypatch):
    """A flow time limit (none of ours; a user's `with_options`) firing outside the tasks."""
    from comic2pdf import tools

    pid_log = tmp_path / "pids"
    fake = fake_tesseract(tmp_path / "bin", behaviour="hang", pid_log=pid_log)
    (fake / "tesseract").write_text(f"#!/bin/sh\necho $$ >> {pid_log}\nexec sleep 600\n")
    monkeypatch.setenv("PATH", path_with(fake))
    monkeypatch.setattr(tools, "tesseract_languages", tools.tesseract_languages.__wrapped__)
    comic = make_comic(tmp_path / "Long.cbz", title="Long", pages=1, seed=24)

    state = convert_comic.with_options(timeout_seconds=3)(path=str(comic.path), return_state=True)

    assert state.is_failed() and state.name == "TimedOut"
    with pytest.raises(TimeoutError):
        state.result()
    artifact = markdown_of(state.state_details.flow_run_id)
    assert "Timed out: Long.cbz" in artifact["data"] and "| reason | timeout |" in artifact["data"]
    assert alive([int(pid) for pid in pid_log.read_text().split()]) == []


def held_duplicate(data_dir: Path, tmp_path: Path) -> tuple[str, Path]:
    """Convert a comic from the inbox, then drop the same bytes again: (job key, copy)."""
    comic = make_comic(tmp_path / "Twice.cbz", title="Twice", pages=1, seed=25)
    (data_dir / "in").mkdir(parents=True)
    first = data_dir / "in" / "Twice.cbz"
    shutil.copyfile(comic.path, first)
    assert convert_comic(path=str(first)).outcome == "done"
    copy = data_dir / "in" / "Twice copy.cbz"
    shutil.copyfile(comic.path, copy)
    settings = load_settings()
    key = jobkey.job_key(
        jobkey.file_sha256(comic.path), jobkey.profile_sha256(job_profile(settings))
    )
    return key, copy


def test_a_held_duplicate_says_so_and_how_to_decide(data_dir, tmp_path):
    from flows.duplicates import resolve_duplicate

    key, copy = held_duplicate(data_dir, tmp_path)

    state = convert_comic(path=str(copy), return_state=True)

    assert state.is_completed() and state.name == "Held"
    assert state.message.startswith("Twice copy.cbz duplicates Twice.cbz (DONE); held in ")
    assert state.result().outcome == "duplicate"
    held = markdown_of(state.state_details.flow_run_id)
    assert held["key"] == "comic2pdf-twice-copy-cbz"
    assert "Held: Twice copy.cbz is a duplicate" in held["data"]
    assert "| duplicate of | Twice.cbz |" in held["data"]
    assert f"comic2pdf duplicates resolve {key[:16]} ACTION" in held["data"]
    assert "prefect deployment run 'resolve-duplicate/resolve-duplicate'" in held["data"]
    assert "decision.json" in held["data"]
    logs = run_logs(state.state_details.flow_run_id)
    assert not [line for line in logs if "None: 0 pages" in line], logs

    decided = resolve_duplicate(
        job_key=key[:10], action=DuplicateAction.USE_EXISTING_RESULT, return_state=True
    )

    assert decided.is_completed()
    new = markdown_of(decided.state_details.flow_run_id)
    assert new["key"] == held["key"]  # a new version of the comic's artifact
    assert "Decided: Twice copy.cbz → USE_EXISTING_RESULT" in new["data"]
    assert "| outcome | applied |" in new["data"]
    assert str(data_dir / "out" / "Twice copy.pdf") in new["data"]
    with JobDB(load_settings().db_path) as db:
        assert db.list_duplicates() == []


def test_a_prefect_time_limit_is_one_line_in_convert(tmp_path, user_environment):
    """A task's time limit enforced by Prefect reaches `comic2pdf convert` as `FILE: timeout`."""
    comic = make_comic(tmp_path / "Stuck.cbz", title="Stuck", pages=1, seed=26).path
    comic.write_bytes(comic.read_bytes()[:-200])  # zipfile refuses it: 7-Zip is tried
    pid_log = tmp_path / "pids"
    env = user_environment | {
        "PATH": f"{hanging_7zip(tmp_path / 'bin', pid_log)}:{user_environment['PATH']}",
        "PREP_TIMEOUT_SECONDS": "3",
        "MAX_ATTEMPTS_PREP": "1",
    }

    done = run_cli("convert", "--prefect", str(comic), cwd=tmp_path, env=env)

    assert done.returncode == 1
    assert done.stderr.startswith(f"{comic}: timeout: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert alive([int(pid) for pid in pid_log.read_text().split()]) == []


def test_convert_comic_parameters_have_types_and_descriptions():
    from comic2pdf.settings import Settings

    (convert,) = [d for d in build_deployments(Settings()) if d.flow_name == "convert-comic"]
    properties = convert._parameter_openapi_schema.properties
    assert {name: p.get("type") for name, p in properties.items()} == {
        "path": "string", "out_dir": "string", "lang": "string", "force_reprocess": "boolean",
    }  # fmt: skip
    assert all(len(p["description"]) > 20 for p in properties.values()), properties


def scan_runs() -> list:
    """The scan-inbox runs without a deployment (called directly, as here), newest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["scan-inbox"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=200,
        )
    return [run for run in runs if run.deployment_id is None]


def test_idle_scans_say_so_and_only_the_latest_stays(data_dir, monkeypatch):
    from flows.scan import scan_inbox

    monkeypatch.setenv("STABLE_SECONDS", "0")
    states = [scan_inbox(return_state=True) for _ in range(3)]

    assert [(s.type.value, s.name) for s in states] == [("COMPLETED", "Idle")] * 3
    assert states[-1].message == "nothing to start; 0 file(s) in in/ not yet stable"
    assert states[-1].result().started == 0
    idle_runs = [run for run in scan_runs() if run.state_name == "Idle"]
    assert [run.id for run in idle_runs] == [states[-1].state_details.flow_run_id]

    make_comic(data_dir / "in" / "Arrived.cbz", title="Arrived", pages=1, seed=28)
    busy = scan_inbox(return_state=True)
    after = scan_inbox(return_state=True)

    assert busy.name == "Completed" and busy.result().outcomes == {"done": 1}
    assert after.name == "Idle"
    names = {run.id: run.state_name for run in scan_runs()}
    assert names[busy.state_details.flow_run_id] == "Completed"  # a scan that did work stays
    assert [i for i, name in names.items() if name == "Idle"] == [after.state_details.flow_run_id]
