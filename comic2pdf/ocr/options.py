"""The ocrmypdf options we set, and the command line they make."""

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OcrOptions:
    """Every ocrmypdf option we set. All of them change the output: they go in the profile."""

    languages: tuple[str, ...] = ("eng",)
    jobs: int = 1
    #: "comic": our engine (comic2pdf.ocr.engine) reads the page region by region;
    #: "page": ocrmypdf's own whole-page Tesseract.
    mode: str = "comic"
    rotate_pages: bool = False
    deskew: bool = False
    optimize: int = 0
    output_type: str = "pdf"
    downsample_above: int = 0  # off, as OCR_DOWNSAMPLE_ABOVE: shrinking lettering costs words
    tesseract_timeout: float = 180.0
    #: Rasterize one-JPEG pages by decoding the JPEG at Tesseract's size
    #: (comic2pdf.ocr.raster): faster, and Tesseract sees slightly other pixels.
    fast_raster: bool = True

    def profile(self) -> dict[str, object]:
        """The options that change the output, in a JSON-friendly form (jobs does not)."""
        return {
            "languages": sorted(set(self.languages)),
            "mode": self.mode,
            "rotate_pages": self.rotate_pages,
            "deskew": self.deskew,
            "optimize": self.optimize,
            "output_type": self.output_type,
            "downsample_above": self.downsample_above,
            "tesseract_timeout": self.tesseract_timeout,
            "fast_raster": self.fast_raster,
        }


def ocrmypdf_args(raw_pdf: Path, final_pdf: Path, sidecar: Path, options: OcrOptions) -> list[str]:
    """The ocrmypdf command line for comics (see README "Performance" for why)."""
    args = [
        "--plugin", "comic2pdf.ocr.progress",
        "--output-type", options.output_type,
        "--optimize", str(options.optimize),
        "--jobs", str(options.jobs),
        "--language", "+".join(options.languages),
        "--tesseract-timeout", f"{options.tesseract_timeout:g}",
        "--sidecar", os.fspath(sidecar),
    ]  # fmt: skip
    if options.fast_raster:
        args += ["--plugin", "comic2pdf.ocr.raster"]
    if options.mode == "comic":
        # The engine scales each region to the size its lettering needs: it
        # reads the page at full resolution, never downsampled.
        args += ["--plugin", "comic2pdf.ocr.engine"]
        # ocrmypdf runs its page workers as threads unless told otherwise; the
        # engine's region finding is Python and numpy under the GIL, so pages
        # in threads wait on each other. Processes: same CPU, ~20 % less wall
        # on the synthetic comic (README "Cost (synthetic comic)").
        args.append("--no-use-threads")
    elif options.downsample_above:
        args += [
            "--tesseract-downsample-large-images",
            "--tesseract-downsample-above", str(options.downsample_above),
        ]  # fmt: skip
    if options.rotate_pages:
        args.append("--rotate-pages")
    if options.deskew:
        args.append("--deskew")
    return [*args, os.fspath(raw_pdf), os.fspath(final_pdf)]
