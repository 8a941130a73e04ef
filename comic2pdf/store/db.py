"""``JobDB``: the job store's one class, made of one mixin per concern."""

from comic2pdf.store.claims import ClaimsMixin
from comic2pdf.store.counters import CountersMixin
from comic2pdf.store.duplicates import DuplicatesMixin
from comic2pdf.store.jobs import JobsMixin
from comic2pdf.store.meta import MetaMixin


class JobDB(ClaimsMixin, JobsMixin, DuplicatesMixin, CountersMixin, MetaMixin):
    """The job database at ``path``; a context manager. One thread at a time (see package doc).

    ``create=False`` is for reporting: a missing file raises StoreMissing
    instead of becoming a new empty database whose zeros would be published.
    """
