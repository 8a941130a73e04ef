"""Held duplicates: holding, decisions by file, flow and CLI, applied exactly once."""

import argparse
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from prefect.logging import disable_run_logger

from comic2pdf import duplicates
from comic2pdf.cli_duplicates import add_duplicates_command
from comic2pdf.duplicates import (
    APPLIED_DECISION_FILE,
    DECISION_FILE,
    apply_decision,
    hold_duplicate,
    pending_decisions,
    read_decision,
    strip_timestamp,
)
from comic2pdf.errors import DecisionError, OcrFailed
from comic2pdf.settings import Settings, load_settings
from comic2pdf.store import ClaimStatus, DuplicateAction, JobDB, State
from tasks.duplicates import apply_decision_files
from tests.test_convert_flow import run_artifacts

ROOT = Path(__file__).resolve().parents[1]
KEY = "a" * 64 + "__" + "b" * 64
DETECTED = datetime(2026, 11, 23, 13, 15, tzinfo=UTC)
HELD_NAME = "20261123T131500Z__Copy 01.cbz"
PROFILE = {"ocr": {"languages": ["eng"]}, "dpi": 300, "versions": {"tesseract": "5.3.0"}}


def flow_test(function):
    """A test that runs flows on the session's Prefect API.

    On SQLite only: the flows open the store the same way on both databases,
    and tests/test_scale_out.py runs them on PostgreSQL.
    """
    on_sqlite = pytest.mark.parametrize("job_store", ["sqlite"], indirect=True)
    return pytest.mark.slow(pytest.mark.usefixtures("prefect_harness")(on_sqlite(function)))


def small_pdf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(path)
    return path


def claim(db: JobDB, path: Path, key: str = KEY, profile_json: str | None = None):
    return db.claim_job(
        key,
        input_name=path.name,
        input_path=path,
        input_size=path.stat().st_size,
        file_sha256=key.split("__")[0],
        profile_sha256=key.split("__")[1],
        profile_json=profile_json or json.dumps(PROFILE, sort_keys=True),
    )


def make_done_job(settings: Settings, db: JobDB, key: str = KEY) -> Path:
    """A DONE job for ``Original.cbz`` whose PDF is ``out/Original.pdf``; return that PDF."""
    archived = settings.archive_dir / "Original.cbz"
    archived.parent.mkdir(parents=True, exist_ok=True)
    archived.write_bytes(b"PK\x03\x04 same bytes")
    output = small_pdf(settings.out_dir / "Original.pdf")
    claim(db, archived, key)
    db.start_stage(key, "prep")
    db.finish_job(key, output_path=output, pages=1, pages_without_text=0, input_path=archived)
    return output


def drop(settings: Settings, name: str = "Copy 01.cbz") -> Path:
    incoming = settings.in_dir / name
    incoming.parent.mkdir(parents=True, exist_ok=True)
    incoming.write_bytes(b"PK\x03\x04 same bytes")
    return incoming


def hold(settings: Settings, db: JobDB, name: str = "Copy 01.cbz", now=DETECTED) -> Path:
    """Drop a copy in in/ and hold it as the flow does: claim → DUPLICATE → hold_duplicate."""
    incoming = drop(settings, name)
    result = claim(db, incoming)
    assert result.status is ClaimStatus.DUPLICATE
    return hold_duplicate(
        incoming,
        job_key=KEY,
        existing=result.job,
        profile=PROFILE,
        settings=settings,
        db=db,
        now=now,
    )


def decide_by_file(settings: Settings, content: str, key: str = KEY) -> Path:
    decision = settings.hold_dir / key / DECISION_FILE
    decision.write_text(content)
    return decision


def never(held: Path) -> None:
    raise AssertionError(f"reprocess must not be called for {held}")


def tree(folder: Path) -> dict[str, bytes]:
    """Files under *folder* but the database: relative path → bytes (to prove nothing changed)."""
    files = (p for p in folder.rglob("*") if p.is_file() and p.parent.name != "index")
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


