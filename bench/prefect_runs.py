"""`comic2pdf convert` and `scan --once` as a user runs them, with Prefect's cost around them."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.measure import BIN, Usage, run, span_length
from bench.synthetic import Bench, Row
from comic2pdf.proc import kill_group

OCR_CHILD = "comic2pdf.ocr.child"  # marks the ocrmypdf child of `comic2pdf convert`


def convert(
    bench: Bench, comics: Sequence[Path], data: Path, env: dict[str, str] | None = None
) -> Usage:
    """`comic2pdf convert` as a user types it, with a fresh DATA_DIR."""
    return convert_comics(comics, data, log=bench.log, env=env or bench.prefect_env)


def convert_comics(comics: Sequence[Path], data: Path, *, log: Path, env: dict[str, str]) -> Usage:
    """`comic2pdf convert COMICS --out DATA/out` with DATA_DIR=*data*, its OCR children watched."""
    env = env | {"DATA_DIR": os.fspath(data)}
    argv = [sys.executable, "-m", "comic2pdf.cli", "convert", *comics, "--out", data / "out"]
    return run([argv], log=log, env=env, watch=OCR_CHILD)


def scan_once(bench: Bench, comics: Sequence[Path], data: Path, **settings: str) -> Usage:
    """`comic2pdf scan --once` over an inbox holding *comics*."""
    (data / "in").mkdir(parents=True)
    for comic in comics:
        shutil.copy(comic, data / "in" / comic.name)
    env = bench.prefect_env | {"DATA_DIR": os.fspath(data), "STABLE_SECONDS": "0"} | settings
    argv = [sys.executable, "-m", "comic2pdf.cli", "scan", "--once"]
    return run([argv], log=bench.log, env=env, watch=OCR_CHILD)


def warm_up_prefect(*, log: Path, env: dict[str, str]) -> None:
    """Create our PREFECT_HOME's database first, so no measured run pays for it."""
    if not os.environ.get("PREFECT_API_URL"):
        run([[BIN / "prefect", "global-concurrency-limit", "ls"]], log=log, env=env)


def e2e_rows(bench: Bench) -> tuple[list[Row], list[str]]:
    """convert of one comic; then of two, whose OCR runs show one comic with Prefect up."""
    one = convert(bench, [bench.comic.path], bench.folder("e2e-1"))
    second = bench.folder("e2e-2-in") / f"{bench.comic.path.stem} copy.cbz"
    shutil.copy(bench.comic.path, second)
    two = convert(bench, [bench.comic.path, second], bench.folder("e2e-2"))
    pdf = bench.tmp / "e2e-1" / "out" / f"{bench.comic.path.stem}.pdf"
    rows = [bench.pdf_row("comic2pdf convert, 1 comic (e2e)", one, pdf)]
    if len(two.spans) == 2:
        # One comic in steady state: from one OCR start to the next.
        (first, _), (following, _) = two.spans
        cycle = Usage(following - first, two.cpu_between(first, following), two.peak_rss)
        rows.append(bench.pdf_row("comic2pdf convert, next comic of a call", cycle, pdf))
    return rows, e2e_notes(one, two)


def e2e_notes(one: Usage, two: Usage) -> list[str]:
    """Where the time of `convert` goes, from when its ocrmypdf children ran."""
    if len(one.spans) != 1 or len(two.spans) != 2:
        return [f"e2e: expected 1 and 2 OCR children, saw {len(one.spans)} and {len(two.spans)}"]
    (start, first_end), (next_start, end) = two.spans
    gap = next_start - first_end  # finalize, next flow run, checks, prep
    ocr = span_length(one.spans[0])
    mode = os.environ.get("PREFECT_API_URL") or "ephemeral server"
    return [
        f"convert, 1 comic, Prefect {mode}: {one.wall:.1f} s = ocrmypdf child {ocr:.1f} s "
        f"+ {one.wall - ocr:.1f} s around it (first OCR starts at {one.spans[0][0]:.1f} s)",
        f"orchestration overhead per comic once Prefect is up (end of one OCR to start of the "
        f"next, in a 2-comic call): {gap:.1f} s",
        f"once per call (CLI and Prefect imports, temporary server start and stop): "
        f"{start + (two.wall - end) - gap:.1f} s = {start:.1f} s before the first OCR "
        f"+ {two.wall - end:.1f} s after the last - one comic's overhead",
    ]


# --- Prefect server for the PREFECT_API_URL line -----------------------------------------


@contextlib.contextmanager
def prefect_server(folder: Path) -> Iterator[dict[str, str] | None]:
    """A `prefect server start` of our own (own PREFECT_HOME); yields the client env."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": os.fspath(folder / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    argv = [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with (folder / "server.log").open("ab") as out:
        server = subprocess.Popen(
            [os.fspath(a) for a in argv], env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield env | {"PREFECT_API_URL": url} if _healthy(url, server, 120) else None
    finally:
        kill_group(server, grace=15)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str, server: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            time.sleep(0.5)
    return False


def server_note(bench: Bench) -> str:
    with prefect_server(bench.folder("server")) as env:
        if env is None:
            return "PREFECT_API_URL: the Prefect server did not start (see server/server.log)"
        usage = convert(bench, [bench.comic.path], bench.folder("e2e-server"), env)
    ocr = span_length(usage.spans[0]) if usage.spans else float("nan")
    return (
        f"with PREFECT_API_URL (a running server): 1 comic {usage.wall:.1f} s, ocrmypdf "
        f"{ocr:.1f} s, overhead {usage.wall - ocr:.1f} s"
    )
