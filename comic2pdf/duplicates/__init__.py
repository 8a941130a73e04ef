"""Held duplicates: holding an input whose job already exists, and applying the decision.

A duplicate is an input whose job key is already DONE or in flight. It waits in
``hold/duplicates/<jobKey>/<UTC timestamp>__<name>`` with a report in
``reports/duplicates/<jobKey>.json`` until someone decides (SPEC "Duplicates"):
``hold/duplicates/<jobKey>/decision.json``, ``comic2pdf duplicates resolve`` or
the ``resolve-duplicate`` deployment. All three end in :func:`apply_decision`.

No Prefect here: the flow layer passes ``reprocess``, the function that converts
a held file again.

Applying is safe to repeat and to interrupt (see ``applying``).

Modules: ``holding`` (hold folders, held names, holding a file and its report),
``decisions`` (reading decisions, finding what they apply to), ``applying``
(carrying a decision out).
"""

from comic2pdf.duplicates.applying import apply_decision
from comic2pdf.duplicates.decisions import (
    held_files,
    held_job_key,
    pending_decisions,
    read_decision,
)
from comic2pdf.duplicates.holding import (
    APPLIED_DECISION_FILE,
    DECISION_FILE,
    hold_duplicate,
    hold_folder,
    how_to_decide,
    strip_timestamp,
)

__all__ = [
    "APPLIED_DECISION_FILE",
    "DECISION_FILE",
    "apply_decision",
    "held_files",
    "held_job_key",
    "hold_duplicate",
    "hold_folder",
    "how_to_decide",
    "pending_decisions",
    "read_decision",
    "strip_timestamp",
]
