"""``ComicInfo.xml`` (the ComicRack format) → the metadata of the PDF.

The file comes from an untrusted archive, and metadata is a nicety: a broken or
hostile file is logged and ignored, it never fails a comic. The parser is the
stdlib's expat with every DTD refused, so no entity can be declared, let alone
expanded a billion times or fetched from outside, whatever the file's encoding.
"""

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.parsers import expat

log = logging.getLogger(__name__)

#: Real ComicInfo.xml files are a few kilobytes; anything this big is not one.
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class ComicMetadata:
    """What the PDF's document info and XMP get; ``None`` means absent."""

    title: str | None = None
    author: str | None = None
    subject: str | None = None
    keywords: str | None = None
    language: str | None = None
    right_to_left: bool = False  # <Manga>YesAndRightToLeft</Manga>
    #: (page index, title): the index counts the pages in reading order.
    bookmarks: tuple[tuple[int, str], ...] = ()
    #: ComicInfo <Pages>: page index -> its types ("FrontCover", "Deleted"…).
    page_types: dict[int, frozenset[str]] = field(default_factory=dict)


def arrange_pages(metadata: ComicMetadata, count: int) -> tuple[list[int], ComicMetadata]:
    """Which of *count* pages to keep, in which order, after ComicInfo's ``<Pages>``.

    ``Deleted`` pages are left out and the ``FrontCover`` comes first. Returns
    the kept page indexes in order, and the metadata with its bookmarks counted
    in that new order.
    """
    types = metadata.page_types
    order = [index for index in range(count) if "Deleted" not in types.get(index, ())]
    covers = [index for index in order if "FrontCover" in types.get(index, ())]
    if covers:
        order.remove(covers[0])
        order.insert(0, covers[0])
    position = {index: number for number, index in enumerate(order)}
    bookmarks = tuple(
        (position[index], title) for index, title in metadata.bookmarks if index in position
    )
    return order, replace(metadata, bookmarks=bookmarks)


def read_comicinfo(path: Path) -> ComicMetadata:
    """Read ``ComicInfo.xml``; empty metadata, with a warning, if it is unusable."""
    try:
        reader = _read_fields(path)
    except (OSError, ValueError, expat.ExpatError) as e:
        log.warning("ignoring %s: %s", path, e)
        return ComicMetadata()
    return _metadata(reader)


def _metadata(reader: "_FieldReader") -> ComicMetadata:
    fields = reader.fields
    series = _series_and_number(fields.get("Series"), fields.get("Number"))
    return ComicMetadata(
        title=fields.get("Title") or series,
        author=fields.get("Writer"),
        subject=series,
        keywords=_keywords(fields.get("Tags"), fields.get("Genre")),
        language=fields.get("LanguageISO"),
        right_to_left=fields.get("Manga", "").casefold() == "yesandrighttoleft",
        bookmarks=tuple(sorted(reader.bookmarks.items())),
        page_types=reader.page_types,
    )


def _series_and_number(series: str | None, number: str | None) -> str | None:
    """Return e.g. "Tintin #3"; a number without a series says nothing."""
    if series and number:
        return f"{series} #{number}"
    return series


def _keywords(*lists: str | None) -> str | None:
    """Join comma-separated lists into one, dropping repeats (case-insensitive)."""
    seen: dict[str, str] = {}
    for text in lists:
        for word in (text or "").split(","):
            word = word.strip()
            if word:
                seen.setdefault(word.casefold(), word)
    return ", ".join(seen.values()) or None


# --- parsing -----------------------------------------------------------------------


def _read_fields(path: Path) -> "_FieldReader":
    with path.open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes")
    try:
        return _FieldReader().read(data)
    except expat.ExpatError as e:
        if e.code != expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
            raise
    # Declared (or assumed) UTF-8 but written by a tool in Latin-1: every byte is
    # a Latin-1 character, so read it as such rather than lose all the metadata.
    log.info("%s is not valid in its declared encoding; reading it as Latin-1", path.name)
    return _FieldReader().read(data.decode("latin-1").encode(), encoding="UTF-8")


class _FieldReader:
    """Collect the text of each child of the root element, e.g. ``<Title>``.

    Of repeated fields the first wins; whitespace is stripped and empty fields
    dropped. Of deeper elements only ``<Pages><Page Image= Type= Bookmark=/>``
    is read.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.text: list[str] = []
        self.fields: dict[str, str] = {}
        self.page_types: dict[int, frozenset[str]] = {}
        self.bookmarks: dict[int, str] = {}

    def read(self, data: bytes, *, encoding: str | None = None) -> "_FieldReader":
        parser = expat.ParserCreate(encoding)
        # Refusing the DOCTYPE as soon as it starts stops every entity trick
        # before a single declaration is read.
        parser.StartDoctypeDeclHandler = self.refuse_dtd
        parser.EntityDeclHandler = self.refuse_dtd
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters
        parser.Parse(data, True)
        return self

    def refuse_dtd(self, *_args: object) -> None:
        raise ValueError("DOCTYPE and ENTITY declarations are not accepted")

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 2:
            self.text = []
        elif self.depth == 3 and name == "Page":
            self.page(attributes)

    def page(self, attributes: dict[str, str]) -> None:
        index = attributes.get("Image", "").strip()
        if not index.isdigit():
            return
        kinds = attributes.get("Type", "").replace(",", " ").split()
        if kinds:
            self.page_types[int(index)] = frozenset(kinds)
        if bookmark := attributes.get("Bookmark", "").strip():
            self.bookmarks.setdefault(int(index), bookmark)

    def end(self, name: str) -> None:
        if self.depth == 2:
            value = "".join(self.text).strip()
            if value:
                self.fields.setdefault(name, value)
        self.depth -= 1

    def characters(self, data: str) -> None:
        if self.depth == 2:
            self.text.append(data)
