"""Where a comic page has its words: balloons, captions and lettering on plain ground.

Classical image processing on the page in gray (numpy + OpenCV), no model:

- **Balloons and caption boxes** are light, closed shapes whose holes are
  letters. Every connected light area (light relative to the page's paper) is
  filled; the filled shape is a balloon when its holes look like a few lines of
  letters (many small holes of one height, covering most of its holes) and it
  is compact (not the page's background winding between panels, nor a panel
  whose open balloons join its background, its figures holes too). A black
  outline only helps: it closes the shape.
- **Lettering on plain ground** (captions without a box, strips whose balloons
  open into the sky, a title) is found from the letters themselves: dark,
  letter-sized components lying side by side in rows, grouped into blocks.

Each region carries its mask (what is inside it) and the median height of its
letters, which decides how much the reader scales it up.
"""

from dataclasses import dataclass

import cv2
import numpy as np

#: Light means at least this fraction of the page's paper level (its 99th percentile):
#: old newspaper paper is gray (~160), a webcomic's white is 255.
LIGHT_FRACTION = 0.80
#: A balloon is not more than this fraction of the page (larger light areas are
#: background: sky, gutters, the paper of a strip).
MAX_BALLOON_SHARE = 0.25
#: Letters are at least this many pixels tall; smaller holes are specks.
MIN_LETTER_PX = 4
#: Letters may be this tall on any page (on a large page, up to 1/25 of its height):
#: a small strip's lettering is a large part of its height.
MIN_TALLEST_LETTER_PX = 40
#: Widest letter-like component, in heights: hand lettering joins letters into words.
MAX_LETTER_WIDTH = 6
#: A balloon holds at least this many letter-like holes.
MIN_LETTERS = 5
#: Letter-like holes cover at least this share of a balloon's holes: a panel
#: whose open balloons join its background is light with holes too, mostly art.
MIN_LETTER_SHARE = 0.6
#: Notches of a balloon narrower than this many letter heights are letters touching
#: its outline: they are closed into the balloon.
CLOSE_BY = 1.2
#: A component inking more than this share of its box is solid: art, or a stroke.
SOLID_SHARE = 0.85
#: A solid component at most this wide, in heights, is a stroke (l, I, 1).
STROKE_WIDTH = 0.3
#: Filled shape over its bounding box: balloons and boxes are compact.
MIN_FILL = 0.45
#: Letters of one block: the 75th percentile of their heights is at most this
#: multiple of the 25th.
MAX_HEIGHT_SPREAD = 1.6


@dataclass(frozen=True)
class Region:
    """A part of the page to read as one block of lettering."""

    x: int
    y: int
    mask: np.ndarray  # bool, True inside the region; its shape is the region's box
    letter_height: float  # median letter height in page pixels

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in page pixels."""
        height, width = self.mask.shape
        return self.x, self.y, self.x + width, self.y + height


def paper_level(gray: np.ndarray) -> float:
    """The gray of the page's paper: its 99th percentile (ink and art are darker)."""
    return float(np.percentile(gray, 99))


