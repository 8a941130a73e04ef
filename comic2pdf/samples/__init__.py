"""Deterministic sample comics whose speech balloons hold known words.

For demos, tests and benchmarks: each page looks like a comic page as scanned
for the screen (72 dpi, colour panels with art, white balloons with black
outlines, capitals lettered ~9 px tall) and the words in its balloons, with the
balloons' boxes, are returned, so OCR can be checked against ground truth. The
same arguments always give the same bytes.

``python -m comic2pdf.samples DEST`` writes the demo set into ``DEST``.
"""

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from comic2pdf.errors import MissingTool
from comic2pdf.samples.drawing import WORDS, Balloon, draw_balloon_page, draw_page
from comic2pdf.samples.files import (
    CONTAINERS,
    ENTRY_DATE,
    EXTENSIONS,
    JPEG_QUALITY,
    comicinfo_xml,
    encode,
    write_archive,
)

__all__ = [
    "ENTRY_DATE",
    "JPEG_QUALITY",
    "WORDS",
    "Balloon",
    "MissingTool",
    "SampleComic",
    "draw_balloon_page",
    "draw_page",
    "generate_samples",
    "main",
    "make_comic",
]


@dataclass(frozen=True)
class SampleComic:
    """A generated comic and the words printed in its balloons."""

    path: Path
    pages: int
    words: list[str]  # all pages, in reading order
    page_words: list[list[str]] = field(default_factory=list)  # the same, page by page
    page_balloons: list[list[Balloon]] = field(default_factory=list)  # page by page


def make_comic(
    path: Path,
    *,
    title: str,
    pages: int = 4,
    size: tuple[int, int] = (800, 1200),
    seed: int = 0,
    image_format: str | Sequence[str] = "JPEG",
    container: str = "zip",
    comicinfo: bool = True,
    page_name: str = "page {n:03d}",
) -> SampleComic:
    """Write a sample comic archive to ``path`` and return what it contains.

    ``image_format`` is "JPEG", "PNG" or a sequence of them used in turn, page
    by page. ``page_name`` is the entry name without extension, ``{n}`` being
    the page number from 1; it may contain folders ("chapter 1/page {n}").
    ``container`` is "zip", "7z" or "tar".
    """
    if container not in CONTAINERS:
        raise ValueError(f"container must be one of {sorted(CONTAINERS)}, not {container!r}")
    formats = [image_format] if isinstance(image_format, str) else list(image_format)
    if not formats or set(formats) - EXTENSIONS.keys():
        raise ValueError(f"image_format must be JPEG, PNG or a sequence of them: {image_format!r}")
    rng = random.Random(seed)
    entries: dict[str, bytes] = {}
    page_balloons = []
    for n in range(1, pages + 1):
        image, balloons = draw_balloon_page(rng, size)
        page_format = formats[(n - 1) % len(formats)]
        entries[page_name.format(n=n) + EXTENSIONS[page_format]] = encode(image, page_format)
        page_balloons.append(balloons)
    page_words = [[word for balloon in page for word in balloon.words] for page in page_balloons]
    if comicinfo:
        entries["ComicInfo.xml"] = comicinfo_xml(title, pages=pages)
    write_archive(path, entries, container)
    return SampleComic(
        path=path,
        pages=pages,
        words=[word for words in page_words for word in words],
        page_words=page_words,
        page_balloons=page_balloons,
    )


def generate_samples(dest: Path) -> list[SampleComic]:
    """Write the demo set: a JPEG .cbz, a PNG .cb7, and nested folders with mixed pages."""
    dest.mkdir(parents=True, exist_ok=True)
    return [
        make_comic(dest / "Harbor Days.cbz", title="Harbor Days", pages=4, seed=1),
        make_comic(
            dest / "Night Garden.cb7",
            title="Night Garden",
            pages=3,
            seed=2,
            image_format="PNG",
            container="7z",
        ),
        # Eleven pages named "page 1" … "page 11" in a folder: only a natural
        # sort puts "page 2" before "page 10".
        make_comic(
            dest / "Long Road.cbz",
            title="Long Road",
            pages=11,
            seed=3,
            image_format=("JPEG", "PNG"),
            page_name="chapter 1/page {n}",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Write the demo comics into DEST and print their paths."""
    parser = argparse.ArgumentParser(prog="python -m comic2pdf.samples", description=__doc__)
    parser.add_argument("dest", type=Path, help="folder to write the sample comics into")
    args = parser.parse_args(argv)
    for comic in generate_samples(args.dest):
        print(comic.path)
    return 0
