"""Claims and ownership of inbox files, without Prefect."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

from comic2pdf.inbox import (
    claim_file,
    ensure_layout,
    expired_work_dirs,
    is_ignored,
    orphaned_inputs,
    stable_files,
    take_over,
)
from comic2pdf.settings import load_settings


def settings_for(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    ensure_layout(settings)
    return settings


def test_ignored_names():
    for name in ("a.cbz.part", "b.tmp", "c.CRDOWNLOAD", ".hidden.cbz", ".DS_Store"):
        assert is_ignored(name)
    assert not is_ignored("Comic 01.cbz")


def test_only_files_left_alone_are_stable(tmp_path):
    old = tmp_path / "old.cbz"
    old.write_bytes(b"x")
    fresh = tmp_path / "fresh.cbz"
    fresh.write_bytes(b"y")
    (tmp_path / "partial.cbz.part").write_bytes(b"z")
    now = time.time()
    os.utime(old, (now - 100, now - 100))
    # ctime cannot be set back: "old" is stable only as far as ctime allows, so look from later
    assert stable_files(tmp_path, stable_seconds=2, now=now + 5) == [old, fresh]
    assert stable_files(tmp_path, stable_seconds=2, now=now) == []


def test_two_claimers_race_one_wins(tmp_path):
    settings = settings_for(tmp_path)
    inbox_file = settings.in_dir / "race.cbz"
    inbox_file.write_bytes(b"data")
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: claim_file(inbox_file, settings), range(8)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1
    assert won[0].path.read_bytes() == b"data"
    assert not inbox_file.exists()
    assert len(list(settings.incoming_dir.iterdir())) == 1  # losers left no folder
    won[0].release()


def test_live_claim_is_not_an_orphan_and_dead_one_is(tmp_path):
    settings = settings_for(tmp_path)
    inbox_file = settings.in_dir / "x.cbz"
    inbox_file.write_bytes(b"data")
    claim = claim_file(inbox_file, settings)
    later = time.time() + 60
    assert orphaned_inputs(settings, now=later) == []
    assert take_over(claim.path) is None  # the owner is alive
    os.close(claim.lock_fd)  # what the kernel does when the owner dies
    assert orphaned_inputs(settings, now=later) == [claim.path]
    taken = take_over(claim.path)
    assert taken is not None and taken.path == claim.path
    taken.release()


def test_claim_of_a_killed_process_becomes_an_orphan(tmp_path):
    settings = settings_for(tmp_path)
    (settings.in_dir / "k.cbz").write_bytes(b"data")
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from comic2pdf.inbox import claim_file
        from comic2pdf.settings import load_settings
        s = load_settings(data_dir=Path({str(settings.data_dir)!r}))
        claim = claim_file(s.in_dir / "k.cbz", s)
        print("claimed", flush=True)
        time.sleep(300)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "claimed"
    later = time.time() + 60
    assert orphaned_inputs(settings, now=later) == []
    child.send_signal(signal.SIGKILL)
    child.wait()
    orphans = orphaned_inputs(settings, now=later)
    assert [p.name for p in orphans] == ["k.cbz"]


def test_janitor_keeps_recent_and_running_work_dirs(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", keep_work_dir_days=2)
    ensure_layout(settings)
    now = time.time()
    for name, age_days in (("old", 3), ("recent", 1), ("running", 5)):
        folder = settings.work_dir / name
        folder.mkdir()
        os.utime(folder, (now - age_days * 86400, now - age_days * 86400))
    expired = expired_work_dirs(settings, in_flight={"running"}, now=now)
    assert expired == [settings.work_dir / "old"]  # never the claim folders' parent either
    keep_nothing = load_settings(data_dir=tmp_path / "data", keep_work_dir_days=0)
    assert expired_work_dirs(keep_nothing, in_flight=set(), now=now) == []
