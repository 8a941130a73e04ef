"""Atomic placement of outputs and inputs: no overwrite, no loss."""

import pytest

from comic2pdf.publish import candidate_names, place_file


def test_candidate_names():
    names = candidate_names("My Comic.pdf")
    assert [next(names) for _ in range(3)] == [
        "My Comic.pdf",
        "My Comic (2).pdf",
        "My Comic (3).pdf",
    ]


def test_place_file_moves_and_never_overwrites(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.pdf").write_bytes(b"existing")
    src = tmp_path / "final.pdf"
    src.write_bytes(b"new")
    target = place_file(src, out, "a.pdf")
    assert target == out / "a (2).pdf"
    assert target.read_bytes() == b"new"
    assert (out / "a.pdf").read_bytes() == b"existing"
    assert not src.exists()
    assert sorted(p.name for p in out.iterdir()) == ["a (2).pdf", "a.pdf"]  # no temp file left


def test_place_file_failure_leaves_source(tmp_path):
    src = tmp_path / "x.cbz"
    src.write_bytes(b"data")
    blocker = tmp_path / "notadir"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OSError):
        place_file(src, blocker, "x.cbz")
    assert src.read_bytes() == b"data"


def test_place_file_again_after_a_crash_between_link_and_unlink(tmp_path):
    """A crash after the new name appeared but before the old one went: no second copy."""
    archive = tmp_path / "archive"
    archive.mkdir()
    src = tmp_path / "claim" / "x.cbz"
    src.parent.mkdir()
    src.write_bytes(b"data")
    (archive / "x.cbz").hardlink_to(src)  # what the crashed move had done

    assert place_file(src, archive) == archive / "x.cbz"
    assert not src.exists()
    assert [p.name for p in archive.iterdir()] == ["x.cbz"]
