"""Where every dropped input is, and what ``out/`` holds: the checks every fault test ends with.

An input is tracked by the sha256 of its content, so a move that renames it
(``name (2).cbz``, a held ``<time>__name``) still finds it, and an input found
twice, or not at all, is caught.
"""

import contextlib
import hashlib
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf

from comic2pdf.duplicates import APPLIED_DECISION_FILE, DECISION_FILE
from comic2pdf.inbox import LOCK_NAME, is_ignored

#: Where an input may be (SPEC "Data directory"); ``work`` is a claim folder.
PLACES = ("in", "work", "archive", "error", "hold")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def inputs_by_place(data_dir: Path) -> dict[str, list[Path]]:
    """Every file that is an input, by place; hidden files included (a stray temp is a bug)."""
    return {
        "in": [p for p in _files(data_dir / "in") if not is_ignored(p.name)],
        "work": [p for p in _files(data_dir / "work" / "incoming") if p.name != LOCK_NAME],
        "archive": _files(data_dir / "archive"),
        "error": [p for p in _files(data_dir / "error") if not p.name.endswith(".error.json")],
        "hold": [
            p
            for p in _files(data_dir / "hold" / "duplicates")
            if p.name not in (DECISION_FILE, APPLIED_DECISION_FILE)
        ],
    }


@dataclass
class Ledger:
    """The inputs a test dropped into ``in/``, by content."""

    data_dir: Path
    dropped: Counter = field(default_factory=Counter)

    def drop(self, path: Path) -> Path:
        """Record an input placed in ``in/`` under its final name."""
        self.dropped[digest(path)] += 1
        return path

    def assert_conserved(self, *, settled: bool) -> dict[str, list[Path]]:
        """Each input is in exactly one place, once; *settled*: none left in in/ or work/."""
        places = inputs_by_place(self.data_dir)
        found = Counter(digest(p) for paths in places.values() for p in paths)
        assert found == self.dropped, _describe(places)
        if settled:
            assert places["in"] == [] and places["work"] == [], _describe(places)
        return places


def _describe(places: dict[str, list[Path]]) -> str:
    return "; ".join(f"{place}: {sorted(p.name for p in paths)}" for place, paths in places.items())


def assert_no_temporaries(data_dir: Path) -> None:
    """No staged ``.partial`` or other hidden file left in out/, archive/, error/ or hold/."""
    for place in ("out", "archive", "error", "hold"):
        hidden = [p for p in _files(data_dir / place) if p.name.startswith(".")]
        assert hidden == [], hidden


def published_pdfs(out_dir: Path) -> list[Path]:
    """The PDFs in out/; each one must be whole (opens with pikepdf, has pages)."""
    pdfs = sorted(p for p in out_dir.iterdir()) if out_dir.is_dir() else []
    for pdf in pdfs:
        assert pdf.suffix == ".pdf" and not pdf.name.startswith("."), pdf
        with pikepdf.open(pdf) as document:
            assert len(document.pages) >= 1, pdf
    return pdfs


def assert_database_intact(db_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
