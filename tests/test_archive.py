"""Safe extraction of comic archives: real files, made by other tools or by us, no mocks."""

import dataclasses
import hashlib
import tarfile
import zipfile
from pathlib import Path

import py7zr
import pytest
from PIL import Image

from comic2pdf import pages
from comic2pdf.archive import (
    ExtractLimits,
    detect_format,
    extract_pages,
    extractor_versions,
)
from comic2pdf.errors import ComicError
from tests import hostile

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ARCHIVES = FIXTURES / "archives"
EVIL_RAR = FIXTURES / "security" / "rar5-evil-symlink-traversal.rar"

LIMITS = ExtractLimits(
    max_total_bytes=50 * hostile.MIB,
    max_entries=1000,
    max_ratio=200,
    max_image_pixels=200_000_000,
)


def extract(archive: Path, dest: Path, **limits):
    return extract_pages(archive, dest, limits=dataclasses.replace(LIMITS, **limits))


def failure(archive: Path, dest: Path, **limits) -> ComicError:
    with pytest.raises(ComicError) as caught:
        extract(archive, dest, **limits)
    return caught.value


def tree_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- third-party fixtures ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("rar4.rar", 3),
        ("rar4-solid.rar", 3),
        ("rar5.rar", 1),
        ("rar5-solid.rar", 3),
        ("7zip.7z", 1),
        ("zip.zip", 1),
    ],
)
def test_fixture_archives_yield_readable_pages(name, count, tmp_path):
    result = extract(ARCHIVES / name, tmp_path)
    assert len(result.pages) == count
    for page in result.pages:
        assert page.path.parent == tmp_path / "pages"
        assert page.format == "PNG"
        with Image.open(page.path) as image:
            image.load()
    assert result.comicinfo is None


@pytest.mark.parametrize("archive", sorted(ARCHIVES.glob("*-encrypted.*")), ids=lambda p: p.name)
def test_encrypted_fixtures_fail_as_encrypted(archive, tmp_path):
    assert failure(archive, tmp_path / "dest").reason == "encrypted"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("rar4.rar", "rar"), ("rar5.rar", "rar"), ("7zip.7z", "7z"), ("zip.zip", "zip")],
)
def test_detect_format_by_content(name, kind, tmp_path):
    renamed = tmp_path / "comic.cbz"  # the extension must not matter
    renamed.write_bytes((ARCHIVES / name).read_bytes())
    assert detect_format(renamed) == kind


def test_rar_symlink_traversal_is_refused_and_writes_nothing(tmp_path):
    dest = tmp_path / "work" / "dest"
    dest.mkdir(parents=True)
    error = failure(EVIL_RAR, dest)
    assert error.reason == "unsafe_path"
    assert "'up'" in str(error)
    assert set(tmp_path.rglob("*")) == {tmp_path / "work", dest}


@pytest.mark.parametrize(
    "name", ["rar4.rar", "rar4-solid.rar", "rar5-solid.rar", "7zip.7z", "zip.zip"]
)
def test_byte_budget_stops_every_format_mid_entry(name, tmp_path, capfd):
    # Each fixture page is 3108 bytes. RAR data arrives through a C callback:
    # the error must come back to us, not be printed by cffi and ignored.
    error = failure(ARCHIVES / name, tmp_path / "dest", max_total_bytes=3000)
    assert error.reason == "too_large"
    assert tree_size(tmp_path / "dest") <= 3000
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("name", ["rar4.rar", "rar5-solid.rar"])
def test_truncated_rar_is_corrupt(name, tmp_path):
    archive = hostile.truncated_copy(tmp_path, ARCHIVES / name)
    assert failure(archive, tmp_path / "dest").reason == "corrupt"


# --- hostile inputs -------------------------------------------------------------------------

HOSTILE = [
    (hostile.zip_dotdot, "unsafe_path", {}),
    (hostile.tar_dotdot, "unsafe_path", {}),
    (hostile.zip_absolute, "unsafe_path", {}),
    (hostile.tar_absolute, "unsafe_path", {}),
    (hostile.zip_backslash, "unsafe_path", {}),
    (hostile.zip_drive_letter, "unsafe_path", {}),
    (hostile.zip_symlink, "unsafe_path", {}),
    (hostile.tar_symlink, "unsafe_path", {}),
    (hostile.sevenzip_symlink, "unsafe_path", {}),
    (hostile.tar_hardlink, "unsafe_path", {}),
    (hostile.tar_device, "unsafe_path", {}),
    (hostile.zip_bomb, "too_large", {}),
    (hostile.zip_many_entries, "too_large", {"max_entries": 10}),
    (hostile.zip_huge_png, "image_too_large", {}),
    (hostile.truncated_zip, "corrupt", {}),
    (hostile.truncated_7z, "corrupt", {}),
    (hostile.empty_file, "not_an_archive", {}),
    (hostile.text_as_cbz, "not_an_archive", {}),
    (hostile.pdf_as_cbr, "not_an_archive", {}),
    (hostile.zip_without_images, "no_images", {}),
]


