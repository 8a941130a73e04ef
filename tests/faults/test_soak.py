"""Soak: 200 files dropped over time while two scan processes race for them.

Every input that is picked up costs a Prefect flow run, about a second of
bookkeeping each on two cores (and each lost race for a claim costs one too),
so most of the 200 are files still being written (``.part``, ``.tmp``,
``.crdownload``, hidden), growing while the scanners look at them: no scan
may touch them. The rest are hostile or broken archives, exact duplicates and
ten real one-page comics that go through Tesseract, three of them arriving as
downloads (``.part``, written in two goes, then renamed). At the end every
file is accounted for and the counters that ``comic2pdf metrics`` writes agree
with the folders.
"""

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from comic2pdf.samples import make_comic
from comic2pdf.store import JobDB
from tests import hostile
from tests.faults.ledger import (
    Ledger,
    assert_no_temporaries,
    inputs_by_place,
    published_pdfs,
)
from tests.faults.scanners import COMIC2PDF

pytestmark = [pytest.mark.faults, pytest.mark.slow]

GOOD, DUPLICATES, HOSTILE, STILL_WRITTEN = 10, 6, 24, 160
BATCHES = 10
#: Good comics that arrive as ``<name>.part``, written in two goes, renamed two batches later.
DOWNLOADS = 3
CHUNK = b"still arriving\n" * 20


