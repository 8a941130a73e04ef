"""Benchmark of issue #6: comic2pdf against the Tesseract floor and the old pipeline.

    make bench                              # 20 pages 1600x2400: every measurement
    .venv/bin/python bench/run.py --quick   # a few small pages: checks the script, proves nothing

Every input comes from ``comic2pdf.samples`` (the words in the balloons are the ground
truth). All variants run in the same run on the same pages. The script prints one table
and a few lines and asserts nothing: targets are judged by whoever reads the numbers.

CPU time is user + system of each started process and of every descendant it waited for
(``os.wait4``); peak RSS is the largest total of the whole process tree, sampled every
``SAMPLE_SECONDS``, which also tells when ocrmypdf's child ran inside ``comic2pdf convert``.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/run.py` from anywhere, without installing

from comic2pdf.proc import kill_group  # noqa: E402
from comic2pdf.samples import SampleComic, make_comic  # noqa: E402

SAMPLE_SECONDS = 0.1
OCR_CHILD = "comic2pdf.ocr_child"  # marks the ocrmypdf child of `comic2pdf convert`
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024
RESULT = "bench-result: "  # marks the JSON line of a child among Prefect's log lines
BIN = Path(sys.executable).parent


# --- measuring processes ---------------------------------------------------------------


@dataclass
class Usage:
    """What a command (or a sequence of commands) cost."""

    wall: float = 0.0
    cpu: float = 0.0  # user + sys, the processes and the descendants they waited for
    peak_rss: int = 0  # bytes, the whole process tree at its largest (sampled)
    spans: list[tuple[float, float]] = field(default_factory=list)  # watched processes
    cpu_series: list[tuple[float, float]] = field(default_factory=list)  # (t, tree CPU s)
    output: str = ""

    def __add__(self, other: "Usage") -> "Usage":
        """Steps run one after the other: times add up, memory does not."""
        return Usage(
            self.wall + other.wall,
            self.cpu + other.cpu,
            max(self.peak_rss, other.peak_rss),
            output=self.output + other.output,
        )

    def cpu_between(self, start: float, end: float) -> float:
        """Tree CPU seconds spent between two moments (from the samples)."""
        inside = [cpu for t, cpu in self.cpu_series if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) >= 2 else float("nan")

    def busy(self, cores: int, window: tuple[float, float] | None = None) -> float:
        """Share of the cores kept busy, over the whole run or over *window*."""
        if window is None:
            return self.cpu / (self.wall * cores)
        start, end = window
        return self.cpu_between(start, end) / ((end - start) * cores)


class TreeSampler(threading.Thread):
    """Samples the process trees under *roots*: total RSS, total CPU, watched processes."""

    def __init__(self, roots: set[int], watch: str | None) -> None:
        super().__init__(daemon=True)
        self.roots, self.watch = roots, watch
        self.started = time.monotonic()
        self.peak_rss = 0
        self.reaped_cpu = 0.0  # CPU of started processes already reaped (gone from the tree)
        self.cpu_series: list[tuple[float, float]] = []
        self.seen: dict[int, list[float]] = {}  # watched pid -> [first, last] seen
        self._inside: set[int] = set()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        now = time.monotonic() - self.started
        rss = cpu = 0.0
        for pid in self._tree():
            stat = _read(f"/proc/{pid}/stat")
            if not stat:
                continue  # gone between listing and reading
            fields = stat.rsplit(")", 1)[1].split()
            cpu += sum(int(value) for value in fields[11:15]) / TICKS  # u, s, cu, cs
            rss += int(fields[21]) * PAGE_BYTES
            self._note(pid, int(fields[1]), now)
        self.peak_rss = max(self.peak_rss, int(rss))
        self.cpu_series.append((now, cpu + self.reaped_cpu))

    def spans(self) -> list[tuple[float, float]]:
        return sorted((first, last) for first, last in self.seen.values())

    def _note(self, pid: int, ppid: int, now: float) -> None:
        if pid in self.seen:
            self.seen[pid][1] = now
        elif ppid in self.seen or ppid in self._inside:
            self._inside.add(pid)  # a worker or tool of a watched process, not another one
        elif self.watch and self.watch in _read(f"/proc/{pid}/cmdline").replace("\0", " "):
            # Read again each time: between fork and exec a child shows its parent's argv.
            self.seen[pid] = [now, now]

    def _tree(self) -> Iterator[int]:
        todo = list(self.roots)
        while todo:
            pid = todo.pop()
            yield pid
            for task in _listdir(f"/proc/{pid}/task"):
                todo += [int(child) for child in _read(f"/proc/{pid}/task/{task}/children").split()]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _listdir(path: str) -> list[str]:
    try:
        return [entry.name for entry in Path(path).iterdir()]
    except OSError:
        return []


def run(
    commands: Sequence[Sequence[object]],
    *,
    log: Path,
    parallel: int = 1,
    env: dict[str, str] | None = None,
    watch: str | None = None,
) -> Usage:
    """Run *commands*, at most *parallel* at once; exit with the log's tail if one fails.

    Not comic2pdf.proc.run: the benchmark needs each process's rusage from wait4.
    """
    pending = [[os.fspath(part) for part in command] for command in commands]
    running: dict[int, subprocess.Popen] = {}
    sampler = TreeSampler(set(), watch)
    cpu = 0.0
    with log.open("a") as out:
        sampler.start()
        while pending or running:
            while pending and len(running) < parallel:
                argv = pending.pop(0)
                out.write(f"$ {subprocess.list2cmdline(argv)}\n")
                out.flush()
                proc = subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True,
                )  # fmt: skip
                running[proc.pid] = proc
                sampler.roots.add(proc.pid)
            pid, status, usage = os.wait4(-1, 0)
            proc = running.pop(pid)
            sampler.roots.discard(pid)
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            cpu += usage.ru_utime + usage.ru_stime
            sampler.reaped_cpu = cpu
            if proc.returncode != 0:
                _stop_all(running)
                sys.exit(f"failed ({proc.returncode}): {proc.args}\n{_tail(log)}")
        sampler.stop()
    wall = time.monotonic() - sampler.started
    return Usage(
        wall, cpu, sampler.peak_rss, sampler.spans(), sampler.cpu_series, _tail(log, 20_000)
    )


def _stop_all(running: dict[int, subprocess.Popen]) -> None:
    for proc in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:]


# --- judging outputs -------------------------------------------------------------------


def recall(truth: list[list[str]], page_texts: list[str]) -> float:
    """Share of the balloon words found on their own page."""
    found = 0
    for words, text in zip(truth, page_texts, strict=False):
        seen = set(re.findall(r"[a-z]+", text.lower()))
        found += sum(word in seen for word in words)
    return found / sum(map(len, truth))


def pdf_texts(pdf: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", os.fspath(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")


def hocr_text(hocr: Path) -> str:
    return re.sub(r"<[^>]+>", " ", hocr.read_text())


def jpegs_identical(pdf: Path, sources: list[bytes], scratch: Path) -> str:
    """'yes' when the PDF's images are the source JPEGs byte for byte, in order."""
    scratch.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdfimages", "-all", os.fspath(pdf), f"{scratch}/img"], check=True)
    found = [path.read_bytes() for path in sorted(scratch.iterdir())]
    same = sum(a == b for a, b in zip(found, sources, strict=False))
    if same == len(sources) == len(found):
        return "yes"
    return f"no {same}/{len(sources)}"


