"""``ComicInfo.xml`` (the ComicRack format) → the metadata of the PDF.

The file comes from an untrusted archive, and metadata is a nicety: a broken or
hostile file is logged and ignored, it never fails a comic. The parser is the
stdlib's expat with every DTD refused, so no entity can be declared, let alone
expanded a billion times or fetched from outside, whatever the file's encoding.
"""

import logging
from dataclasses import dataclass
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


def read_comicinfo(path: Path) -> ComicMetadata:
    """Read ``ComicInfo.xml``; empty metadata, with a warning, if it is unusable."""
    try:
        fields = _read_fields(path)
    except (OSError, ValueError, expat.ExpatError) as e:
        log.warning("ignoring %s: %s", path, e)
        return ComicMetadata()
    return _metadata(fields)


def _metadata(fields: dict[str, str]) -> ComicMetadata:
    series = _series_and_number(fields.get("Series"), fields.get("Number"))
    return ComicMetadata(
        title=fields.get("Title") or series,
        author=fields.get("Writer"),
        subject=series,
        keywords=_keywords(fields.get("Tags"), fields.get("Genre")),
        language=fields.get("LanguageISO"),
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


def _read_fields(path: Path) -> dict[str, str]:
    with path.open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes")
    return _FieldReader().read(data)


class _FieldReader:
    """Collect the text of each child of the root element, e.g. ``<Title>``.

    Deeper elements (``<Pages><Page/></Pages>``) are ignored; of repeated
    fields the first wins; whitespace is stripped and empty fields dropped.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.text: list[str] = []
        self.fields: dict[str, str] = {}

    def read(self, data: bytes) -> dict[str, str]:
        parser = expat.ParserCreate()
        # Refusing the DOCTYPE as soon as it starts stops every entity trick
        # before a single declaration is read.
        parser.StartDoctypeDeclHandler = self.refuse_dtd
        parser.EntityDeclHandler = self.refuse_dtd
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters
        parser.Parse(data, True)
        return self.fields

    def refuse_dtd(self, *_args: object) -> None:
        raise ValueError("DOCTYPE and ENTITY declarations are not accepted")

    def start(self, _name: str, _attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 2:
            self.text = []

    def end(self, name: str) -> None:
        if self.depth == 2:
            value = "".join(self.text).strip()
            if value:
                self.fields.setdefault(name, value)
        self.depth -= 1

    def characters(self, data: str) -> None:
        if self.depth == 2:
            self.text.append(data)
