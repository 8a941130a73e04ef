"""Word recall on real comic pages: the dev corpus ``../shared/comics-dev`` (issue #12).

Its 17 pages come from four sources; ``build_cbz.py`` packs one archive per source and
``recall.py`` scores the text (multiset word recall and precision, micro-averaged over
words). Every variant reads the same pages in the same run:

- bare Tesseract: ``tesseract IMG OUT`` (psm 3) on each page image, one process per core;
- ocrmypdf defaults: ``ocrmypdf raw.pdf out.pdf`` on the raw.pdf our prep makes;
- ``comic2pdf convert`` of the four archives with ``OCR_MODE=page`` and ``OCR_MODE=comic``
  (plus, as references, the defaults before issue #12 and page mode with one speed setting
  changed), the text of page N taken with ``pdftotext -f N -l N``.

CPU seconds per page: of the Tesseract processes, of ocrmypdf, or of the OCR child of
``comic2pdf convert`` (its own and its tools', read at its last sample, per archive):
Prefect's own cost is left out there, the end-to-end rows of the synthetic bench show it.
"""

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from bench.measure import BIN, Usage, prefect_env, run
from bench.prefect_runs import convert_comics, warm_up_prefect
from bench.synthetic import prepare_raw_pdf

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "comics-dev"
CELL = 27  # width of a recall/precision column

#: The variants run through `comic2pdf convert`: name -> environment changes.
CONVERT_VARIANTS = {
    "comic2pdf convert, OCR_MODE=page": {"OCR_MODE": "page"},
    "comic2pdf convert, OCR_MODE=comic": {"OCR_MODE": "comic"},
}
#: References kept out of `--quick`: the defaults before issue #12, and each speed setting.
REFERENCE_VARIANTS = {
    "  … page, before #12 (OCR_DPI=300, downsample 1200)": {
        "OCR_MODE": "page", "OCR_DPI": "300", "OCR_DOWNSAMPLE_ABOVE": "1200",
    },
    "  … page, OCR_DOWNSAMPLE_ABOVE=1200": {"OCR_MODE": "page", "OCR_DOWNSAMPLE_ABOVE": "1200"},
    "  … page, OCR_FAST_RASTER=false": {"OCR_MODE": "page", "OCR_FAST_RASTER": "false"},
}  # fmt: skip


@dataclass
class Archive:
    """One source of the corpus, packed as a .cbz; its pages in reading order."""

    source: str
    cbz: Path
    stems: list[str]

    def images(self) -> list[Path]:
        return [next((CORPUS / "pages").glob(f"{stem}.*")) for stem in self.stems]


@dataclass
class Variant:
    """What one variant read on every page, and what it cost per source."""

    name: str
    texts: dict[str, str] = field(default_factory=dict)  # page stem -> text
    cpu: dict[str, float] = field(default_factory=dict)  # source -> CPU seconds


def scorer() -> ModuleType:
    """The corpus's own ``recall.py`` (stdlib only), loaded from where it lies."""
    spec = importlib.util.spec_from_file_location("comics_dev_recall", CORPUS / "recall.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_archives(folder: Path) -> list[Archive]:
    """One .cbz per source, made by the corpus's ``build_cbz.py``."""
    subprocess.run(
        [sys.executable, CORPUS / "build_cbz.py", folder], check=True, capture_output=True
    )
    pages = json.loads((folder / "cbz_pages.json").read_text())
    return [Archive(cbz.removesuffix(".cbz"), folder / cbz, stems) for cbz, stems in pages.items()]


def pdf_page_texts(pdf: Path, stems: list[str]) -> dict[str, str]:
    """Page N's text with ``pdftotext -f N -l N``, keyed by the N-th stem."""
    texts = {}
    for number, stem in enumerate(stems, start=1):
        texts[stem] = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), os.fspath(pdf), "-"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    return texts


# --- the variants -----------------------------------------------------------------------


def bare_tesseract(archives: list[Archive], folder: Path, *, log: Path, cores: int) -> Variant:
    variant = Variant("tesseract IMG - (psm 3)")
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}  # one thread each, one process per core
    for archive in archives:
        commands = [
            ["tesseract", image, folder / stem, "-l", "eng"]
            for image, stem in zip(archive.images(), archive.stems, strict=True)
        ]
        variant.cpu[archive.source] = run(commands, log=log, parallel=cores, env=env).cpu
        for stem in archive.stems:
            variant.texts[stem] = (folder / f"{stem}.txt").read_text()
    return variant