@pytest.mark.parametrize(
    ("build", "reason", "limits"), HOSTILE, ids=lambda v: getattr(v, "__name__", "")
)
def test_hostile_input_is_refused_with_its_reason(build, reason, limits, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    archive = build(inbox)
    assert list(inbox.iterdir()) == [archive]  # one file: reusable as an inbox drop
    dest = tmp_path / "dest"
    assert failure(archive, dest, **limits).reason == reason
    assert {path.parent for path in tmp_path.rglob("*") if path.is_file()} <= {
        inbox,
        dest,
        dest / "pages",
    }
    assert (tree_size(dest) if dest.exists() else 0) < hostile.MIB


@pytest.mark.parametrize("build", [hostile.zip_dotdot, hostile.tar_symlink, hostile.zip_bomb])
def test_refused_before_anything_is_written(build, tmp_path):
    # A bomb's ratio is judged on its first bytes (an uncompressed image may pass):
    # the folders may exist, no file does.
    dest = tmp_path / "dest"
    failure(build(tmp_path), dest)
    assert not [path for path in dest.rglob("*") if path.is_file()]


def test_zip_bomb_is_stopped_by_the_byte_counter_when_the_ratio_allows_it(tmp_path):
    limit = 16 * hostile.MIB
    error = failure(
        hostile.zip_bomb(tmp_path), tmp_path / "dest", max_ratio=1e12, max_total_bytes=limit
    )
    assert error.reason == "too_large"
    assert tree_size(tmp_path / "dest") <= limit


def test_sparse_tar_bomb_is_stopped_by_the_byte_counter(tmp_path):
    limit = 16 * hostile.MIB
    error = failure(hostile.tar_sparse_bomb(tmp_path), tmp_path / "dest", max_total_bytes=limit)
    assert error.reason == "too_large"
    assert tree_size(tmp_path / "dest") <= limit


def test_zip_lying_about_its_size_never_inflates_past_the_header(tmp_path):
    error = failure(hostile.zip_bomb_lying(tmp_path), tmp_path / "dest", max_ratio=1e12)
    assert error.reason == "corrupt"
    assert tree_size(tmp_path / "dest") <= hostile.MIB


def test_page_over_our_pixel_limit_is_refused(tmp_path):
    archive = hostile.write_zip(tmp_path / "a.cbz", [("p1.png", hostile.tiny_png())])
    assert failure(archive, tmp_path / "dest", max_image_pixels=63).reason == "image_too_large"
    assert len(extract(archive, tmp_path / "ok", max_image_pixels=64).pages) == 1


def test_encrypted_7z_written_by_py7zr_fails_as_encrypted(tmp_path):
    for header_encryption in (False, True):
        archive = tmp_path / f"locked-{header_encryption}.cb7"
        with py7zr.SevenZipFile(
            archive, "w", password="secret", header_encryption=header_encryption
        ) as seven:
            seven.writestr(hostile.tiny_png(), "p1.png")
        assert failure(archive, tmp_path / "dest").reason == "encrypted"


# --- pages: choice, order, content --------------------------------------------------------------


def test_pages_are_chosen_by_content_and_naturally_sorted(tmp_path):
    png, jpeg = hostile.tiny_png(), hostile.tiny_jpeg()
    entries = [
        ("Ch2/Page 1.png", png),
        ("ch1/page 10.png", png),
        ("ch1/page 9.png", png),
        ("ch1/page 2.png", png),
        ("cover.jpg", png),  # a PNG whatever the name says
        ("scan", jpeg),  # a JPEG with no extension
        ("__MACOSX/ch1/._page 2.png", png),
        (".DS_Store", b"\x00\x00\x00\x01Bud1"),
        ("Thumbs.db", png),
        ("ch1/desktop.ini", b"[.ShellClassInfo]\n"),
        (".hidden.png", png),
        ("ch1/.git/logo.png", png),
        ("notes.txt", b"BM this is text, not a bitmap\n"),
        ("ch1/", b""),
        ("meta/ComicInfo.xml", b"<ComicInfo><Title>T</Title></ComicInfo>"),
    ]
    archive = hostile.write_zip(tmp_path / "book.cbz", entries)
    result = extract(archive, tmp_path / "dest")
    assert [(page.entry, page.format) for page in result.pages] == [
        ("cover.jpg", "PNG"),  # a root cover first, as a reader shows it
        ("ch1/page 2.png", "PNG"),
        ("ch1/page 9.png", "PNG"),
        ("ch1/page 10.png", "PNG"),
        ("Ch2/Page 1.png", "PNG"),
        ("scan", "JPEG"),
    ]
    assert [page.path.name for page in result.pages][-2:] == ["00005.png", "00006.jpg"]
    assert result.comicinfo == tmp_path / "dest" / "ComicInfo.xml"
    assert result.comicinfo.read_bytes() == entries[-1][1]
    assert sorted(p.name for p in (tmp_path / "dest" / "pages").iterdir()) == [
        "00001.png", "00002.png", "00003.png", "00004.png", "00005.png", "00006.jpg"
    ]  # fmt: skip


def test_pages_are_byte_identical_to_the_members(tmp_path):
    page = (FIXTURES / "pages" / "baiona_color.jpg").read_bytes()
    archive = hostile.write_zip(
        tmp_path / "a.cbz", [("p1.png", hostile.tiny_png()), ("p2.jpg", page)]
    )
    result = extract(archive, tmp_path / "dest")
    with zipfile.ZipFile(archive) as opened:
        member = opened.read("p2.jpg")
    assert sha256(result.pages[1].path.read_bytes()) == sha256(member) == sha256(page)


def test_root_comicinfo_wins_over_nested_ones(tmp_path):
    entries = [
        ("a/comicinfo.XML", b"<nested/>"),
        ("ComicInfo.xml", b"<root/>"),
        ("p.png", hostile.tiny_png()),
    ]
    result = extract(hostile.write_zip(tmp_path / "a.cbz", entries), tmp_path / "dest")
    assert result.comicinfo.read_bytes() == b"<root/>"


@pytest.mark.parametrize(
    "names",
    [
        ["page 2", "page 10"],
        ["ch1/p9", "ch1/p10", "ch2/p1"],
        ["p1", "P2", "p03", "p10a", "p10b"],
        ["a/z", "a1/a", "b"],
    ],
)
def test_natural_key(names):
    keys = [name.split("/") for name in names]
    assert sorted(reversed(keys), key=pages.natural_key) == keys


def test_sniff_format_needs_real_magic():
    assert pages.sniff_format(hostile.tiny_png()) == "PNG"
    assert pages.sniff_format(hostile.tiny_jpeg()) == "JPEG"
    assert pages.sniff_format(b"BMW owners manual, chapter one") is None
    assert pages.sniff_format(b"") is None


# --- other formats and codecs ---------------------------------------------------------------------


def test_tar_with_dot_slash_names_extracts(tmp_path):
    archive = tmp_path / "a.cbt"
    with tarfile.open(archive, "w") as tar:
        for number in (10, 2):
            source = tmp_path / f"p{number}.png"
            source.write_bytes(hostile.tiny_png())
            tar.add(source, arcname=f"./pages/p{number}.png")
    assert detect_format(archive) == "tar"
    result = extract(archive, tmp_path / "dest")
    assert [page.entry for page in result.pages] == ["./pages/p2.png", "./pages/p10.png"]


def test_old_style_tar_without_magic_is_detected(tmp_path):
    archive = hostile.write_tar(
        tmp_path / "old.tar", [(tarfile.TarInfo("p1.png"), hostile.tiny_png())]
    )
    data = bytearray(archive.read_bytes())
    _make_v7_header(data, 0)
    archive.write_bytes(bytes(data))
    assert detect_format(archive) == "tar"
    assert [page.entry for page in extract(archive, tmp_path / "dest").pages] == ["p1.png"]


def _make_v7_header(data: bytearray, offset: int) -> None:
    header = data[offset : offset + 512]
    header[257:512] = bytes(255)  # no magic, version, owner names or prefix
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    data[offset : offset + 512] = header


def test_7z_written_by_py7zr_extracts_in_order(tmp_path):
    archive = tmp_path / "a.cb7"
    with py7zr.SevenZipFile(archive, "w") as seven:  # solid by default
        seven.writestr(hostile.tiny_png((1, 2, 3)), "b/p1.png")
        seven.writestr(hostile.tiny_png((4, 5, 6)), "a/p10.png")
        seven.writestr(hostile.tiny_jpeg(), "a/p9")
        seven.writestr(b"<ComicInfo/>", "ComicInfo.xml")
        seven.writestr(b"junk", "__MACOSX/a/._p9")
    result = extract(archive, tmp_path / "dest")
    assert [(page.entry, page.format) for page in result.pages] == [
        ("a/p9", "JPEG"),
        ("a/p10.png", "PNG"),
        ("b/p1.png", "PNG"),
    ]
    assert result.comicinfo.read_bytes() == b"<ComicInfo/>"


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_zip_compression_methods(method, tmp_path):
    page = (FIXTURES / "pages" / "baiona_gray.png").read_bytes()
    archive = tmp_path / "a.cbz"
    with zipfile.ZipFile(archive, "w", method) as opened:
        opened.writestr("p1.png", page)
    [extracted] = extract(archive, tmp_path / "dest").pages
    assert extracted.path.read_bytes() == page


def test_extractor_versions():
    versions = extractor_versions()
    assert set(versions) == {"unrar2-cffi", "unrar", "py7zr", "7zz"}
    assert all(value and value[0].isdigit() for value in versions.values())
