"""Batch bench of issue #16: comics through `comic2pdf scan --once`, Prefect server on
PostgreSQL vs on SQLite.

    .venv/bin/python bench/batch_server.py                       # 16 comics of 4 pages
    .venv/bin/python bench/batch_server.py --comics 2 --pages 2  # checks the script only

The ``batch`` part of `make bench` (`bench/run.py --only batch`). It starts two Prefect
servers and a PostgreSQL cluster (tests/pg.py, so `make setup` must have installed
`postgresql`). Each server is started the way the README says (SQLite: `prefect server
start`; PostgreSQL: scripts/server.sh, basic auth on), warmed up with one comic, then each row
is one `scan --once` over a fresh DATA_DIR holding the batch. Asserts nothing; prints a table.

- busy: CPU seconds of the batch's processes / (wall × cores): the scan's process tree
  (itself and every descendant, from wait4), the Prefect server and its PostgreSQL, all on
  this machine; "scan alone" leaves the server out. Issue #16's target is on busy.
- OCR share: part of the wall during which an ocrmypdf child ran (sampled every
  SAMPLE_SECONDS); busy in OCR: the tree's CPU over those moments / (their length × cores).
  Busy overall ≈ OCR share × busy in OCR + the rest: this tells what limits the batch.
- machine: the whole machine's busy CPU over the row, everybody's; when it is near 100 % while
  "busy" is low, other processes took the cores and the row measures contention, not us.
"""

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/batch_server.py` from anywhere

from bench.batch_sampling import Sampler, machine_cpu, tree_cpu  # noqa: E402
from comic2pdf.proc import kill_group  # noqa: E402
from comic2pdf.samples import make_comic  # noqa: E402
from tests import pg  # noqa: E402
from tests.conftest import start_prefect_server  # noqa: E402

BIN = Path(sys.executable).parent
CORES = os.cpu_count() or 1


@dataclass
class Server:
    name: str
    client_env: dict[str, str]  # PREFECT_API_URL (and the auth string) for clients
    pids: list[int]  # the processes whose CPU counts as "the server's" (Prefect, PostgreSQL)


@dataclass
class Result:
    wall: float
    cpu: float  # the scan's process tree
    server_cpu: float
    machine_cpu: float  # every process on the machine (other users' included)
    ocr_seconds: float
    ocr_cpu: float
    ocr_span: tuple[float, float]  # seconds from the start to the first OCR, last OCR to the end
    python_cpu: float  # the scan's own process (its children left out)
    peak_mb: float  # largest RSS of the scan's process tree
    pdfs: int


def scan_once(server: Server, data: Path, env: dict[str, str], log: Path) -> Result:
    """One `comic2pdf scan --once` over *data*, measured."""
    server_before = sum(tree_cpu(pid) for pid in server.pids)
    machine_before = machine_cpu()
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "comic2pdf.cli", "scan", "--once"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    sampler = Sampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    ended = time.monotonic()
    wall = ended - started
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        sys.exit(f"scan --once failed ({proc.returncode}):\n{tail}")
    server_cpu = sum(tree_cpu(pid) for pid in server.pids) - server_before
    machine = machine_cpu() - machine_before
    ocr_seconds, ocr_cpu = sampler.ocr_time_and_cpu()
    pdfs = len(list((data / "out").glob("*.pdf")))
    cpu = usage.ru_utime + usage.ru_stime
    span = sampler.ocr_span(started, ended)
    return Result(
        wall, cpu, server_cpu, machine, ocr_seconds, ocr_cpu, span, sampler.own_cpu,
        sampler.peak_rss / 2**20, pdfs,
    )  # fmt: skip


# --- the servers -----------------------------------------------------------------------


def base_env(home: Path) -> dict[str, str]:
    """This environment without PREFECT_*, with a PREFECT_HOME of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }


@contextlib.contextmanager
def running(argv: list, env: dict[str, str], folder: Path) -> Iterator[tuple[str, int]]:
    """Start a Prefect server (*argv* with {port} filled in); yield its API URL and pid."""

    def launch(port: str) -> tuple[list, dict[str, str]]:
        args = [str(part).replace("{port}", port) for part in argv]
        return args, env | {"PREFECT_SERVER_API_PORT": port}

    try:
        server, url = start_prefect_server(launch, folder / "server.log", seconds=120)
    except RuntimeError as error:
        sys.exit(str(error))
    try:
        yield url, server.pid
    finally:
        kill_group(server, grace=15)


@contextlib.contextmanager
def sqlite_server(folder: Path) -> Iterator[Server]:
    """`prefect server start`: the SQLite database in its PREFECT_HOME."""
    argv = [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", "{port}"]
    with running(argv, base_env(folder / "home"), folder) as (url, pid):
        yield Server("SQLite", {"PREFECT_API_URL": url}, [pid])


@contextlib.contextmanager
def postgres_server(folder: Path) -> Iterator[Server]:
    """scripts/server.sh on a throwaway PostgreSQL cluster, basic auth on."""
    cluster = pg.start_cluster()
    try:
        auth = f"bench:{secrets.token_hex(8)}"
        env = base_env(folder / "home") | {
            "PREFECT_API_DATABASE_CONNECTION_URL": cluster.url("asyncpg"),
            "PREFECT_SERVER_API_AUTH_STRING": auth,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
        }
        with running([ROOT / "scripts" / "server.sh"], env, folder) as (url, pid):
            postmaster = int((cluster.folder / "data" / "postmaster.pid").read_text().split()[0])
            client = {"PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": auth}
            yield Server("PostgreSQL", client, [pid, postmaster])
    finally:
        pg.stop_cluster(cluster)


# --- the bench -------------------------------------------------------------------------


def fill_inbox(data: Path, comics: list[Path]) -> None:
    (data / "in").mkdir(parents=True)
    for comic in comics:
        shutil.copy(comic, data / "in" / comic.name)


def rows_for(server: Server, comics: list[Path], tmp: Path, concurrencies: list[int]) -> dict:
    slug = server.name.lower()
    env = base_env(tmp / f"client-{slug}") | server.client_env | {"STABLE_SECONDS": "0"}
    warm = tmp / f"warm-{slug}"
    fill_inbox(warm, comics[:1])  # creates the flows and limits; not timed
    log = tmp / f"scan-{slug}.log"
    scan_once(server, warm, env | {"DATA_DIR": str(warm)}, log)
    results = {}
    for concurrency in concurrencies:
        data = tmp / f"batch-{slug}-{concurrency}"
        fill_inbox(data, comics)
        row_env = env | {"DATA_DIR": str(data), "OCR_CONCURRENCY": str(concurrency)}
        results[concurrency] = scan_once(server, data, row_env, log)
    return results


def busy(r: Result) -> float:
    """Cores busy with the batch: the scan's tree, the Prefect server and its PostgreSQL."""
    return (r.cpu + r.server_cpu) / (r.wall * CORES)


def row_cells(r: Result, comics: int, baseline: Result | None) -> list[tuple[str, str]]:
    """(column title, cell) of one row."""
    return [
        ("wall s", f"{r.wall:.1f}"),
        ("comics/min", f"{comics / r.wall * 60:.1f}"),
        ("busy", f"{busy(r):.0%}"),
        ("scan alone", f"{r.cpu / (r.wall * CORES):.0%}"),
        ("machine", f"{r.machine_cpu / (r.wall * CORES):.0%}"),
        ("× SQLite", f"{baseline.wall / r.wall:.2f}" if baseline else "—"),
        ("OCR share", f"{r.ocr_seconds / r.wall:.0%}"),
        ("busy in OCR", f"{r.ocr_cpu / max(r.ocr_seconds, 1e-9) / CORES:.0%}"),
        ("before/after OCR s", f"{r.ocr_span[0]:.1f} / {r.ocr_span[1]:.1f}"),
        ("CPU s python/server", f"{r.python_cpu:.1f} / {r.server_cpu:.1f}"),
        ("peak MB", f"{r.peak_mb:.0f}"),
        ("PDFs", str(r.pdfs)),
    ]


def print_table(results: dict[tuple[str, int], Result], comics: int) -> None:
    lines = []
    for (name, concurrency), r in results.items():
        cells = row_cells(r, comics, results.get(("SQLite", concurrency)))
        lines.append([("Prefect server", name), ("OCR_CONC", str(concurrency)), *cells])
    widths = [max(len(title), *(len(line[i][1]) for line in lines)) for i, (title, _) in
              enumerate(lines[0])]  # fmt: skip
    for line in [[(title, title) for title, _ in lines[0]], *lines]:
        cells = [cell.rjust(w) if i else cell.ljust(w) for i, ((_, cell), w) in
                 enumerate(zip(line, widths, strict=True))]  # fmt: skip
        print(" ".join(cells))
    met = [f"{name} {conc}" for (name, conc), r in results.items() if busy(r) >= 0.85]
    print(f"target (#16): cores >= 85 % busy over the batch; rows that meet it: {met or 'none'}")
    print("busy: CPU of the scan's process tree + Prefect server + PostgreSQL / (wall × cores);")
    print("scan alone: the scan's tree only; × SQLite: the SQLite row's wall / this row's (above 1")
    print("= faster); machine: every process's CPU (others' too): near 100 % = cores contended;")
    print("peak MB: largest RSS of the scan's process tree")


def server_trouble(name: str, server_log: Path) -> str:
    """How often the server's database was locked (it answers those requests with a 503)."""
    locked = server_log.read_text(errors="replace").count("database is locked")
    return f"server on {name}: 'database is locked' {locked} times in its log (warm-up included)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comics", type=int, default=16, help="comics in the batch")
    parser.add_argument("--pages", type=int, default=4, help="pages of each comic")
    parser.add_argument("--size", default="1600x2400", help="page size WxH in pixels")
    parser.add_argument("--ocr-concurrency", default="1,2", help="OCR_CONCURRENCY values")
    args = parser.parse_args(argv)
    size = tuple(int(part) for part in args.size.lower().split("x"))
    concurrencies = [int(part) for part in args.ocr_concurrency.split(",")]
    print(f"{CORES} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="comic2pdf-bench-server-") as folder:
        tmp = Path(folder)
        comics = [
            make_comic(tmp / "comics" / f"batch {n}.cbz", title=f"Batch {n}", pages=args.pages,
                       size=size, seed=500 + n).path
            for n in range(args.comics)
        ]  # fmt: skip
        results: dict[tuple[str, int], Result] = {}
        servers: dict[str, Path] = {}
        for start in (sqlite_server, postgres_server):
            folder_of_server = tmp / start.__name__
            folder_of_server.mkdir()
            with start(folder_of_server) as server:
                servers[server.name.lower()] = folder_of_server
                for concurrency, result in rows_for(server, comics, tmp, concurrencies).items():
                    results[(server.name, concurrency)] = result
        print(f"batch: {args.comics} comics of {args.pages} pages {args.size} JPEG")
        print_table(results, args.comics)
        for name, server_folder in servers.items():
            print(server_trouble(name, server_folder / "server.log"))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
