"""Drawing sample comic pages: panels of colour art, black-ringed balloons, small capitals."""

import functools
import random
from dataclasses import dataclass
from pathlib import Path

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
FONT_NAME = "DejaVuSans-Bold.ttf"
FONT_ROOT = Path("/usr/share/fonts")


@dataclass(frozen=True)
class Balloon:
    """A speech balloon: its box on the page (left, top, right, bottom) and its words."""

    box: tuple[int, int, int, int]
    words: list[str]


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
    The balloon's words are returned as given (lower case), whatever their lettering.
    """
    left, top, right, bottom = box
    inner = round(font.size * 0.6)  # white between the text and the outline
    margin = round(font.size * 0.7)  # between the balloon and the panel's border
    spacing = round(font.size * 1.25)
    room_w = right - left - 2 * margin
    room_h = (bottom - top) * 0.7 - 2 * margin
    lettered = [word.upper() for word in words]
    for count in range(len(words), 0, -1):
        lines = _wrap(lettered[:count], font, max_width=(room_w - 2 * inner) / ELLIPSE_STRETCH)
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
    return Balloon(ellipse, words[:count])


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
