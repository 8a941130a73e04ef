"""``index/metrics.json``: integer totals under the seed's keys and the old system's names.

Each JSON key is a sum of series picked by name and labels (``JSON_KEYS``), so
the snapshot keeps the keys the SPEC lists although the Prometheus families
are fewer and labelled. ``LEGACY_KEYS`` repeats some under the names the old
comic2pdf wrote, so dashboards built on its metrics.json keep working.
"""

import errno
import json
from collections.abc import Mapping
from pathlib import Path

from comic2pdf.errors import NotWritable
from comic2pdf.metrics.definitions import METRICS_BY_NAME, MetricData
from comic2pdf.metrics.exposition import samples
from comic2pdf.publish import write_atomically

#: A part of a JSON key: the series of one metric whose labels include these.
Part = tuple[str, Mapping[str, str]]

#: JSON key → the series it sums. The first fourteen are the SPEC's keys.
JSON_KEYS: dict[str, tuple[Part, ...]] = {
    "done": (("jobs_done", {}),),
    "error": (("jobs_failed", {}), ("inputs_rejected", {})),
    "running": (("jobs_in_flight", {}),),
    "queued": (("jobs_queued", {}),),
    "disk_error": (
        ("stage_failures", {"reason": "disk_error"}),
        ("inputs_rejected", {"reason": "disk_error"}),
    ),
    "pdf_invalid": (("stage_failures", {"reason": "pdf_invalid"}),),
    "input_rejected_size": (("inputs_rejected", {"reason": "too_large"}),),
    "input_rejected_signature": (("inputs_rejected", {"reason": "not_an_archive"}),),
    "duplicates_detected": (("duplicates_detected", {}),),
    "prep_retries": (("stage_retries", {"stage": "prep"}),),
    "ocr_retries": (("stage_retries", {"stage": "ocr"}),),
    "jobs_timed_out": (("stage_failures", {"reason": "timeout"}),),
    "pages_processed": (("pages_processed", {}),),
    "pages_without_text": (("pages_without_text", {}),),
    "duplicates_pending": (("duplicates_pending", {}),),
    "inbox_waiting": (("inbox_waiting", {}),),
    "inputs_rejected": (("inputs_rejected", {}),),
}

#: The old system's name → the key above it equals; ``jobs_discarded`` is its own sum.
LEGACY_KEYS: dict[str, str] = {
    "jobs_done": "done",
    "jobs_error": "error",
    "duplicates_total": "duplicates_detected",
}
JSON_KEYS["jobs_discarded"] = (("duplicates_resolved", {"action": "DISCARD"}),)

REQUIRED_JSON_KEYS = tuple(JSON_KEYS)[:14]


def snapshot_of(data: MetricData) -> dict[str, int]:
    """Every JSON key as an integer, from data already read."""
    values = {
        key: int(sum(_part(data, part) for part in parts)) for key, parts in JSON_KEYS.items()
    }
    values |= {old: values[new] for old, new in LEGACY_KEYS.items()}
    return values


def _part(data: MetricData, part: Part) -> float:
    name, wanted = part
    return sum(
        value
        for labels, value in samples(METRICS_BY_NAME[name], data)
        if wanted.items() <= labels.items()
    )


def write_snapshot(data: MetricData, path: Path) -> dict[str, int | str]:
    """Write ``metrics.json`` atomically: the snapshot plus ``updatedAt``; return it.

    Raises:
        NotWritable: the folder is read-only or *path* is a folder.
        OSError: any other failure of the write (a full disk); the old file stays whole.
    """
    document: dict[str, int | str] = dict(snapshot_of(data))
    document["updatedAt"] = data.read_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    try:
        write_atomically(Path(path), text.encode())
    except OSError as e:
        if not (isinstance(e, PermissionError | IsADirectoryError) or e.errno == errno.EROFS):
            raise
        raise NotWritable(
            f"cannot write {path}: {e.strerror or e}; it must be a file in a folder writable "
            "by the user running comic2pdf"
        ) from e
    return document
