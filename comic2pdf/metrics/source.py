"""Where the metric values come from: an existing job store, plus the inbox folder.

Reporting never creates a job store: a wrong DATA_DIR must fail loudly, not
publish zeros that Prometheus would take for a counter reset (issue #15).
"""

import dataclasses
from pathlib import Path

from comic2pdf.inbox import is_ignored
from comic2pdf.metrics.definitions import MetricData
from comic2pdf.store import JobDB


def count_waiting(in_dir: Path) -> int:
    """Files in ``in/`` a scan would consider (ignored names left out); 0 without the folder."""
    if not in_dir.is_dir():
        return 0
    return sum(1 for path in in_dir.iterdir() if path.is_file() and not is_ignored(path.name))


def read_metric_data(*, store: Path | str, in_dir: Path) -> MetricData:
    """Every value, read now from the job *store* (a path or URL) and the folder *in_dir*.

    Raises:
        StoreMissing: there is no job store at *store* (or it is out of reach).
        NotWritable: SQLite cannot open it (it writes beside the file even to read).
    """
    with JobDB(store, create=False) as db:
        data = db.metric_data()
    return dataclasses.replace(data, inbox_waiting=count_waiting(in_dir))


def store_instance_id(store: Path | str) -> str:
    """The stable id of the existing job *store* (StoreMissing if there is none)."""
    with JobDB(store, create=False) as db:
        return db.instance_id()
