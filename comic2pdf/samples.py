"""Deterministic sample comics whose speech balloons hold known words.

For demos, tests and benchmarks: each page looks like a comic page as scanned
for the screen (72 dpi, colour panels with art, white balloons with black
outlines, capitals lettered ~9 px tall) and the words in its balloons, with the
balloons' boxes, are returned, so OCR can be checked against ground truth. The
same arguments always give the same bytes.

``python -m comic2pdf.samples DEST`` writes the demo set into ``DEST``.
"""

import argparse
import functools
import io
import os
import random
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import py7zr
from PIL import Image, ImageDraw, ImageFont

from comic2pdf.errors import MissingTool

#: Ordinary English words, 4 to 7 letters, that Tesseract reads without trouble.
WORDS = (
    "apple", "bread", "river", "garden", "window", "yellow", "orange", "people", "market",
    "summer", "winter", "forest", "candle", "dinner", "silver", "planet", "pocket", "rabbit",
    "basket", "bridge", "butter", "castle", "doctor", "engine", "farmer", "flower", "friend",
    "guitar", "hammer", "island", "jacket", "kitten", "ladder", "letter", "monkey", "number",
    "office", "pencil", "pepper", "rocket", "school", "shadow", "spring", "street", "sunday",
    "ticket", "tomato", "travel", "valley", "wallet", "water", "house", "horse", "table",
    "chair", "cloud", "dream", "green", "happy", "heart", "light", "money", "music", "night",
    "ocean", "paper", "party", "phone", "queen", "radio", "storm", "sugar", "train", "truck",
    "under", "voice", "watch", "world", "young", "zebra", "morning", "evening", "kitchen",
    "picture", "station", "weather", "captain", "blanket", "village", "holiday",
)  # fmt: skip

#: Saturated panels and darker art with black ink lines, as real comics have:
#: the pages must be as hard for whole-page Tesseract as real ones (it drops
#: text ringed by a dark outline or standing near dark art).
PANEL_COLOURS = ("#e76f51", "#2a9d8f", "#8e7dbe", "#d1495b", "#edae49", "#00798c", "#6a994e")
SHAPE_COLOURS = ("#264653", "#582f0e", "#3d405b", "#7f5539", "#1d3557", "#6d597a", "#386641")
BALLOON_OUTLINE = "black"
#: An ellipse around a text block must be about sqrt(2) times as wide and high.
ELLIPSE_STRETCH = 1.44
#: Resolution written into the page images: screen scans of comics declare 72.
PAGE_DPI = 72
#: Font size of the lettering in pixels on a page 800 px wide (in proportion on
#: others): DejaVu Sans Bold capitals are 0.73 em, so ~9.5 px tall, what a
#: comic scanned for the screen has.
LETTER_SIZE_PX = 13
LETTER_SIZE_WIDTH = 800

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png"}
CONTAINERS = {"zip": ".cbz", "7z": ".cb7", "tar": ".cbt"}

#: Fixed timestamp of every archive entry (2020-01-01 00:00:00 UTC).
ENTRY_DATE = (2020, 1, 1, 0, 0, 0)
ENTRY_EPOCH = 1577836800

JPEG_QUALITY = 90
FONT_NAME = "DejaVuSans-Bold.ttf"
FONT_ROOT = Path("/usr/share/fonts")


@dataclass(frozen=True)
class Balloon:
    """A speech balloon: its box on the page (left, top, right, bottom) and its words."""

    box: tuple[int, int, int, int]
    words: list[str]


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
        entries[page_name.format(n=n) + EXTENSIONS[page_format]] = _encode(image, page_format)
        page_balloons.append(balloons)
    page_words = [[word for balloon in page for word in balloon.words] for page in page_balloons]
    if comicinfo:
        entries["ComicInfo.xml"] = comicinfo_xml(title, pages=pages)
    _write_archive(path, entries, container)
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


# --- drawing -----------------------------------------------------------------------