def ocrmypdf_defaults(archives: list[Archive], folder: Path, *, log: Path) -> Variant:
    variant = Variant("ocrmypdf defaults on our raw.pdf")
    for archive in archives:
        raw = prepare_raw_pdf(archive.cbz, folder / archive.source)
        out = raw.with_name("ocrmypdf.pdf")
        variant.cpu[archive.source] = run([[BIN / "ocrmypdf", raw, out]], log=log).cpu
        variant.texts |= pdf_page_texts(out, archive.stems)
    return variant


def converted(
    name: str, archives: list[Archive], folder: Path, *, log: Path, env: dict[str, str]
) -> Variant:
    """`comic2pdf convert` of all the archives in one call, in the environment *env*."""
    usage = convert_comics([a.cbz for a in archives], folder, log=log, env=env)
    variant = Variant(name)
    for archive, cpu in zip(archives, _per_ocr_child(usage, len(archives)), strict=True):
        variant.cpu[archive.source] = cpu
        variant.texts |= pdf_page_texts(folder / "out" / f"{archive.source}.pdf", archive.stems)
    return variant


def _per_ocr_child(usage: Usage, expected: int) -> list[float]:
    """CPU seconds of each OCR child, in the order they ran (archives convert in order)."""
    if len(usage.span_cpu) != expected:
        return [float("nan")] * expected
    return usage.span_cpu


# --- running and printing -------------------------------------------------------------------


def recall_variants(
    archives: list[Archive], tmp: Path, *, log: Path, cores: int, references: bool
) -> list[Variant]:
    """Every variant on the corpus, in the order of the table."""
    folder = tmp / "real"
    steps: list[Callable[[], Variant]] = [
        lambda: bare_tesseract(archives, _mkdir(folder / "tesseract"), log=log, cores=cores),
        lambda: ocrmypdf_defaults(archives, _mkdir(folder / "ocrmypdf"), log=log),
    ]
    env = prefect_env(tmp)
    table = CONVERT_VARIANTS | (REFERENCE_VARIANTS if references else {})
    for number, (name, changes) in enumerate(table.items()):
        target = folder / f"convert-{number}"
        steps.append(
            lambda n=name, t=target, e=env | changes: converted(n, archives, t, log=log, env=e)
        )
    warm_up_prefect(log=log, env=env)
    variants = []
    for step in steps:
        variants.append(step())
        print(f"  measured: {variants[-1].name}", flush=True)
    return variants


def print_recall_table(variants: list[Variant], archives: list[Archive]) -> None:
    """Recall/precision per source and overall (micro-averaged), CPU s per page."""
    score = scorer().score
    truth = {
        stem: (CORPUS / "truth" / f"{stem}.txt").read_text(encoding="utf-8")
        for archive in archives
        for stem in archive.stems
    }
    groups = {a.source: a.stems for a in archives} | {"overall": list(truth)}
    words = {name: sum(score(truth[s], "")[1] for s in stems) for name, stems in groups.items()}
    header = f"{'variant':<52}" + "".join(f"{f'{n} ({words[n]})':>{CELL}}" for n in groups)
    print(header + f"{'CPU s/page':>11}")
    print(f"{'':<52}" + f"{'recall/precision':>{CELL}}" * len(groups))
    for variant in variants:
        cells = []
        for stems in groups.values():
            scores = [score(truth[stem], variant.texts[stem]) for stem in stems]
            matched, n_truth, n_got = (sum(column) for column in zip(*scores, strict=True))
            cells.append(f"{matched / n_truth:.3f}/{matched / max(n_got, 1):.3f}")
        per_page = sum(variant.cpu.values()) / len(truth)
        print(f"{variant.name:<52}" + "".join(f"{c:>{CELL}}" for c in cells) + f"{per_page:>11.2f}")


def cpu_per_page(variant: Variant, archive: Archive) -> float:
    return variant.cpu[archive.source] / len(archive.stems)


def mode_targets(variants: list[Variant], archives: list[Archive]) -> list[str]:
    """Issue #12's cost target: comic mode vs page mode on the same ~1000x1500 pages."""
    named = {v.name: v for v in variants}
    page = named.get("comic2pdf convert, OCR_MODE=page")
    comic = named.get("comic2pdf convert, OCR_MODE=comic")
    if page is None or comic is None:
        return []
    lines = []
    for archive in archives[:1]:  # Pepper&Carrot: 992x1373 pages, the size the target names
        ours, theirs = cpu_per_page(comic, archive), cpu_per_page(page, archive)
        lines.append(
            f"target: OCR_MODE=comic on {archive.source} ({len(archive.stems)} pages): "
            f"{ours:.2f} CPU s/page (target <= 2.0) = {ours / theirs:.2f}x OCR_MODE=page's "
            f"{theirs:.2f} (target <= 4x)"
        )
    return lines


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
