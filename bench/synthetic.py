"""The synthetic comic's variants: Tesseract floor, old pipeline, ocrmypdf with our arguments.

Every input comes from ``comic2pdf.samples`` (the words in the balloons are the ground
truth), so recall here is a check that no variant loses the easy words, not a measure
of real comics (see ``bench.realpages``).
"""

import dataclasses
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.measure import BIN, MB, Usage, prefect_env, run
from comic2pdf.samples import SampleComic

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
        return prefect_env(self.tmp)

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
            "  … --tesseract-downsample-above 1200": ({"downsample_above": 1200}, []),
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