@pytest.fixture
def settings(data_dir: Path, job_store: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a fresh data folder, its job store in it (SQLite) or on PostgreSQL."""
    if job_store.startswith("postgresql"):
        monkeypatch.setenv("JOB_DB_URL", job_store)
    return load_settings()


@pytest.fixture
def db(settings: Settings):
    with JobDB.from_settings(settings) as database:
        yield database


@pytest.fixture
def held(settings: Settings, db: JobDB) -> Path:
    """A DONE job with its PDF in out/, and a copy of its input held as a duplicate."""
    make_done_job(settings, db)
    return hold(settings, db)


# --- holding -------------------------------------------------------------------------------------


def test_hold_moves_the_input_and_writes_the_report(settings, db, held):
    assert held == settings.hold_dir / KEY / HELD_NAME
    assert held.read_bytes() == b"PK\x03\x04 same bytes"
    assert not (settings.in_dir / "Copy 01.cbz").exists()
    assert db.counter_values()["duplicates_detected"] == 1

    report = json.loads((settings.reports_dir / f"{KEY}.json").read_text())
    assert report["jobKey"] == KEY
    assert report["detectedAt"] == "2026-11-23T13:15:00+00:00"
    assert report["incoming"] == {"name": "Copy 01.cbz", "path": str(held), "size": 15}
    existing = report["existing"]
    assert existing["state"] == "DONE" and existing["generation"] == 1
    assert existing["inputName"] == "Original.cbz"
    assert existing["outputPath"] == str(settings.out_dir / "Original.pdf")
    assert datetime.fromisoformat(existing["finishedAt"]).tzinfo is not None
    assert report["profile"] == PROFILE
    assert report["allowedActions"] == ["USE_EXISTING_RESULT", "DISCARD", "FORCE_REPROCESS"]
    assert "decision.json" in report["howToDecide"]
    assert "comic2pdf duplicates resolve" in report["howToDecide"]
    assert [h["path"] for h in report["held"]] == [str(held)]

    (duplicate,) = db.list_duplicates()
    assert (duplicate.job_key, duplicate.held_path) == (KEY, held)
    assert duplicate.incoming_name == "Copy 01.cbz" and duplicate.decision is None
    assert list(settings.reports_dir.iterdir()) == [settings.reports_dir / f"{KEY}.json"]


def test_a_second_duplicate_is_held_beside_the_first_and_listed_in_the_report(settings, db, held):
    again = hold(settings, db)  # same name, same second
    third = hold(settings, db, "Other.cbz", now=datetime(2026, 11, 24, 8, 0, 1, tzinfo=UTC))

    assert again.name == "20261123T131500Z__Copy 01 (2).cbz"
    assert third.name == "20261124T080001Z__Other.cbz"
    report = json.loads((settings.reports_dir / f"{KEY}.json").read_text())
    assert report["incoming"]["path"] == str(third)
    assert [h["path"] for h in report["held"]] == [str(held), str(again), str(third)]
    assert all(h["size"] == 15 for h in report["held"])
    assert db.counter_values()["duplicates_detected"] == 3


@pytest.mark.parametrize(
    ("held_name", "original"),
    [
        ("20261123T131500Z__Copy 01.cbz", "Copy 01.cbz"),
        ("20261123T131500Z__a__b.cbz", "a__b.cbz"),
        ("Copy 01.cbz", "Copy 01.cbz"),
        ("2026__x.cbz", "2026__x.cbz"),
    ],
)
def test_strip_timestamp(held_name, original):
    assert strip_timestamp(held_name) == original


# --- decision files ------------------------------------------------------------------------------


def test_no_decision_file_is_no_decision(settings, held):
    assert read_decision(held.parent) is None
    assert pending_decisions(settings) == []


@pytest.mark.parametrize("action", list(DuplicateAction))
def test_a_decision_file_names_its_action_in_any_case(settings, held, action):
    decide_by_file(settings, json.dumps({"action": f" {action.lower()} "}))
    assert read_decision(held.parent) is action
    assert pending_decisions(settings) == [(KEY, held.parent)]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('{"action": "DISCARD"', "not valid JSON"),
        ("", "not valid JSON"),
        ('{"action": "KEEP_BOTH"}', "unknown action 'KEEP_BOTH'"),
        ('{"action": 3}', "expected an object with a text 'action'"),
        ('["DISCARD"]', "expected an object with a text 'action'"),
        ('{"decision": "DISCARD"}', "expected an object with a text 'action'"),
    ],
    ids=["truncated", "empty", "unknown-action", "number", "list", "wrong-key"],
)
def test_a_bad_decision_file_is_refused_and_changes_nothing(settings, db, held, content, complaint):
    decision = decide_by_file(settings, content)
    before = tree(settings.data_dir)

    with pytest.raises(DecisionError, match=complaint) as caught:
        read_decision(held.parent)
    assert str(decision) in str(caught.value)

    with disable_run_logger():
        assert apply_decision_files.fn(settings, never) == 0
    assert tree(settings.data_dir) == before
    (duplicate,) = db.list_duplicates()
    assert duplicate.decision is None and complaint in duplicate.error
    assert "duplicates_resolved" not in db.counter_values()


def test_use_existing_result_by_decision_file(settings, db, held):
    decide_by_file(settings, '{"action": "USE_EXISTING_RESULT"}')
    with disable_run_logger():
        assert apply_decision_files.fn(settings, never) == 1

    copy = settings.out_dir / "Copy 01.pdf"
    assert copy.read_bytes() == (settings.out_dir / "Original.pdf").read_bytes()
    assert (settings.archive_dir / "Copy 01.cbz").read_bytes() == b"PK\x03\x04 same bytes"
    assert not held.exists()
    assert sorted(p.name for p in held.parent.iterdir()) == [APPLIED_DECISION_FILE]
    assert sorted(p.name for p in settings.out_dir.iterdir()) == ["Copy 01.pdf", "Original.pdf"]
    assert db.list_duplicates() == []
    (duplicate,) = db.list_duplicates(pending_only=False)
    assert duplicate.decision is DuplicateAction.USE_EXISTING_RESULT and duplicate.applied_at
    assert db.counter_values()["duplicates_resolved"] == 1
    assert pending_decisions(settings) == []


def test_discard_by_decision_file(settings, db, held):
    decide_by_file(settings, '{"action": "DISCARD"}')
    with disable_run_logger():
        assert apply_decision_files.fn(settings, never) == 1

    assert not held.exists()
    assert sorted(p.name for p in held.parent.iterdir()) == [APPLIED_DECISION_FILE]
    assert sorted(p.name for p in settings.out_dir.iterdir()) == ["Original.pdf"]
    assert sorted(p.name for p in settings.archive_dir.iterdir()) == ["Original.cbz"]
    assert db.list_duplicates() == []


def test_force_reprocess_by_decision_file_calls_reprocess_with_the_held_file(settings, db, held):
    calls = []

    def convert_again(path: Path) -> Path:
        calls.append(path)
        return place_like_a_conversion(settings, path)

    decide_by_file(settings, '{"action": "force_reprocess"}')
    with disable_run_logger():
        assert apply_decision_files.fn(settings, convert_again) == 1

    assert calls == [held]
    assert db.list_duplicates() == []
    (duplicate,) = db.list_duplicates(pending_only=False)
    assert duplicate.decision is DuplicateAction.FORCE_REPROCESS
    assert sorted(p.name for p in held.parent.iterdir()) == [APPLIED_DECISION_FILE]


def place_like_a_conversion(settings: Settings, held: Path) -> Path:
    """What the conversion does to a held input: it leaves hold for archive/."""
    target = settings.archive_dir / strip_timestamp(held.name)
    held.replace(target)
    return target


# --- applying: once, and what can go wrong -------------------------------------------------------


def test_applying_twice_does_nothing_the_second_time(settings, db, held):
    decision = decide_by_file(settings, '{"action": "USE_EXISTING_RESULT"}')
    first = apply_decision(
        KEY, DuplicateAction.USE_EXISTING_RESULT, settings=settings, db=db, reprocess=never
    )
    state = tree(settings.data_dir)
    counters = db.counter_values()

    second = apply_decision(KEY, DuplicateAction.DISCARD, settings=settings, db=db, reprocess=never)

    assert first == [settings.out_dir / "Copy 01.pdf"] and second == []
    assert not decision.exists() and (held.parent / APPLIED_DECISION_FILE).is_file()
    assert db.counter_values() == counters
    assert tree(settings.data_dir) == state


def test_every_held_file_gets_the_decision(settings, db, held):
    again = hold(settings, db, "Copy 01.cbz", now=datetime(2026, 11, 24, tzinfo=UTC))
    results = apply_decision(
        KEY, DuplicateAction.USE_EXISTING_RESULT, settings=settings, db=db, reprocess=never
    )
    assert results == [settings.out_dir / "Copy 01.pdf"]  # the same bytes under the same name
    assert sorted(p.name for p in settings.archive_dir.iterdir()) == [
        "Copy 01 (2).cbz",
        "Copy 01.cbz",
        "Original.cbz",
    ]
    assert not held.exists() and not again.exists()
    assert not held.parent.exists()  # no decision file: nothing left to keep
    assert db.counter_values()["duplicates_resolved"] == 2


def test_a_name_taken_in_out_by_other_content_gets_a_number(settings, db, held):
    (settings.out_dir / "Copy 01.pdf").write_bytes(b"%PDF-1.7 another comic")
    (result,) = apply_decision(
        KEY, DuplicateAction.USE_EXISTING_RESULT, settings=settings, db=db, reprocess=never
    )
    assert result == settings.out_dir / "Copy 01 (2).pdf"
    assert (settings.out_dir / "Copy 01.pdf").read_bytes() == b"%PDF-1.7 another comic"
    assert not [p for p in settings.out_dir.iterdir() if p.name.startswith(".")]


def test_a_duplicate_named_like_the_original_reuses_its_pdf(settings, db):
    output = make_done_job(settings, db)
    hold(settings, db, "Original.cbz")
    (result,) = apply_decision(
        KEY, DuplicateAction.USE_EXISTING_RESULT, settings=settings, db=db, reprocess=never
    )
    assert result == output
    assert [p.name for p in settings.out_dir.iterdir()] == ["Original.pdf"]
    assert sorted(p.name for p in settings.archive_dir.iterdir()) == [
        "Original (2).cbz",
        "Original.cbz",
    ]


def test_a_missing_existing_result_keeps_the_file_held(settings, db, held):
    (settings.out_dir / "Original.pdf").unlink()
    decide_by_file(settings, '{"action": "USE_EXISTING_RESULT"}')

    with pytest.raises(DecisionError, match="existing result .*Original.pdf is missing"):
        apply_decision(
            KEY, DuplicateAction.USE_EXISTING_RESULT, settings=settings, db=db, reprocess=never
        )

    assert held.exists() and (held.parent / DECISION_FILE).exists()
    (duplicate,) = db.list_duplicates()
    assert "is missing" in duplicate.error
    assert duplicate.decision is DuplicateAction.USE_EXISTING_RESULT  # may still change
    assert list(settings.out_dir.iterdir()) == []
    # Another decision is still possible.
    assert apply_decision(KEY, "DISCARD", settings=settings, db=db, reprocess=never) == []
    assert not held.exists() and db.list_duplicates() == []


def test_a_result_still_in_the_making_keeps_the_file_held(settings, db, held):
    db.force_reprocess(KEY, input_name="Other.cbz", input_path=settings.work_dir / "Other.cbz")
    with pytest.raises(DecisionError, match="still QUEUED; decide again once it has finished"):
        apply_decision(KEY, "USE_EXISTING_RESULT", settings=settings, db=db, reprocess=never)
    assert held.exists()
    assert "still QUEUED" in db.list_duplicates()[0].error


def test_a_file_that_cannot_be_archived_stays_held(settings, db, held):
    settings.archive_dir.rename(settings.data_dir / "archive.away")
    settings.archive_dir.write_text("a file where the archive folder should be")
    with pytest.raises(DecisionError, match="USE_EXISTING_RESULT failed: .*File exists"):
        apply_decision(KEY, "USE_EXISTING_RESULT", settings=settings, db=db, reprocess=never)
    assert held.exists()
    (duplicate,) = db.list_duplicates()
    assert "File exists" in duplicate.error

    # Repaired, the same decision completes without a second copy in out/.
    settings.archive_dir.unlink()
    (settings.data_dir / "archive.away").rename(settings.archive_dir)
    apply_decision(KEY, "USE_EXISTING_RESULT", settings=settings, db=db, reprocess=never)
    assert sorted(p.name for p in settings.out_dir.iterdir()) == ["Copy 01.pdf", "Original.pdf"]
    assert (settings.archive_dir / "Copy 01.cbz").exists() and not held.exists()


def test_a_reprocess_refused_before_it_took_the_file_keeps_it_held(settings, db, held):
    def refuse(path: Path) -> None:
        raise DecisionError(f"cannot reprocess job {KEY}: it is still RUNNING")

    with pytest.raises(DecisionError, match="still RUNNING"):
        apply_decision(KEY, "FORCE_REPROCESS", settings=settings, db=db, reprocess=refuse)
    assert held.exists()
    (duplicate,) = db.list_duplicates()
    assert "still RUNNING" in duplicate.error


def test_a_reprocess_that_left_the_file_held_is_not_applied(settings, db, held):
    calls = []
    with pytest.raises(DecisionError, match="still held after reprocessing"):
        apply_decision(KEY, "FORCE_REPROCESS", settings=settings, db=db, reprocess=calls.append)
    assert calls == [held] and held.exists()
    (duplicate,) = db.list_duplicates()
    assert "still held" in duplicate.error


def test_a_reprocess_that_took_the_file_and_failed_is_applied(settings, db, held):
    def fail(path: Path) -> None:
        shutil.move(path, settings.data_dir / "error" / strip_timestamp(path.name))
        raise OcrFailed("tesseract crashed", path=path)

    (settings.data_dir / "error").mkdir()
    with pytest.raises(OcrFailed):
        apply_decision(KEY, "FORCE_REPROCESS", settings=settings, db=db, reprocess=fail)
    assert db.list_duplicates() == []
    assert db.counter_values()["duplicates_resolved"] == 1


def test_a_held_file_the_database_lost_is_decided_with_the_rest(settings, db, held):
    orphan = held.with_name("20261124T000000Z__Lost.cbz")
    orphan.write_bytes(b"PK\x03\x04 same bytes")  # moved to hold, then a crash before the record
    apply_decision(KEY, "DISCARD", settings=settings, db=db, reprocess=never)
    assert not orphan.exists() and not held.exists()
    assert len(db.list_duplicates(pending_only=False)) == 2


@pytest.mark.parametrize("key", ["../escape", "a/b", "..", ""])
def test_a_job_key_that_is_not_a_plain_name_is_refused(settings, db, key):
    with pytest.raises(DecisionError, match="not a job key"):
        apply_decision(key, "DISCARD", settings=settings, db=db, reprocess=never)


# --- the flow ------------------------------------------------------------------------------------


@flow_test
def test_flow_uses_the_existing_result(settings, db, held):
    from flows.duplicates import resolve_duplicate

    # The deployment takes what the CLI takes: a unique start of the key is enough.
    results = resolve_duplicate(job_key=KEY[:8], action=DuplicateAction.USE_EXISTING_RESULT)

    assert results == [str(settings.out_dir / "Copy 01.pdf")]
    assert (settings.archive_dir / "Copy 01.cbz").exists() and not held.exists()
    assert not held.parent.exists()
    assert db.list_duplicates() == []


@flow_test
def test_flow_discards_and_then_has_nothing_left(settings, db, held):
    from flows.duplicates import resolve_duplicate

    assert resolve_duplicate(job_key=KEY, action="DISCARD") == []
    assert not held.exists()

    state = resolve_duplicate(job_key=KEY, action="DISCARD", return_state=True)
    assert state.is_failed() and "nothing is held" in state.message


@flow_test
def test_scan_helper_applies_decision_files(settings, db, held):
    from prefect import flow

    from flows.duplicates import apply_pending_decisions

    @flow(name="scan-like")
    def scan_like() -> int:
        return apply_pending_decisions(settings)

    decide_by_file(settings, '{"action": "DISCARD"}')
    state = scan_like(return_state=True)
    assert state.result() == 1
    assert not held.exists() and (held.parent / APPLIED_DECISION_FILE).exists()
    (decided,) = run_artifacts(state.state_details.flow_run_id)  # the UI hears of it
    assert decided["key"] == "comic2pdf-copy-01-cbz"  # the held comic's own artifact key
    assert "Decided: Copy 01.cbz → DISCARD" in decided["data"]
    assert "| result | the held file deleted |" in decided["data"]


# --- the CLI -------------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="comic2pdf")
    add_duplicates_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["duplicates", *argv])
    return args.handler(args)


# Runs in a child process: `duplicates list` must not import Prefect.
LIST_IN_NEW_PROCESS = """
import argparse, sys
from comic2pdf.cli_duplicates import add_duplicates_command

parser = argparse.ArgumentParser()
add_duplicates_command(parser.add_subparsers())
args = parser.parse_args(["duplicates", "list", *sys.argv[1:]])
code = args.handler(args)
assert not [m for m in sys.modules if m.split(".")[0] == "prefect"], "the CLI imported Prefect"
sys.exit(code)
"""


def list_in_new_process(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LIST_IN_NEW_PROCESS, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_lists_held_duplicates_without_prefect(settings, held):
    (entry,) = json.loads(list_in_new_process("--json"))
    assert entry["jobKey"] == KEY
    assert entry["heldName"] == HELD_NAME
    assert entry["existingOutput"] == str(settings.out_dir / "Original.pdf")
    assert entry["existingState"] == State.DONE
    assert entry["decision"] is None and entry["detectedAt"]

    text = list_in_new_process()
    assert KEY in text and HELD_NAME in text and "Original.pdf (DONE)" in text


def test_cli_list_with_nothing_held(data_dir, capsys):
    assert run_cli("list") == 0
    assert capsys.readouterr().out == "no held duplicates\n"
    assert run_cli("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_resolve_unknown_key_is_a_bad_decision(settings, held, capsys):
    assert run_cli("resolve", "c" * 20, "discard") == 1
    assert capsys.readouterr().err.startswith("bad_decision: nothing is held for job key cccc")
    assert held.exists()


def test_cli_refuses_an_unknown_action(settings, held, capsys):
    with pytest.raises(SystemExit) as exited:
        run_cli("resolve", KEY, "keep")
    assert exited.value.code == 2
    assert "unknown action 'keep'" in capsys.readouterr().err
    assert held.exists()


@flow_test
def test_cli_resolves_by_a_key_prefix(settings, db, held, capsys, monkeypatch):
    monkeypatch.setenv("PREFECT_LOGGING_EXTRA_LOGGERS", "comic2pdf")  # the CLI sets a default
    assert run_cli("resolve", KEY[:8], "use_existing_result") == 0

    out = capsys.readouterr().out
    assert f"USE_EXISTING_RESULT applied to the files held for {KEY}" in out
    assert str(settings.out_dir / "Copy 01.pdf") in out
    assert (settings.archive_dir / "Copy 01.cbz").exists()

    assert run_cli("resolve", KEY, "discard") == 1
    assert "bad_decision: nothing is held" in capsys.readouterr().err


# --- end to end with real OCR --------------------------------------------------------------------


@flow_test
def test_force_reprocess_converts_the_held_file_again(settings, db, tmp_path):
    """FORCE_REPROCESS converts the held file as a new generation; the old PDF stays."""
    from comic2pdf import jobkey
    from comic2pdf.pipeline.job import job_profile
    from comic2pdf.samples import make_comic
    from flows.duplicates import resolve_duplicate

    comic = make_comic(tmp_path / "Again 01.cbz", title="Again", pages=1, seed=5)
    profile = job_profile(settings)
    key = jobkey.job_key(jobkey.file_sha256(comic.path), jobkey.profile_sha256(profile))
    archived = settings.archive_dir / "Again 01.cbz"
    archived.parent.mkdir(parents=True)
    shutil.copyfile(comic.path, archived)
    claim(db, archived, key, profile_json=jobkey.canonical_json(profile))
    db.start_stage(key, "prep")
    old = small_pdf(settings.out_dir / "Again 01.pdf")
    old_bytes = old.read_bytes()
    db.finish_job(key, output_path=old, pages=1, pages_without_text=0, input_path=archived)
    incoming = settings.in_dir / "Again 01.cbz"
    incoming.parent.mkdir(parents=True)
    shutil.copyfile(comic.path, incoming)
    existing = claim(db, incoming, key).job
    held = hold_duplicate(
        incoming, job_key=key, existing=existing, profile=profile, settings=settings, db=db
    )

    (result,) = resolve_duplicate(job_key=key, action=DuplicateAction.FORCE_REPROCESS)

    assert Path(result) == settings.out_dir / "Again 01 (2).pdf"  # the old PDF stays
    with pikepdf.open(result) as pdf:
        assert len(pdf.pages) == 1
    assert old.read_bytes() == old_bytes
    assert (settings.archive_dir / "Again 01 (2).cbz").read_bytes() == comic.path.read_bytes()
    job = db.get_job(key)
    assert job.state is State.DONE and job.generation == 2
    assert not held.exists()
    assert db.list_duplicates() == []
    assert duplicates.pending_decisions(settings) == []
    counters = db.counter_values()
    assert counters["duplicates_resolved"] == 1
    assert counters["duplicates_detected"] == 1, "a forced reprocess is not a new duplicate"