# --- the variants ----------------------------------------------------------------------


@dataclass
class Row:
    name: str
    usage: Usage
    recall: float | None = None
    size: int | None = None
    identical: str = "—"


@dataclass
class Bench:
    """Everything the variants share."""

    tmp: Path
    comic: SampleComic
    pages: list[Path]  # the page JPEGs, extracted once for the floor
    cores: int
    log: Path

    @property
    def prefect_env(self) -> dict[str, str]:
        """The Prefect runs' environment: a PREFECT_HOME of our own unless a server is set."""
        if os.environ.get("PREFECT_API_URL"):
            return dict(os.environ)
        return os.environ | {"PREFECT_HOME": os.fspath(self.tmp / "prefect-home")}

    @property
    def sources(self) -> list[bytes]:
        return [page.read_bytes() for page in self.pages]

    def folder(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pdf_row(self, name: str, usage: Usage, pdf: Path) -> Row:
        texts = pdf_texts(pdf)
        identical = jpegs_identical(pdf, self.sources, self.folder(f"images-{name}"))
        return Row(name, usage, recall(self.comic.page_words, texts), pdf.stat().st_size, identical)


def floor(bench: Bench) -> Row:
    """Tesseract alone on the page images: one process per core, one thread each."""
    out = bench.folder("floor")
    commands = [["tesseract", page, out / page.stem, "-l", "eng", "hocr"] for page in bench.pages]
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    usage = run(commands, log=bench.log, parallel=bench.cores, env=env)
    texts = [hocr_text(out / f"{page.stem}.hocr") for page in bench.pages]
    return Row("tesseract floor (hOCR)", usage, recall(bench.comic.page_words, texts))


def seven_zip() -> str | None:
    return shutil.which("7z") or shutil.which("7zz")


def old_pipeline(bench: Bench, seven: str) -> Row:
    """The old services: `7z x`, `img2pdf`, `ocrmypdf --rotate-pages --deskew -O1`."""
    work = bench.folder("old")
    usage = run([[seven, "x", "-y", f"-o{work / 'x'}", bench.comic.path]], log=bench.log)
    images = sorted((work / "x").glob("*.jpg"))  # the old code sorted by basename
    usage += run([[BIN / "img2pdf", *images, "-o", work / "raw.pdf"]], log=bench.log)
    ocr = ["--rotate-pages", "--deskew", "--optimize", "1", "--output-type", "pdf"]
    usage += run([[BIN / "ocrmypdf", *ocr, work / "raw.pdf", work / "old.pdf"]], log=bench.log)
    return bench.pdf_row("old pipeline (7z, img2pdf, ocrmypdf -r -d -O1)", usage, work / "old.pdf")


def prepare_raw_pdf(comic: Path, work: Path) -> Path:
    """raw.pdf exactly as the prep task makes it (untimed: the e2e row times prep)."""
    from comic2pdf.archive import ExtractLimits, extract_pages
    from comic2pdf.rawpdf import build_raw_pdf
    from comic2pdf.settings import load_settings

    settings = load_settings()
    limits = ExtractLimits(1 << 40, 100_000, 1000.0, settings.max_image_pixels)
    extraction = extract_pages(comic, work / "extract", limits=limits)
    raw = work / "raw.pdf"
    images = [page.path for page in extraction.pages]
    build_raw_pdf(images, raw, dpi=settings.ocr_dpi, scratch=work)
    return raw


def our_ocrmypdf_argv(raw: Path, out: Path, **changes: object) -> list[str]:
    """Our ocrmypdf command line (settings from the environment), with *changes*."""
    from comic2pdf.ocr import ocrmypdf_args
    from comic2pdf.settings import load_settings
    from tasks.stages import ocr_options

    options = dataclasses.replace(ocr_options(load_settings()), **changes)
    return [os.fspath(BIN / "ocrmypdf"), *ocrmypdf_args(raw, out, out.with_suffix(".txt"), options)]


def ocrmypdf_rows(bench: Bench, raw: Path, *, variants: bool) -> list[Row]:
    """ocrmypdf with our arguments, then (with *variants*) one change at a time."""
    table: dict[str, tuple[dict[str, object], list[str]]] = {
        "ocrmypdf, our args": ({}, []),
    }
    if variants:
        table |= {
            "  … --rasterizer ghostscript": ({}, ["--rasterizer", "ghostscript"]),
            "  … --pdf-renderer sandwich": ({}, ["--pdf-renderer", "sandwich"]),
            "  … no downsampling": ({"downsample_above": 0}, []),
            "  … --tesseract-downsample-above 1600": ({"downsample_above": 1600}, []),
            "  … --jobs 1": ({"jobs": 1}, []),
            "  … without the JPEG rasterizer plugin": ({"fast_raster": False}, []),
        }
    rows = []
    for number, (name, (changes, extra)) in enumerate(table.items()):
        out = bench.folder("ocrmypdf") / f"v{number}.pdf"
        argv = our_ocrmypdf_argv(raw, out, **changes)
        argv[-2:-2] = extra
        if number == 0:
            print("our ocrmypdf argv:", subprocess.list2cmdline(argv[1:]))
        rows.append(bench.pdf_row(name, run([argv], log=bench.log), out))
    if variants:
        out = bench.folder("ocrmypdf") / "defaults.pdf"
        usage = run([[BIN / "ocrmypdf", raw, out]], log=bench.log)
        rows.append(bench.pdf_row("ocrmypdf defaults (PDF/A, -O1)", usage, out))
    return rows


def convert(
    bench: Bench, comics: Sequence[Path], data: Path, env: dict[str, str] | None = None
) -> Usage:
    """`comic2pdf convert` as a user types it, with a fresh DATA_DIR."""
    env = (env or bench.prefect_env) | {"DATA_DIR": os.fspath(data)}
    argv = [sys.executable, "-m", "comic2pdf.cli", "convert", *comics, "--out", data / "out"]
    return run([argv], log=bench.log, env=env, watch=OCR_CHILD)


def scan_once(bench: Bench, comics: Sequence[Path], data: Path, **settings: str) -> Usage:
    """`comic2pdf scan --once` over an inbox holding *comics*."""
    (data / "in").mkdir(parents=True)
    for comic in comics:
        shutil.copy(comic, data / "in" / comic.name)
    env = bench.prefect_env | {"DATA_DIR": os.fspath(data), "STABLE_SECONDS": "0"} | settings
    argv = [sys.executable, "-m", "comic2pdf.cli", "scan", "--once"]
    return run([argv], log=bench.log, env=env, watch=OCR_CHILD)


def warm_up_prefect(bench: Bench) -> None:
    """Create our PREFECT_HOME's database first, so no measured run pays for it."""
    if not os.environ.get("PREFECT_API_URL"):
        run(
            [[BIN / "prefect", "global-concurrency-limit", "ls"]],
            log=bench.log,
            env=bench.prefect_env,
        )


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
    ocr = _span_length(one.spans[0])
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


def _span_length(span: tuple[float, float]) -> float:
    start, end = span
    return end - start + SAMPLE_SECONDS  # seen up to a sample late and gone a sample early


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
    ocr = _span_length(usage.spans[0]) if usage.spans else float("nan")
    return (
        f"with PREFECT_API_URL (a running server): 1 comic {usage.wall:.1f} s, ocrmypdf "
        f"{ocr:.1f} s, overhead {usage.wall - ocr:.1f} s"
    )


# --- batch, inbox scan, prep memory --------------------------------------------------------


def batch_notes(bench: Bench, comics: list[Path]) -> list[str]:
    """CPU busy % of a batch: one convert call, and the inbox with OCR serial or 2 at once."""
    runs = {
        "convert (1 call)": convert(bench, comics, bench.folder("batch-convert")),
        "scan --once": scan_once(bench, comics, bench.folder("batch-scan")),
        "scan --once, OCR_CONCURRENCY=2 (--jobs 1)": scan_once(
            bench, comics, bench.folder("batch-scan2"), OCR_CONCURRENCY="2"
        ),
    }
    raws = [
        prepare_raw_pdf(comic, bench.folder(f"batch-prep/{n}")) for n, comic in enumerate(comics)
    ]
    for jobs, parallel in ((bench.cores, 1), (1, bench.cores)):
        commands = [
            our_ocrmypdf_argv(raw, raw.with_name(f"j{jobs}.pdf"), jobs=jobs) for raw in raws
        ]
        usage = run(commands, log=bench.log, parallel=parallel, watch="ocrmypdf")
        runs[f"ocrmypdf alone, {parallel} at a time, --jobs {jobs}"] = usage
    lines = []
    for name, usage in runs.items():
        window = (usage.spans[0][0], max(end for _, end in usage.spans)) if usage.spans else None
        lines.append(
            f"batch of {len(comics)}, {name}: {usage.wall:.1f} s, CPU {usage.cpu:.1f} s, "
            f"busy {usage.busy(bench.cores):.0%} overall, "
            f"{usage.busy(bench.cores, window):.0%} from first to last OCR"
        )
    return lines


def scan_notes(bench: Bench, files: int) -> list[str]:
    """A scan of an inbox holding *files* files, none stable yet: nothing to take."""
    data = bench.folder("scan")
    (data / "in").mkdir()
    for number in range(files):
        (data / "in" / f"comic {number:05d}.cbz").write_bytes(b"PK\3\4" + bytes(1020))
    env = bench.prefect_env | {"DATA_DIR": os.fspath(data), "STABLE_SECONDS": "3600"}
    usage = run([[sys.executable, __file__, "--scan-child"]], log=data / "child.log", env=env)
    child = child_result(usage)
    domain, flow = child["domain"], child["flow"]
    return [
        f"idle scan of {files} files in in/, a `comic2pdf scan` pass (has_work finds nothing: "
        f"no flow run): {min(domain):.3f}-{max(domain):.3f} s per pass",
        f"idle scan as a scan-inbox flow run (scheduled deployment): {min(flow[1:]):.2f}-"
        f"{max(flow[1:]):.2f} s per pass once Prefect is up (first pass {flow[0]:.1f} s); "
        f"files hashed: {child['hashed']}",
    ]


def child_result(usage: Usage) -> dict:
    line = next(x for x in reversed(usage.output.splitlines()) if x.startswith(RESULT))
    return json.loads(line.removeprefix(RESULT))


def scan_child() -> None:
    """`--scan-child`: time scan passes over DATA_DIR; print JSON (runs in its own process)."""
    from comic2pdf import jobkey
    from comic2pdf.settings import load_settings, prepare_flow_environment
    from flows import scan

    hashed = []
    real_sha256 = jobkey.file_sha256
    jobkey.file_sha256 = lambda path: hashed.append(path) or real_sha256(path)
    settings = load_settings()
    prepare_flow_environment(settings)
    domain = []
    for _ in range(3):
        started = time.monotonic()
        assert not scan.has_work(settings)  # what `comic2pdf scan` checks before a flow run
        scan.waiting_files(settings)
        domain.append(time.monotonic() - started)
    flow = []
    for _ in range(3):
        started = time.monotonic()
        scan.scan_inbox()
        flow.append(time.monotonic() - started)
    print(RESULT + json.dumps({"domain": domain, "flow": flow, "hashed": len(hashed)}))


def prep_child(archive: Path, work: Path) -> None:
    """`--prep-child`: extract + raw.pdf in a process of its own; prints its peak RSS.

    VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at its parent's size.
    """
    from comic2pdf.archive import ExtractLimits, extract_pages
    from comic2pdf.comicinfo import read_comicinfo
    from comic2pdf.rawpdf import build_raw_pdf

    imported = _vm_hwm()
    limits = ExtractLimits(1 << 40, 100_000, 1000.0, 200_000_000)
    extraction = extract_pages(archive, work / "extract", limits=limits)
    metadata = read_comicinfo(extraction.comicinfo) if extraction.comicinfo else None
    pages = build_raw_pdf(
        [page.path for page in extraction.pages], work / "raw.pdf", dpi=300,
        scratch=work / "convert", metadata=metadata,
    )  # fmt: skip
    print(RESULT + json.dumps({"imports": imported, "peak": _vm_hwm(), "pages": pages}))


def _vm_hwm() -> int:
    """This process's peak RSS in bytes."""
    line = next(x for x in _read("/proc/self/status").splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def prep_note(bench: Bench, pages: int, size: tuple[int, int]) -> str:
    work = bench.folder("prep-big")
    comic = make_comic(work / "big.cbz", title="Big", pages=pages, size=size, seed=300)
    log = work / "child.log"
    usage = run([[sys.executable, __file__, "--prep-child", comic.path, work]], log=log)
    child = child_result(usage)
    return (
        f"prep (extract + raw.pdf) of a {child['pages']}-page comic "
        f"({comic.path.stat().st_size / MB:.0f} MB): {usage.wall:.1f} s, "
        f"peak RSS {child['peak'] / MB:.0f} MB (imports alone {child['imports'] / MB:.0f} MB)"
    )


# --- the table -----------------------------------------------------------------------------


def print_table(rows: list[Row], floor_row: Row, old_row: Row | None) -> None:
    header = (
        f"{'variant':<46} {'wall s':>7} {'CPU s':>7} {'×floor':>7} {'×old':>6} "
        f"{'recall':>6} {'size MB':>7} {'JPEG same':>9} {'peak RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        usage = row.usage
        vs_old = f"{usage.wall / old_row.usage.wall:.2f}" if old_row else "—"
        print(
            f"{row.name:<46} {usage.wall:>7.1f} {usage.cpu:>7.1f} "
            f"{usage.wall / floor_row.usage.wall:>7.2f} {vs_old:>6} "
            f"{_fmt(row.recall, '.3f'):>6} {_fmt(row.size and row.size / MB, '.2f'):>7} "
            f"{row.identical:>9} {usage.peak_rss / MB:>11.0f}"
        )


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="pages of the main comic")
    parser.add_argument("--size", default="1600x2400", help="page size WxH in pixels")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, no variants")
    parser.add_argument("--batch", type=int, default=8, help="comics in the batch")
    parser.add_argument("--batch-pages", type=int, default=4, help="pages of a batch comic")
    parser.add_argument("--scan-files", type=int, default=10_000, help="files in the inbox")
    parser.add_argument("--big-pages", type=int, default=300, help="pages of the prep comic")
    parser.add_argument("--no-variants", action="store_true", help="skip the ocrmypdf matrix")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--prep-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scan-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.pages, args.size, args.batch, args.batch_pages = 3, "800x1200", 2, 2
        args.scan_files, args.big_pages, args.no_variants = 1000, 10, True
    args.size = tuple(int(part) for part in args.size.lower().split("x"))
    return args


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
         if line.startswith("model name")),
        "unknown CPU",
    )  # fmt: skip
    return f"{os.cpu_count()} cores, {model}, load average {os.getloadavg()[0]:.1f} at start"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.prep_child:
        prep_child(*args.prep_child)
        return 0
    if args.scan_child:
        scan_child()
        return 0
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="comic2pdf-bench-") as folder:
        tmp = Path(folder)
        try:
            benchmark(args, tmp)
        finally:
            if args.keep:
                kept = Path(tempfile.mkdtemp(prefix="comic2pdf-bench-kept-"))
                shutil.copytree(tmp, kept, dirs_exist_ok=True)
                print(f"kept: {kept}")
    return 0


