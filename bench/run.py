"""`make bench`: comic2pdf's recall on real comics, its cost against the Tesseract floor.

    make bench                                   # everything
    .venv/bin/python bench/run.py --only recall  # the real-pages recall table alone
    .venv/bin/python bench/run.py --quick        # small inputs: checks the script, proves nothing

Four parts, each selectable with ``--only`` (repeatable):

- ``recall`` (``bench.realpages``): recall and precision per source and overall on the real
  pages of ``../shared/comics-dev``, CPU s per page, for bare Tesseract, ocrmypdf's defaults
  and ``comic2pdf convert`` in ``OCR_MODE=page`` and ``comic``;
- ``synthetic`` (``bench.synthetic``, ``bench.prefect_runs``): a generated 20-page comic
  through the Tesseract floor, the old pipeline, ocrmypdf with our arguments (and one change
  at a time) and ``comic2pdf convert`` end to end, with wall, CPU, ×floor and peak RSS;
- ``load`` (``bench.load``): batches, an idle scan of a large inbox, prep memory;
- ``batch`` (``bench.batch_server``): 16 small comics through ``scan --once`` against a
  Prefect server on SQLite and one on PostgreSQL: cores busy %, comics per minute.

All variants of a part run in the same run on the same pages. The script prints tables,
the issue targets as ratios measured in this run, and asserts nothing.
"""

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/run.py` from anywhere, without installing

from bench import realpages  # noqa: E402
from bench.load import batch_notes, prep_child, prep_note, scan_child, scan_notes  # noqa: E402
from bench.measure import read_text  # noqa: E402
from bench.prefect_runs import e2e_rows, server_note, warm_up_prefect  # noqa: E402
from bench.synthetic import (  # noqa: E402
    Bench,
    Row,
    floor,
    ocrmypdf_rows,
    old_pipeline,
    prepare_raw_pdf,
    print_table,
    seven_zip,
)
from comic2pdf.samples import make_comic  # noqa: E402

PARTS = ("recall", "synthetic", "load", "batch")


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
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    parser.add_argument("--prep-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scan-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.pages, args.size, args.batch, args.batch_pages = 3, "800x1200", 2, 2
        args.scan_files, args.big_pages, args.no_variants = 1000, 10, True
    args.only = args.only or list(PARTS)
    args.size = tuple(int(part) for part in args.size.lower().split("x"))
    return args


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in read_text("/proc/cpuinfo").splitlines()
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
    log = tmp / "bench.log"
    print(f"log: {log}")
    if "recall" in args.only:
        recall_part(args, tmp, log)
    if "synthetic" in args.only or "load" in args.only:
        bench = make_bench(args, tmp)
        if "synthetic" in args.only:
            synthetic_part(args, bench)
        if "load" in args.only:
            load_part(args, bench)
    if "batch" in args.only:
        batch_part(args)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def batch_part(args: argparse.Namespace) -> None:
    from bench import batch_server  # imports the test helpers: only when asked for

    print("\nbatch through `scan --once`, Prefect server on SQLite vs on PostgreSQL")
    comics, pages = ("2", "2") if args.quick else ("16", "4")
    batch_server.main(["--comics", comics, "--pages", pages])


def recall_part(args: argparse.Namespace, tmp: Path, log: Path) -> None:
    archives = realpages.build_archives(tmp / "real" / "cbz")
    if args.quick:
        archives = [a for a in archives if a.source == "xkcd"]
    pages = sum(len(a.stems) for a in archives)
    print(f"\nreal pages: {realpages.CORPUS} ({pages} pages, {len(archives)} sources)")
    variants = realpages.recall_variants(
        archives, tmp, log=log, cores=os.cpu_count() or 1, references=not args.quick
    )
    print()
    realpages.print_recall_table(variants, archives)
    print()
    for line in realpages.mode_targets(variants, archives):
        print(line)


def synthetic_part(args: argparse.Namespace, bench: Bench) -> None:
    w, h = args.size
    words = len(bench.comic.words)
    print(f"\nsynthetic comic: {args.pages} pages {w}x{h} JPEG, {words} words")
    floor_row = floor(bench)
    seven = seven_zip()
    old_row = old_pipeline(bench, seven) if seven else None
    raw = prepare_raw_pdf(bench.comic.path, bench.folder("prep"))
    rows = [floor_row, *([old_row] if old_row else [])]
    rows += ocrmypdf_rows(bench, raw, variants=not args.no_variants)
    warm_up_prefect(log=bench.log, env=bench.prefect_env)
    e2e, notes = e2e_rows(bench)
    rows += e2e
    print()
    print_table(rows, floor_row, old_row)
    print()
    if not seven:
        print("old pipeline skipped: no 7z (apt-get install 7zip)")
    print(e2e_target(e2e[0], floor_row, args.pages))
    for line in [*notes, server_note(bench)]:
        print(line, flush=True)


def e2e_target(convert_row: Row, floor_row: Row, pages: int) -> str:
    wall = convert_row.usage.wall / floor_row.usage.wall
    cpu = convert_row.usage.cpu / floor_row.usage.cpu
    return (
        f"target: comic2pdf convert of the {pages}-page comic = {wall:.2f}x the Tesseract "
        f"floor's wall time in this run (target <= 2.5x); {cpu:.2f}x its CPU time"
    )


def load_part(args: argparse.Namespace, bench: Bench) -> None:
    print()
    small = [
        make_comic(bench.tmp / "batch" / f"small {n}.cbz", title=f"Small {n}",
                   pages=args.batch_pages, size=args.size, seed=100 + n).path
        for n in range(args.batch)
    ]  # fmt: skip
    for line in batch_notes(bench, small):
        print(line, flush=True)
    for line in scan_notes(bench, args.scan_files):
        print(line, flush=True)
    print(prep_note(bench, args.big_pages, args.size), flush=True)


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
