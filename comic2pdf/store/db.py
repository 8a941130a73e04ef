"""``JobDB``: the job store's one class, made of one mixin per concern."""

from typing import TYPE_CHECKING, Self

from comic2pdf.store.claims import ClaimsMixin
from comic2pdf.store.counters import CountersMixin
from comic2pdf.store.duplicates import DuplicatesMixin
from comic2pdf.store.jobs import JobsMixin
from comic2pdf.store.meta import MetaMixin

if TYPE_CHECKING:
    from comic2pdf.settings import Settings


class JobDB(ClaimsMixin, JobsMixin, DuplicatesMixin, CountersMixin, MetaMixin):
    """The job store at ``location``; a context manager. One thread at a time (see package doc).

    ``location`` is a path (an SQLite file) or a URL (``sqlite:///…``,
    ``postgresql+psycopg://…``). ``create=False`` is for reporting: a missing
    file, or a PostgreSQL database without our tables or out of reach, raises
    StoreMissing instead of becoming a new empty store whose zeros would be
    published.
    """

    @classmethod
    def from_settings(cls, settings: "Settings", *, create: bool = True) -> Self:
        """The store the settings name: JOB_DB_URL, else ``DATA_DIR/index/comic2pdf.sqlite3``."""
        return cls(settings.job_store, create=create)