def draw_page(rng: random.Random, size: tuple[int, int]) -> tuple[Image.Image, list[str]]:
    """Draw one page; return it with the words of its balloons in reading order."""
    page, balloons = draw_balloon_page(rng, size)
    return page, [word for balloon in balloons for word in balloon.words]


def draw_balloon_page(
    rng: random.Random, size: tuple[int, int]
) -> tuple[Image.Image, list[Balloon]]:
    """Draw one page; return it with its balloons (boxes and words) in reading order."""
    width, height = size
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    font = _font(round(LETTER_SIZE_PX * max(1.0, width / LETTER_SIZE_WIDTH)))
    line = max(2, width // 300)
    panels = _panels(rng, width, height)
    for box in panels:
        draw.rectangle(box, fill=rng.choice(PANEL_COLOURS), outline="black", width=line)
        _draw_shapes(draw, rng, box)
    unused = rng.sample(WORDS, len(WORDS))  # no word twice on a page
    balloons = []
    for box in panels[: rng.randint(2, min(3, len(panels)))]:
        balloon = _draw_balloon(draw, box, unused[: rng.randint(3, 6)], font, line)
        if balloon is not None:
            unused = unused[len(balloon.words) :]
            balloons.append(balloon)
    return page, balloons


def _panels(rng: random.Random, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Split the page into 2–3 rows of 1–2 panels, in reading order."""
    margin = width // 25
    rows = rng.randint(2, 3)
    row_height = (height - margin * (rows + 1)) // rows
    panels = []
    for row in range(rows):
        top = margin + row * (row_height + margin)
        columns = rng.randint(1, 2)
        column_width = (width - margin * (columns + 1)) // columns
        for column in range(columns):
            left = margin + column * (column_width + margin)
            panels.append((left, top, left + column_width, top + row_height))
    return panels


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, ...]) -> None:
    """Draw hatching over the panel, then shapes inked in black in its lowest 30 %."""
    left, top, right, bottom = box
    slant = (bottom - top) // 3
    for x in range(left + slant + rng.randint(5, 30), right - 4, rng.randint(25, 60)):
        draw.line((x, top + 4, x - slant, bottom - 4), fill=rng.choice(SHAPE_COLOURS))
    floor = top + (bottom - top) * 7 // 10
    for _ in range(rng.randint(1, 3)):
        w = rng.randint((right - left) // 8, (right - left) // 3)
        h = rng.randint((bottom - floor) // 3, (bottom - floor) * 2 // 3)
        x = rng.randint(left + 10, right - w - 10)
        y = rng.randint(floor, bottom - h - 10)
        colour = rng.choice(SHAPE_COLOURS)
        kind = rng.choice(("ellipse", "rectangle", "triangle"))
        if kind == "ellipse":
            draw.ellipse((x, y, x + w, y + h), fill=colour, outline="black", width=2)
        elif kind == "rectangle":
            draw.rectangle((x, y, x + w, y + h), fill=colour, outline="black", width=2)
        else:
            triangle = [(x, y + h), (x + w // 2, y), (x + w, y + h)]
            draw.polygon(triangle, fill=colour, outline="black", width=2)


def _draw_balloon(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, ...],
    words: list[str],
    font: ImageFont.FreeTypeFont,
    line: int,
) -> Balloon | None:
    """Draw a speech balloon at the top of a panel, lettered in capitals.

    As many of ``words`` as fit in the upper 70 % of the panel; None if none fits.
    """
    left, top, right, bottom = box
    inner = round(font.size * 0.6)  # white between the text and the outline
    margin = round(font.size * 0.7)  # between the balloon and the panel's border
    spacing = round(font.size * 1.25)
    room_w = right - left - 2 * margin
    room_h = (bottom - top) * 0.7 - 2 * margin
    words = [word.upper() for word in words]
    for count in range(len(words), 0, -1):
        lines = _wrap(words[:count], font, max_width=(room_w - 2 * inner) / ELLIPSE_STRETCH)
        half_w = round(max(map(font.getlength, lines)) * ELLIPSE_STRETCH / 2) + inner
        half_h = round(spacing * len(lines) * ELLIPSE_STRETCH / 2) + inner
        if 2 * half_w <= room_w and 2 * half_h <= room_h:
            break
    else:
        return None
    cx = (left + right) // 2
    cy = top + margin + half_h
    tail = [(cx - inner, cy), (cx, cy), (cx - 2 * inner, cy + half_h + 2 * inner)]
    draw.polygon(tail, fill="white", outline=BALLOON_OUTLINE, width=line)
    ellipse = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    draw.ellipse(ellipse, fill="white", outline=BALLOON_OUTLINE, width=line)
    for i, text in enumerate(lines):
        y = cy + spacing * (i + 0.5 - len(lines) / 2)
        draw.text((cx, y), text, font=font, fill="black", anchor="mm")
    return Balloon(ellipse, [word for text in lines for word in text.split()])


def _wrap(words: list[str], font: ImageFont.FreeTypeFont, *, max_width: float) -> list[str]:
    """Put words on lines no wider than ``max_width`` (a long word gets its own line)."""
    lines = [words[0]]
    for word in words[1:]:
        candidate = f"{lines[-1]} {word}"
        if font.getlength(candidate) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(), size)


@functools.cache
def _font_path() -> Path:
    found = sorted(FONT_ROOT.rglob(FONT_NAME)) if FONT_ROOT.is_dir() else []
    if not found:
        raise MissingTool(
            f"{FONT_NAME} not found under {FONT_ROOT}; install the Debian package fonts-dejavu-core"
        )
    return found[0]


# --- files -------------------------------------------------------------------------


def _encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, dpi=(PAGE_DPI, PAGE_DPI))
    else:
        image.save(buffer, format="PNG", dpi=(PAGE_DPI, PAGE_DPI))
    return buffer.getvalue()


def comicinfo_xml(title: str, *, pages: int) -> bytes:
    """Return a ComicInfo.xml naming the sample as issue 1 of its own series."""
    root = ElementTree.Element("ComicInfo")
    fields = {
        "Title": title,
        "Series": title,
        "Number": "1",
        "Writer": "Ada Sample, Ben Example",
        "Tags": "sample, comic2pdf",
        "Genre": "Adventure",
        "LanguageISO": "en",
        "PageCount": str(pages),
    }
    for name, value in fields.items():
        ElementTree.SubElement(root, name).text = value
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _write_archive(path: Path, entries: dict[str, bytes], container: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if container == "zip":
        _write_zip(path, entries)
    elif container == "tar":
        _write_tar(path, entries)
    else:
        _write_7z(path, entries)


def _write_zip(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        # Sorted as plain strings, the way many tools write them: "page 10"
        # comes before "page 2" in the archive, so readers must sort naturally.
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ENTRY_DATE)
            info.external_attr = 0o644 << 16
            # Images are compressed already; only the XML gains from deflate.
            info.compress_type = (
                zipfile.ZIP_DEFLATED if name.endswith(".xml") else zipfile.ZIP_STORED
            )
            archive.writestr(info, entries[name])


def _write_tar(path: Path, entries: dict[str, bytes]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(entries):
            info = tarfile.TarInfo(name)
            info.size = len(entries[name])
            info.mtime = ENTRY_EPOCH
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(entries[name]))


def _write_7z(path: Path, entries: dict[str, bytes]) -> None:
    # py7zr stamps in-memory entries with the current time, so each entry goes
    # through a file whose mtime and mode are fixed, which py7zr copies.
    with tempfile.TemporaryDirectory() as staging, py7zr.SevenZipFile(path, "w") as archive:
        for number, name in enumerate(sorted(entries)):
            file = Path(staging, str(number))
            file.write_bytes(entries[name])
            file.chmod(0o644)
            os.utime(file, (ENTRY_EPOCH, ENTRY_EPOCH))
            archive.write(file, arcname=name)


if __name__ == "__main__":
    raise SystemExit(main())
