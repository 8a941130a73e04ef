"""Find the external programs once, before any work, and report their versions."""

import functools
import shutil
import subprocess
from importlib import metadata

from comic2pdf.errors import MissingTool

# Debian/Ubuntu package that provides each program, for the install advice.
_PACKAGES = {"tesseract": "tesseract-ocr", "gs": "ghostscript"}
_PROBE_TIMEOUT_SECONDS = 30


def _version_line(program: str, flag: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingTool(
            f"'{program}' is not installed: apt-get install {_PACKAGES[program]}"
            " (or run make setup)"
        )
    out = subprocess.run(  # noqa: S603 - fixed argv
        [path, flag], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_SECONDS, check=False
    )
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


@functools.cache
def tesseract_version() -> str:
    return _version_line("tesseract", "--version").removeprefix("tesseract ").strip()


@functools.cache
def ghostscript_version() -> str:
    return _version_line("gs", "--version")


@functools.cache
def tesseract_languages() -> frozenset[str]:
    """Languages Tesseract has data for (``tesseract --list-langs``)."""
    tesseract_version()  # raises MissingTool with advice when absent
    out = subprocess.run(  # noqa: S603 - fixed argv
        ["tesseract", "--list-langs"],
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    return frozenset(line.strip() for line in out.stdout.splitlines()[1:] if line.strip())


def check_languages(languages: list[str]) -> None:
    """Fail before any work if Tesseract lacks one of *languages*."""
    missing = sorted(set(languages) - tesseract_languages())
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise MissingTool(
            f"Tesseract has no data for {', '.join(missing)}: apt-get install {packages}"
        )


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of everything that shapes the output; probed once per process."""
    from comic2pdf.archive import extractor_versions  # archive imports Pillow etc.

    return {
        "comic2pdf": package_version("comic2pdf"),
        "ocrmypdf": package_version("ocrmypdf"),
        "tesseract": tesseract_version(),
        "ghostscript": ghostscript_version(),
        "img2pdf": package_version("img2pdf"),
        **extractor_versions(),
    }