def find_balloons(gray: np.ndarray) -> list[Region]:
    """The balloons and caption boxes of a gray page, largest first."""
    light = (gray >= LIGHT_FRACTION * paper_level(gray)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(light, connectivity=4)
    page_area = gray.shape[0] * gray.shape[1]
    min_side = max(12, min(gray.shape) // 60)
    regions = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if w < min_side or h < min_side or w * h > MAX_BALLOON_SHARE * page_area:
            continue
        region = _balloon(labels[y : y + h, x : x + w] == label, x, y)
        if region is not None:
            regions.append(region)
    return sorted(regions, key=lambda r: -int(r.mask.sum()))


def _balloon(light: np.ndarray, x: int, y: int) -> Region | None:
    """The region of one light component if its filled shape holds lettering."""
    filled = fill_holes(light)
    if filled.sum() < MIN_FILL * filled.size:
        return None
    holes = (filled & ~light).astype(np.uint8)
    hole_share = holes.sum() / max(1, filled.sum())
    if not 0.01 <= hole_share <= 0.5:
        return None
    heights, letter_area = letter_components(holes, max_height=light.shape[0] // 2)
    if not looks_like_lettering(heights) or letter_area < MIN_LETTER_SHARE * holes.sum():
        return None
    typical = float(np.median(heights))
    if light.shape[0] < 2 * typical or light.shape[1] < 4 * typical:
        return None  # a speck of art with a few holes, not a balloon
    return Region(x, y, closed(filled, size=CLOSE_BY * typical), typical)


def closed(mask: np.ndarray, *, size: float) -> np.ndarray:
    """*mask* with its notches narrower than *size* pixels filled (morphological closing).

    A letter touching a balloon's outline is not a hole of its light area but a
    notch in it: the filled shape leaves the letter out. Closing takes it back
    in without reaching over the outline, where the shape is convex.
    """
    pad = max(1, round(size / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))
    padded = np.pad(mask.astype(np.uint8), pad)
    return cv2.morphologyEx(padded, cv2.MORPH_CLOSE, kernel)[pad:-pad, pad:-pad].astype(bool)


def looks_like_lettering(heights: list[int]) -> bool:
    """Whether components of these heights can be lettering: enough of them, of one size.

    Art and halftone give components of every size; letters of one block share a
    height (within ascenders and descenders).
    """
    if len(heights) < MIN_LETTERS:
        return False
    # Punctuation and i-dots are far smaller than letters: leave them out.
    letters = [height for height in heights if height >= 0.5 * np.median(heights)]
    low, high = np.percentile(letters, [25, 75])
    return bool(high <= MAX_HEIGHT_SPREAD * max(low, 1))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """*mask* with every area it encloses filled (flood fill of the outside)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return (outside != 2)[1:-1, 1:-1]


def letter_heights(ink: np.ndarray, *, max_height: int) -> list[int]:
    """Heights of the letter-like components of *ink* (not specks, not long strokes)."""
    return letter_components(ink, max_height=max_height)[0]


def letter_components(ink: np.ndarray, *, max_height: int) -> tuple[list[int], int]:
    """Heights of the letter-like components of *ink*, and the area they cover together."""
    _, width, height, area = _component_stats(ink)
    letters = _letter_like(width, height, area, max_height=max_height)
    return height[letters].tolist(), int(area[letters].sum())


def _component_stats(ink: np.ndarray) -> tuple[np.ndarray, ...]:
    """Boxes (left, top, width, height as one array) and areas of *ink*'s 8-connected components.

    As columns, without the background: a page has thousands of components, and
    judging them one by one in Python cost more than finding them.
    """
    stats = cv2.connectedComponentsWithStats(ink, connectivity=8)[2][1:]
    width, height, area = (stats[:, column] for column in (2, 3, 4))
    return stats[:, :4], width, height, area


def _letter_like(w: np.ndarray, h: np.ndarray, area: np.ndarray, *, max_height: int) -> np.ndarray:
    """Which components (by width, height, area) are letter-sized and not sparse strokes."""
    return (
        (h >= MIN_LETTER_PX)
        & (h <= max_height)
        & (w <= MAX_LETTER_WIDTH * h)
        & (area >= 0.1 * w * h)
    )


def find_lettering(gray: np.ndarray, balloons: list[Region]) -> list[Region]:
    """Blocks of letters standing on plain ground, outside *balloons*."""
    ink = (gray < 0.55 * paper_level(gray)).astype(np.uint8)
    for region in balloons:
        left, top, right, bottom = region.box
        ink[top:bottom, left:right][region.mask] = 0
    max_height = max(MIN_TALLEST_LETTER_PX, gray.shape[0] // 25)
    letters, typical = _letter_boxes(ink, max_height=max_height)
    if typical is None:
        return []
    # Join letters into words, words into lines and lines into blocks.
    kernel = np.ones((max(3, int(0.9 * typical)), max(3, int(1.6 * typical))), np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(letters, kernel))
    blocks = []
    for label in range(1, count):
        x, y, w, h, _ = (int(v) for v in stats[label])
        if w < 4 * typical or h < typical:
            continue
        area = labels[y : y + h, x : x + w] == label
        heights = letter_heights(ink[y : y + h, x : x + w] * area, max_height=max_height)
        if looks_like_lettering(heights):
            blocks.append(Region(x, y, area, float(np.median(heights))))
    return blocks


def _letter_boxes(ink: np.ndarray, *, max_height: int) -> tuple[np.ndarray, float | None]:
    """The boxes of the letter-like components of *ink*, and their median height.

    Solid blobs (more than 85 % of their box inked) are art, not letters, except
    thin strokes (an l, an I, a 1), which join the letters around them but do not
    count towards the lettering's height: alone, they are as likely a line of art.
    """
    boxes, width, height, area = _component_stats(ink)
    like = _letter_like(width, height, area, max_height=max_height)
    solid = area > SOLID_SHARE * width * height
    letters = np.zeros_like(ink)
    for x, y, w, h in boxes[like & (~solid | (width <= STROKE_WIDTH * height))].tolist():
        letters[y : y + h, x : x + w] = 1
    heights = height[like & ~solid]
    return letters, (float(np.median(heights)) if len(heights) >= MIN_LETTERS else None)


def grown(region: Region, page_shape: tuple[int, ...], *, by: float) -> Region:
    """*region* widened by *by* letter heights all round, within the page.

    A letter that touches a balloon's outline is not a hole of its light
    area, so the filled shape misses it; the widened region takes it back in
    (with a piece of the outline).
    """
    pad = max(1, round(by * region.letter_height))
    left, top, right, bottom = region.box
    x0, y0 = max(0, left - pad), max(0, top - pad)
    x1, y1 = min(page_shape[1], right + pad), min(page_shape[0], bottom + pad)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[top - y0 : bottom - y0, left - x0 : right - x0] = region.mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))
    return Region(x0, y0, cv2.dilate(mask, kernel).astype(bool), region.letter_height)
