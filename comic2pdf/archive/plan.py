"""Which entries become pages, in which order, and what happens to the others.

Pass 1 (:func:`make_plan`) decides from the entry list alone: limits, safety,
candidates and their reading order. After pass 2 has streamed the candidates
into numbered files, :func:`collect_pages` keeps the images and names every
entry that looked like a page but is not one, with why: nothing is dropped
without a word.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from comic2pdf import pages
from comic2pdf.archive.base import (
    DIRECTORY,
    ExtractLimits,
    Gate,
    Member,
    Page,
    Skipped,
    Target,
)
from comic2pdf.archive.detect import nested_format
from comic2pdf.archive.limits import checked_parts, ratio_gate
from comic2pdf.errors import BadImage, TooLarge

log = logging.getLogger(__name__)


@dataclass
class Plan:
    dest: Path
    pages: list[Member]  # reading order
    comicinfo: Member | None
    gates: dict[int, Gate] = field(default_factory=dict)  # member index -> ratio gate
    skipped: list[Skipped] = field(default_factory=list)  # decided from the listing alone

    @property
    def pages_dir(self) -> Path:
        return self.dest / "pages"

    @property
    def comicinfo_path(self) -> Path:
        return self.dest / "ComicInfo.xml"

    def page_path(self, number: int) -> Path:
        # No extension yet: the content decides it once the file is there.
        return self.pages_dir / f"{number:05d}"

    def targets(self) -> dict[int, Target]:
        """Member index -> where its data goes, in archive order."""
        chosen = {
            member.index: Target(self.page_path(n), self.gates.get(member.index))
            for n, member in enumerate(self.pages, 1)
        }
        if self.comicinfo is not None:
            chosen[self.comicinfo.index] = Target(self.comicinfo_path)
        return dict(sorted(chosen.items()))


def reading_key(parts: list[str]) -> tuple:
    """A root cover first, then natural order of the Unicode-normalised path."""
    return (not pages.is_cover(parts), pages.natural_key(parts))


def make_plan(
    members: Iterator[Member], *, limits: ExtractLimits, archive: Path, dest: Path
) -> Plan:
    candidates: list[tuple[list[str], Member]] = []
    infos: list[tuple[list[str], Member]] = []
    plan = Plan(dest, [], None)
    for count, member in enumerate(members, 1):
        if count > limits.max_entries:
            raise TooLarge(
                f"has more than {limits.max_entries} entries"
                " (raise the limit only if the archive is genuine)",
                path=archive,
            )
        parts = checked_parts(member, archive=archive)
        if member.kind == DIRECTORY or not parts or pages.is_junk(parts):
            log.debug("skipping %r", member.name)
            continue
        if member.size == 0:
            if pages.looks_like_page(parts):
                plan.skipped.append(Skipped(member.name, "empty file"))
            continue
        if gate := ratio_gate(member, limits=limits, archive=archive):
            plan.gates[member.index] = gate
        (infos if pages.is_comicinfo(parts) else candidates).append((parts, member))
    # sorted() is stable: entries with equal keys keep their archive order.
    plan.pages = [member for _, member in sorted(candidates, key=lambda c: reading_key(c[0]))]
    comicinfo = min(
        infos, key=lambda item: (len(item[0]), pages.natural_key(item[0])), default=None
    )
    plan.comicinfo = comicinfo and comicinfo[1]
    return plan


def collect_pages(plan: Plan, *, limits: ExtractLimits, archive: Path) -> list[Page]:
    """Keep the extracted images as numbered pages; add the rest to ``plan.skipped``."""
    found: list[Page] = []
    for number, member in enumerate(plan.pages, 1):
        path = plan.page_path(number)
        for image_format, frame in _identify(path, member, plan, limits=limits, archive=archive):
            # Renumber so the kept pages are 00001, 00002… with no gaps; the new names
            # have an extension, so they never collide with a not-yet-checked file.
            final = plan.page_path(len(found) + 1).with_suffix(
                "." + pages.extension_for(image_format)
            )
            frame.replace(final)
            found.append(Page(entry=member.name, path=final, format=image_format))
    return found


def _identify(
    path: Path, member: Member, plan: Plan, *, limits: ExtractLimits, archive: Path
) -> list[tuple[str, Path]]:
    """The page files an extracted entry gives (one per TIFF page), or none and why."""
    if not path.exists():
        # Only a 7z with two entries of the same name gets here (see sevenzip.py).
        plan.skipped.append(Skipped(member.name, "a second entry of the same name"))
        return []
    try:
        image_format = pages.identify_page(
            path, max_pixels=limits.max_image_pixels, entry=member.name, archive=archive
        )
    except BadImage as e:
        plan.skipped.append(Skipped(member.name, e.message.removeprefix(f"page {member.name!r} ")))
        path.unlink()
        return []
    if image_format is None:
        _skip_other(path, member, plan)
        return []
    if image_format == "TIFF":
        frames = pages.split_frames(
            path, max_frames=limits.max_entries, max_pixels=limits.max_image_pixels,
            entry=member.name, archive=archive,
        )  # fmt: skip
        return [(image_format, frame) for frame in frames]
    return [(image_format, path)]


def _skip_other(path: Path, member: Member, plan: Plan) -> None:
    """An entry that is no image: named if it looked like a page or is an archive."""
    with path.open("rb") as file:
        head = file.read(pages.SNIFF_BYTES)
    path.unlink()
    parts = member.name.replace("\\", "/").split("/")
    if kind := nested_format(head):
        plan.skipped.append(Skipped(member.name, f"a nested {kind} archive: convert it on its own"))
    elif pages.looks_like_page(parts):
        plan.skipped.append(Skipped(member.name, "not an image (its content is no known format)"))
    else:
        log.debug("entry %r is not an image; skipped", member.name)
