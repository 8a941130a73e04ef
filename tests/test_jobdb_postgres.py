"""The job store on PostgreSQL: its schema version, row locks, and refusals that keep the password.

A real throwaway cluster (``postgres`` fixture), one fresh schema per test.
"""

import threading

import psycopg
import pytest

from comic2pdf.cli import main
from comic2pdf.errors import DatabaseBusy, DatabaseUnreachable, SettingsError, StoreMissing
from comic2pdf.metrics.source import read_metric_data
from comic2pdf.settings import load_settings
from comic2pdf.store import MIGRATIONS, JobDB, State
from tests.conftest import free_port, new_schema_url
from tests.test_jobdb import claim


@pytest.fixture
def url(postgres) -> str:
    return new_schema_url(postgres)


def libpq(url: str) -> str:
    """The same database for psycopg itself (no SQLAlchemy driver name)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def schema_of(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


def test_a_new_database_gets_the_schema_and_keeps_it(url, postgres):
    with JobDB(url) as db:
        claim(db)
        assert db.integrity_ok()
    with JobDB(libpq(url)) as again:  # postgresql:// alone means our driver, psycopg
        assert again.get_job("k1").state is State.QUEUED
    schema = schema_of(url)
    tables = postgres.sql(
        f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'", postgres.database
    ).split()
    assert set(tables) == {
        "jobs",
        "counters",
        "observations",
        "duplicates",
        "meta",
        "schema_version",
    }
    version = postgres.sql(f'SELECT version FROM "{schema}".schema_version', postgres.database)
    assert int(version) == len(MIGRATIONS)


def test_processes_opening_a_new_database_at_once_migrate_it_once(url):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_and_count() -> None:
        try:
            barrier.wait()
            with JobDB(url) as db:
                db.record_event("push_failures")
        except BaseException as e:  # collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=open_and_count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with JobDB(url) as db:
        assert db.counter_values() == {"push_failures": 4}
        assert len(db.instance_id()) == 12  # one meta row, made once


def test_a_newer_schema_is_refused(url):
    with JobDB(url) as db:
        db.get_job("x")
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(SettingsError, match="newer"), JobDB(url) as newer:
        newer.get_job("x")


def test_a_row_locked_past_the_busy_timeout_raises_database_busy(url):
    with JobDB(url) as db:
        claim(db)
    with psycopg.connect(libpq(url)) as blocker:
        blocker.execute("SELECT * FROM jobs WHERE job_key = 'k1' FOR UPDATE")
        with JobDB(url, busy_timeout=0.2) as impatient, pytest.raises(DatabaseBusy) as caught:
            impatient.start_stage("k1", "prep")
        blocker.rollback()
    assert caught.value.retryable and "k1" not in caught.value.message
    with JobDB(url) as db:
        assert db.start_stage("k1", "prep") == 1  # works again once the lock is gone


def test_reporting_on_a_database_without_our_tables_refuses_and_creates_nothing(url, postgres):
    with pytest.raises(StoreMissing, match="empty database") as caught:
        read_metric_data(store=url, in_dir=postgres.folder / "none")
    assert postgres.password not in str(caught.value) and "***" in str(caught.value)
    tables = postgres.sql(
        f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema_of(url)}'", postgres.database
    )
    assert int(tables) == 0


def test_an_unreachable_server_is_named_without_its_password(postgres):
    url = postgres.url().replace(f":{postgres.port}/", f":{free_port()}/")
    with pytest.raises(StoreMissing, match="no job store reachable") as missing:
        JobDB(url, create=False, busy_timeout=2).counter_values()
    with pytest.raises(DatabaseUnreachable) as unreachable:
        JobDB(url, busy_timeout=2).counter_values()
    for error in (missing.value, unreachable.value):
        assert postgres.password not in str(error)
        assert f"{postgres.user}:***@127.0.0.1" in str(error)
    assert unreachable.value.retryable


def test_the_cli_reports_from_job_db_url_and_never_prints_the_password(
    url, postgres, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("JOB_DB_URL", url)
    assert postgres.password not in repr(load_settings())
    assert main(["metrics", "--data-dir", str(tmp_path / "data")]) == 2  # nothing there yet
    err = capsys.readouterr().err
    assert "no_job_store" in err and postgres.password not in err
    with JobDB.from_settings(load_settings()) as db:
        claim(db)
        db.finish_job("k1", output_path="/o.pdf", pages=3, pages_without_text=1)
    assert main(["metrics", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "comic2pdf_pages_processed_total 3.0" in out
    assert not (tmp_path / "data" / "index" / "comic2pdf.sqlite3").exists()


@pytest.mark.parametrize(
    "url", ["mysql://comic2pdf:s3cret@db.lan/jobs", "postgresql://u:s3cret@h:x/d"]
)
def test_a_url_comic2pdf_cannot_use_is_a_settings_error_without_the_password(url):
    with pytest.raises(SettingsError) as caught:
        JobDB(url)
    assert "s3cret" not in str(caught.value) and "JOB_DB_URL" in str(caught.value)
