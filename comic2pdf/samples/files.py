"""Writing sample comics: page images, ComicInfo.xml and archives, byte for byte reproducible."""

import io
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import py7zr
from PIL import Image

from comic2pdf.samples.drawing import PAGE_DPI

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png"}
CONTAINERS = {"zip": ".cbz", "7z": ".cb7", "tar": ".cbt"}

#: Fixed timestamp of every archive entry (2020-01-01 00:00:00 UTC).
ENTRY_DATE = (2020, 1, 1, 0, 0, 0)
ENTRY_EPOCH = 1577836800

JPEG_QUALITY = 90


def encode(image: Image.Image, image_format: str) -> bytes:
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


def write_archive(path: Path, entries: dict[str, bytes], container: str) -> None:
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
