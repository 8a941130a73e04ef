"""Benchmark of issue #17: `comic2pdf convert` against ocrmypdf alone on the same pages.

    .venv/bin/python bench/convert_speed.py            # make bench runs this
    .venv/bin/python bench/convert_speed.py --quick    # small pages, 3 comics: checks the script

Rows, each measured in this run, the two sides alternating (A B A B…) so the
machine's drift hits both:

1. `comic2pdf convert` of one 3-page 1600×2400 comic (no Prefect API: no server)
   vs `ocrmypdf` with the options comic2pdf passes, on the raw.pdf comic2pdf's prep
   makes of the same pages. Target: convert ≤ ocrmypdf + 1.5 s (median walls).
2. 20 such comics in one `convert` call vs the sum of ocrmypdf's times on their
   raw PDFs, run one after the other. Target: ≤ 1.1×.
3. For reference, one run of `convert --prefect` (Prefect's temporary server).

Nothing is asserted: the script prints the figures and the targets beside them.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python bench/convert_speed.py` from anywhere

from comic2pdf.ocr import ocrmypdf_args  # noqa: E402
from comic2pdf.pipeline.stages import ocr_options, prepare  # noqa: E402
from comic2pdf.samples import make_comic  # noqa: E402
from comic2pdf.settings import load_settings  # noqa: E402

BIN = Path(sys.executable).parent


def timed(argv: Sequence[object], *, env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall s, CPU s of it and the descendants it waited for) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with log.open("a") as out:
        done = subprocess.run([os.fspath(a) for a in argv], env=env, stdout=out, stderr=out)
    if done.returncode != 0:
        print(f"exit {done.returncode}: {subprocess.list2cmdline(done.args)} (see {log})")
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


class Bench:
    def __init__(self, tmp: Path, *, size: tuple[int, int], pages: int) -> None:
        self.tmp, self.size, self.pages = tmp, size, pages
        self.log = Path(tempfile.gettempdir()) / "convert-speed.log"  # kept after the run
        self.log.write_text("")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        self.env |= {"DATA_DIR": os.fspath(tmp / "data"), "PREFECT_HOME": os.fspath(tmp / "pf")}
        self.env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        self.settings = load_settings(data_dir=tmp / "data")
        self.runs = 0

    def comic(self, seed: int) -> tuple[Path, Path]:
        """A sample comic and the raw.pdf comic2pdf's prep makes of it (untimed)."""
        folder = self.tmp / f"comic-{seed}"
        comic = make_comic(
            folder / f"Bench {seed:02d}.cbz", title=f"Bench {seed}", pages=self.pages,
            size=self.size, seed=seed,
        ).path  # fmt: skip
        work = folder / "work"
        work.mkdir()
        raw = prepare(archive=comic, work=work, identity="bench", settings=self.settings).raw_pdf
        return comic, raw

    def convert(self, comics: Sequence[Path], *options: str) -> tuple[float, float]:
        self.runs += 1
        out = self.tmp / f"out-{self.runs}"
        argv = [BIN / "comic2pdf", "convert", "--quiet", *options, *comics, "--out", out]
        return timed(argv, env=self.env, log=self.log)

    def ocrmypdf(self, raws: Sequence[Path]) -> tuple[float, float]:
        """ocrmypdf on each raw PDF in turn, with comic2pdf's options; the summed cost."""
        wall = cpu = 0.0
        for raw in raws:
            self.runs += 1
            out = self.tmp / f"ocrmypdf-{self.runs}.pdf"
            args = ocrmypdf_args(raw, out, out.with_suffix(".txt"), ocr_options(self.settings))
            run_wall, run_cpu = timed([BIN / "ocrmypdf", *args], env=self.env, log=self.log)
            wall, cpu = wall + run_wall, cpu + run_cpu
        return wall, cpu


def alternate(a, b, rounds: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Run *a* and *b* in turn, *rounds* times each (b first every other round)."""
    results_a, results_b = [], []
    for number in range(rounds):
        pair = [(a, results_a), (b, results_b)]
        for run, results in pair if number % 2 == 0 else reversed(pair):
            results.append(run())
    return results_a, results_b


def median(results: list[tuple[float, float]]) -> tuple[float, float]:
    return (
        statistics.median(wall for wall, _ in results),
        statistics.median(cpu for _, cpu in results),
    )


def row(name: str, results: list[tuple[float, float]]) -> str:
    wall, cpu = median(results)
    walls = ", ".join(f"{w:.2f}" for w, _ in results)
    return f"| {name} | {wall:.2f} | {cpu:.2f} | {walls} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small pages, 3 comics, 1 round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of row 1")
    parser.add_argument("--batch", type=int, default=20, help="comics of row 2")
    parser.add_argument("--batch-rounds", type=int, default=2, help="alternating runs of row 2")
    args = parser.parse_args(argv)
    size, pages = ((800, 1200), 1) if args.quick else ((1600, 2400), 3)
    if args.quick:
        args.rounds, args.batch, args.batch_rounds = 1, 3, 1
    with tempfile.TemporaryDirectory(prefix="convert-speed-") as tmp:
        bench = Bench(Path(tmp), size=size, pages=pages)
        print(f"pages {size[0]}×{size[1]}, {pages} per comic; {os.cpu_count()} CPUs")
        print("| run | median wall s | median CPU s | walls |\n|---|---|---|---|")
        one, one_raw = bench.comic(1)
        conv, ocr = alternate(lambda: bench.convert([one]), lambda: bench.ocrmypdf([one_raw]),
                              args.rounds)  # fmt: skip
        print(row("`comic2pdf convert`, 1 comic", conv))
        print(row("ocrmypdf, same options, its raw.pdf", ocr))
        gap = median(conv)[0] - median(ocr)[0]
        made = [bench.comic(seed) for seed in range(100, 100 + args.batch)]
        comics, raws = [c for c, _ in made], [r for _, r in made]
        batch, summed = alternate(lambda: bench.convert(comics), lambda: bench.ocrmypdf(raws),
                                  args.batch_rounds)  # fmt: skip
        print(row(f"`comic2pdf convert`, {args.batch} comics in one call", batch))
        print(row(f"ocrmypdf on each of the {args.batch}, summed", summed))
        print(row("`comic2pdf convert --prefect`, 1 comic (temporary server)",
                  [bench.convert([one], "--prefect")]))  # fmt: skip
        ratio = median(batch)[0] / median(summed)[0]
        print(f"\n1 comic: convert − ocrmypdf = {gap:+.2f} s (target ≤ +1.5 s)")
        print(f"{args.batch} comics: convert / Σ ocrmypdf = {ratio:.2f}× (target ≤ 1.10×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
