"""What a flow run's logs hold: our INFO lines, and no tracebacks for expected errors.

``PREFECT_LOGGING_EXTRA_LOGGERS`` sends the ``comic2pdf`` and ``ocrmypdf``
loggers to the run logs but leaves their level to the root logger, WARNING in
Prefect's logging setup: the commands, stage timings and ocrmypdf's own lines
(all INFO) were dropped. Prefect's engines log every exception a task or flow
raises with its traceback; for our errors (``ComicError``: a reason and a
message that says what to do) and for time limits (a ``TimeoutError``: Prefect's
own, reason ``timeout``) the message line stays and the traceback goes, and
the engine's closing "Engine execution exited with unexpected exception" (a
deployment run whose flow returned Failed) is left out: the run's state says it
all. Anything else keeps its traceback and that line: that is a bug to find.
"""

import logging

from comic2pdf.errors import ComicError

#: Loggers whose INFO lines belong in the run logs (they reach them through
#: PREFECT_LOGGING_EXTRA_LOGGERS). ocrmypdf's lines come through ``comic2pdf.tool``.
OUR_LOGGERS = ("comic2pdf", "ocrmypdf")
#: The loggers Prefect's flow and task engines report failures on.
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


#: Failures that are explained by their message: no traceback in the run logs.
EXPECTED = (ComicError, TimeoutError)
#: What Prefect's engine logs when a deployment run's flow ended Failed (flow_engine.run_flow).
ENGINE_EXIT = "Engine execution exited with unexpected exception"


class NoTracebackForOurErrors(logging.Filter):
    """Drop the traceback of a record about an expected failure; keep its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], EXPECTED):
            if record.getMessage() == ENGINE_EXIT:
                return False
            record.exc_info = None
            record.exc_text = None
        return True


def readable_run_logs() -> None:
    """Set up this process's logging for run logs a user can read; safe to call again."""
    for name in OUR_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoTracebackForOurErrors) for f in logger.filters):
            logger.addFilter(NoTracebackForOurErrors())