def hostile_file(folder: Path, n: int) -> Path:
    """The n-th hostile or broken input, each with content of its own."""
    png = hostile.tiny_png((n % 256, n // 256, 99))
    kind = n % 7
    if kind == 0:
        path = folder / f"notes {n}.cbz"
        path.write_text(f"not a comic, number {n}\n")
        return path  # not_an_archive: refused by the checks, no job
    if kind == 1:
        return hostile.write_zip(folder / f"dotdot {n}.cbz", [("p1.png", png), ("../e.png", png)])
    if kind == 2:
        return hostile.write_zip(folder / f"text only {n}.cbz", [(f"readme {n}.txt", b"hi")])
    if kind == 3:
        whole = hostile.write_zip(folder / f"whole {n}.cbz", [("p1.png", png), ("p2.png", png)])
        path = folder / f"truncated {n}.cbz"
        path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        whole.unlink()
        return path
    if kind == 4:
        link = tarfile.TarInfo("up")
        link.type, link.linkname = tarfile.SYMTYPE, ".."
        page = tarfile.TarInfo("up/pwned.png")
        return hostile.write_tar(folder / f"symlink {n}.cbt", [(link, None), (page, png)])
    if kind == 5:  # its only page is broken (one broken page among good ones is skipped)
        garbage = b"\x89PNG\r\n\x1a\n" + f"broken page {n}".encode() * 8
        return hostile.write_zip(folder / f"bad png {n}.cbz", [("p1.png", garbage)])
    return hostile.write_zip(
        folder / f"huge {n}.cbz",
        [("p1.png", png), ("p2.png", hostile.png_header(30000, 30000 + n))],
    )


def still_written_name(n: int) -> str:
    """Names no scan may touch (SPEC "Reliable drop")."""
    return (f"new {n}.cbz.part", f"copy {n}.tmp", f"get {n}.crdownload", f".hidden {n}.cbz")[n % 4]


def staged_inputs(staging: Path) -> list[list[Path]]:
    """The good, duplicate and hostile files in BATCHES batches; copies after their originals."""
    staging.mkdir()
    good = [
        make_comic(
            staging / f"good {n:02d}.cbz", title=f"Good {n}", pages=1, size=(300, 400), seed=100 + n
        ).path
        for n in range(GOOD)
    ]
    copies = [
        Path(shutil.copy(good[n % GOOD], staging / f"good {n % GOOD:02d} again.cbz"))
        for n in range(DUPLICATES)
    ]
    bad = [hostile_file(staging, n) for n in range(HOSTILE)]
    batches: list[list[Path]] = [[] for _ in range(BATCHES)]
    for n, path in enumerate(good[DOWNLOADS:] + bad):
        batches[n % BATCHES].append(path)
    for n, path in enumerate(copies):  # half in the same batch as the original, half later
        batches[min(BATCHES - 1, n % BATCHES + (n % 2) * 3)].append(path)
    return batches


def drop_over_time(inbox: Path, staging: Path, ledger: Ledger) -> dict[str, int]:
    """Drop the inputs batch by batch while files are still being written; their sizes."""
    batches = staged_inputs(staging)  # same file system as in/: a drop is a rename
    downloads = sorted(staging.glob("good 0[0-9].cbz"))[:DOWNLOADS]
    written: dict[str, int] = {}
    for number, batch in enumerate(batches):
        for path in batch:
            dropped = ledger.drop(path.rename(inbox / path.name))
            os.utime(dropped)  # new in in/, as a copy would be: scans take oldest first
        for n in range(number, STILL_WRITTEN, BATCHES):  # new ones appear, all of them grow
            written[still_written_name(n)] = 0
        for name in written:
            with (inbox / name).open("ab") as growing:
                growing.write(CHUNK)
            written[name] += len(CHUNK)
        if number < DOWNLOADS:  # a download: half now, the rest next batch, renamed after
            data = downloads[number].read_bytes()
            (inbox / f"{downloads[number].name}.part").write_bytes(data[: len(data) // 2])
        if 1 <= number <= DOWNLOADS:
            data = downloads[number - 1].read_bytes()
            with (inbox / f"{downloads[number - 1].name}.part").open("ab") as part:
                part.write(data[len(data) // 2 :])
        if 2 <= number <= DOWNLOADS + 1:
            part = inbox / f"{downloads[number - 2].name}.part"
            ledger.drop(part.rename(part.with_suffix("")))
        time.sleep(0.8)
    return written


def test_two_scanners_200_files_everything_accounted_for(data_dir, scanners, tmp_path, job_store):
    """Once with the job store in the data folder (SQLite), once on PostgreSQL (JOB_DB_URL)."""
    inbox = data_dir / "in"
    inbox.mkdir(parents=True)
    store_env = {"JOB_DB_URL": job_store} if job_store.startswith("postgresql") else {}
    settings = {
        "SCAN_INTERVAL_SECONDS": "1",
        "STABLE_SECONDS": "0.5",
        "OCR_JOBS": "1",
        "MAX_JOBS_IN_FLIGHT": "4",
        "RETRY_DELAY_SECONDS": "0",
        **store_env,
    }
    pair = [scanners(**settings), scanners(**settings)]
    ledger = Ledger(data_dir)
    started = time.monotonic()
    written = drop_over_time(inbox, tmp_path / "staging", ledger)
    assert sum(ledger.dropped.values()) + len(written) == 200

    expected = GOOD + DUPLICATES + HOSTILE
    deadline = time.monotonic() + 240

    def settled() -> bool:
        places = inputs_by_place(data_dir)
        return sum(len(places[p]) for p in ("archive", "error", "hold")) == expected

    while not settled():
        assert time.monotonic() < deadline, [s.output()[-2000:] for s in pair]
        assert all(s.running for s in pair), [s.output()[-2000:] for s in pair]
        time.sleep(0.5)
    for scanner in pair:
        scanner.stop()
    soak_seconds = time.monotonic() - started

    places = ledger.assert_conserved(settled=True)
    pdfs = published_pdfs(data_dir / "out")
    # Files still being written are left alone, whole: name and every byte written.
    assert {p.name: p.stat().st_size for p in inbox.iterdir()} == written
    # conservation: files in = PDFs + errors + held + ignored
    accounted = len(pdfs) + len(places["error"]) + len(places["hold"]) + len(written)
    assert accounted == 200
    assert len(pdfs) == len(places["archive"]) == GOOD
    assert len(places["hold"]) == DUPLICATES and len(places["error"]) == HOSTILE
    assert not [p for p in pdfs if "(2)" in p.name]
    assert_no_temporaries(data_dir)
    with JobDB(job_store) as db:
        assert db.integrity_ok()

    done = subprocess.run(
        [str(COMIC2PDF), "metrics", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=True, env={**os.environ, **store_env},
    )  # fmt: skip
    assert done.stdout  # the Prometheus text; the snapshot is what we compare
    snapshot = json.loads((data_dir / "index" / "metrics.json").read_text())
    assert snapshot["done"] == len(pdfs)
    assert snapshot["pages_processed"] == len(pdfs)
    assert snapshot["duplicates_detected"] == len(places["hold"])
    assert snapshot["error"] == len(places["error"])  # failed jobs and refused inputs
    assert snapshot["running"] == snapshot["queued"] == 0
    print(f"soak: 200 files settled in {soak_seconds:.0f} s")
