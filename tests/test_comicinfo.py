"""ComicInfo.xml → metadata; broken or hostile files give empty metadata, quickly."""

import logging
import time

import pytest

from comic2pdf.comicinfo import MAX_BYTES, ComicMetadata, arrange_pages, read_comicinfo

FULL = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Title>  The Blue Lotus  </Title>
  <Series>Tintin</Series>
  <Number>5</Number>
  <Writer>Hergé, Bob de Moor</Writer>
  <Tags>china, opium</Tags>
  <Genre>Adventure, China</Genre>
  <LanguageISO>en</LanguageISO>
  <Pages><Page Image="0" Type="FrontCover"/></Pages>
</ComicInfo>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ComicInfo><Title>&lol9;</Title></ComicInfo>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE ComicInfo [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ComicInfo><Title>&secret;</Title></ComicInfo>
"""


def write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "ComicInfo.xml"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_full_file(tmp_path):
    assert read_comicinfo(write(tmp_path, FULL)) == ComicMetadata(
        title="The Blue Lotus",
        author="Hergé, Bob de Moor",
        subject="Tintin #5",
        keywords="china, opium, Adventure",  # "China" repeats "china"
        language="en",
        page_types={0: frozenset({"FrontCover"})},
    )


def test_without_a_title_the_series_and_number_stand_in(tmp_path):
    text = "<ComicInfo><Series>Tintin</Series><Number>3</Number></ComicInfo>"
    metadata = read_comicinfo(write(tmp_path, text))
    assert metadata.title == metadata.subject == "Tintin #3"


def test_missing_and_empty_fields_are_none(tmp_path):
    text = "<ComicInfo><Title> </Title><Writer/><Number>7</Number><Genre>Humour</Genre></ComicInfo>"
    assert read_comicinfo(write(tmp_path, text)) == ComicMetadata(keywords="Humour")


def test_other_encodings_are_read(tmp_path):
    text = FULL.replace('encoding="utf-8"', 'encoding="utf-16"')
    assert read_comicinfo(write(tmp_path, text, "utf-16")).author == "Hergé, Bob de Moor"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("<ComicInfo><Title>Unclosed</ComicInfo>", id="malformed"),
        pytest.param("", id="empty"),
        pytest.param("\x00\xff binary junk", id="junk"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        # A DTD is refused even when encoded so that a byte search would miss it.
        pytest.param(
            BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="utf-16"'),
            id="billion-laughs-utf16",
        ),
    ],
)
def test_broken_or_hostile_files_give_empty_metadata(tmp_path, caplog, text):
    encoding = "utf-16" if 'encoding="utf-16"' in text else "utf-8"
    path = write(tmp_path, text, encoding)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="comic2pdf.comicinfo"):
        assert read_comicinfo(path) == ComicMetadata()
    assert time.monotonic() - started < 1  # no expansion, no hang
    assert "ignoring" in caplog.text


def test_an_oversize_file_is_not_parsed(tmp_path, caplog):
    padding = "<!--" + "x" * MAX_BYTES + "-->"
    path = write(tmp_path, FULL.replace("<ComicInfo", padding + "<ComicInfo"))
    with caplog.at_level(logging.WARNING, logger="comic2pdf.comicinfo"):
        assert read_comicinfo(path) == ComicMetadata()
    assert "larger than" in caplog.text


def test_a_missing_file_gives_empty_metadata(tmp_path):
    assert read_comicinfo(tmp_path / "ComicInfo.xml") == ComicMetadata()


PAGES = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo>
  <Manga>YesAndRightToLeft</Manga>
  <Pages>
    <Page Image="0" Type="InnerCover"/>
    <Page Image="1" Type="Deleted" Bookmark="Ads"/>
    <Page Image="2" Type="FrontCover" Bookmark="Cover"/>
    <Page Image="3" Bookmark="Chapter 1"/>
    <Page Image="x" Type="Deleted"/>
  </Pages>
</ComicInfo>
"""


def test_pages_deleted_front_cover_bookmarks_and_manga(tmp_path):
    metadata = read_comicinfo(write(tmp_path, PAGES))
    assert metadata.right_to_left
    order, arranged = arrange_pages(metadata, 5)
    assert order == [2, 0, 3, 4]  # page 1 deleted, the front cover first
    assert arranged.bookmarks == ((0, "Cover"), (2, "Chapter 1"))  # counted in the new order


def test_declared_utf8_written_in_latin1_is_read_as_latin1(tmp_path):
    text = '<?xml version="1.0" encoding="utf-8"?><ComicInfo><Writer>Hergé</Writer></ComicInfo>'
    assert read_comicinfo(write(tmp_path, text, "latin-1")).author == "Hergé"


def test_declared_latin1_is_read_in_its_encoding(tmp_path):
    text = '<?xml version="1.0" encoding="ISO-8859-1"?><ComicInfo><Title>Été</Title></ComicInfo>'
    assert read_comicinfo(write(tmp_path, text, "latin-1")).title == "Été"
