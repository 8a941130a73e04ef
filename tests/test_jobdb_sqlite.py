"""The job store in an SQLite file: WAL, the file's schema version, upgrades in place, locks."""

import sqlite3

import pytest

from comic2pdf.errors import DatabaseBusy, SettingsError
from comic2pdf.store import MIGRATIONS, JobDB, State
from tests.test_jobdb import claim


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "index" / "comic2pdf.sqlite3"


@pytest.fixture
def db(db_path):
    with JobDB(db_path) as database:
        yield database


def test_fresh_file_gets_the_schema_in_wal_mode(db, db_path):
    assert db.get_job("nothing") is None  # first use opens and migrates
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] in (1, 2)  # per connection
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "counters", "observations", "duplicates", "meta"} <= tables
    assert db.integrity_ok()


def test_a_path_and_its_url_are_the_same_store(db, db_path):
    claim(db)
    with JobDB(f"sqlite:///{db_path}") as same:
        assert same.get_job("k1").state is State.QUEUED


def test_reopening_keeps_data_and_version(db_path):
    with JobDB(db_path) as first:
        claim(first)
    with JobDB(db_path) as second:
        assert second.get_job("k1").state is State.QUEUED
        assert second.counter_values() == {"jobs_claimed": 1}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_an_older_file_is_upgraded_in_place(db, db_path):
    """A store from before ``pages_skipped`` (version 2) keeps its rows and gains the column."""
    claim(db)
    db.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE jobs DROP COLUMN pages_skipped")
        conn.execute("PRAGMA user_version = 2")
    with JobDB(db_path) as upgraded:
        job = upgraded.finish_job(
            "k1", output_path="/o.pdf", pages=2, pages_without_text=0, pages_skipped=["x: y"]
        )
    assert job.pages_skipped == ("x: y",) and job.input_name == "k1.cbz"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_newer_schema_is_refused(db, db_path):
    db.get_job("x")
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SettingsError, match="newer"), JobDB(db_path) as newer:
        newer.get_job("x")


def test_a_file_that_is_not_a_database_fails_the_integrity_check(tmp_path):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not SQLite" * 100)
    with JobDB(path) as broken:
        assert not broken.integrity_ok()


def test_a_locked_database_raises_database_busy(db, db_path):
    db.get_job("x")
    with JobDB(db_path, busy_timeout=0.2) as impatient:
        impatient.get_job("x")
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseBusy) as caught:
                impatient.record_event("push_failures")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert caught.value.retryable and caught.value.reason == "database_busy"
        impatient.record_event("push_failures")  # works again once the lock is gone
    assert db.counter_values()["push_failures"] == 1
