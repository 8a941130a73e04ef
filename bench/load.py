"""Batches, an idle inbox scan and the memory of prep on a long comic."""

import json
import os
import sys
import time
from pathlib import Path

from bench.measure import MB, Usage, read_text, run
from bench.prefect_runs import convert, scan_once
from bench.synthetic import Bench, our_ocrmypdf_argv, prepare_raw_pdf
from comic2pdf.samples import make_comic

RESULT = "bench-result: "  # marks the JSON line of a child among Prefect's log lines
RUN = Path(__file__).resolve().with_name("run.py")  # children are `run.py --scan-child` etc.


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
    usage = run([[sys.executable, RUN, "--scan-child"]], log=data / "child.log", env=env)
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
    from comic2pdf.settings import load_settings

    imported = _vm_hwm()
    limits = ExtractLimits(1 << 40, 100_000, 1000.0, 200_000_000)
    extraction = extract_pages(archive, work / "extract", limits=limits)
    metadata = read_comicinfo(extraction.comicinfo) if extraction.comicinfo else None
    pages = build_raw_pdf(
        [page.path for page in extraction.pages], work / "raw.pdf", dpi=load_settings().ocr_dpi,
        scratch=work / "convert", metadata=metadata,
    )  # fmt: skip
    print(RESULT + json.dumps({"imports": imported, "peak": _vm_hwm(), "pages": pages}))


def _vm_hwm() -> int:
    """This process's peak RSS in bytes."""
    line = next(x for x in read_text("/proc/self/status").splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def prep_note(bench: Bench, pages: int, size: tuple[int, int]) -> str:
    work = bench.folder("prep-big")
    comic = make_comic(work / "big.cbz", title="Big", pages=pages, size=size, seed=300)
    log = work / "child.log"
    usage = run([[sys.executable, RUN, "--prep-child", comic.path, work]], log=log)
    child = child_result(usage)
    return (
        f"prep (extract + raw.pdf) of a {child['pages']}-page comic "
        f"({comic.path.stat().st_size / MB:.0f} MB): {usage.wall:.1f} s, "
        f"peak RSS {child['peak'] / MB:.0f} MB (imports alone {child['imports'] / MB:.0f} MB)"
    )