def benchmark(args: argparse.Namespace, tmp: Path) -> None:
    bench = make_bench(args, tmp)
    w, h = args.size
    words = len(bench.comic.words)
    print(f"comic: {args.pages} pages {w}x{h} JPEG, {words} words; log {bench.log}")
    floor_row = floor(bench)
    seven = seven_zip()
    old_row = old_pipeline(bench, seven) if seven else None
    raw = prepare_raw_pdf(bench.comic.path, bench.folder("prep"))
    rows = [floor_row, *([old_row] if old_row else [])]
    rows += ocrmypdf_rows(bench, raw, variants=not args.no_variants)
    warm_up_prefect(bench)
    e2e, notes = e2e_rows(bench)
    rows += e2e
    print()
    print_table(rows, floor_row, old_row)
    print()
    if not seven:
        print("old pipeline skipped: no 7z (apt-get install 7zip)")
    notes.append(server_note(bench))
    small = [
        make_comic(tmp / "batch" / f"small {n}.cbz", title=f"Small {n}", pages=args.batch_pages,
                   size=args.size, seed=100 + n).path
        for n in range(args.batch)
    ]  # fmt: skip
    for line in [*notes, *batch_notes(bench, small)]:
        print(line, flush=True)
    for line in scan_notes(bench, args.scan_files):
        print(line, flush=True)
    print(prep_note(bench, args.big_pages, args.size), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def make_bench(args: argparse.Namespace, tmp: Path) -> Bench:
    comic = make_comic(
        tmp / "bench.cbz", title="Bench", pages=args.pages, size=args.size, seed=2024
    )
    pages_dir = tmp / "pages"
    with zipfile.ZipFile(comic.path) as archive:
        archive.extractall(pages_dir)  # our own generated archive: safe to extract plainly
    pages = sorted(pages_dir.glob("*.jpg"))
    return Bench(tmp, comic, pages, os.cpu_count() or 1, tmp / "bench.log")


if __name__ == "__main__":
    sys.exit(main())
