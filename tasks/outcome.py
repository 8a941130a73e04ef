"""The final state of a ``convert-comic`` run, and its artifact, for each way a comic ends.

- converted: Completed, the summary artifact;
- held as a duplicate: Completed named ``Held`` (nothing failed, nothing to
  retry: a person decides), with what it duplicates and how to decide;
- an error of ours (``ComicError``): Failed, or ``TimedOut`` for a time limit,
  with ``reason: message`` as the state message and the exception as its data,
  so a caller of the flow still gets the exception. Returned, not raised:
  Prefect logs a traceback for an exception a flow raises, and these are
  expected, explained outcomes (README "Prefect UI").
"""

from pathlib import Path

from prefect.states import Completed, Failed, State

from comic2pdf.errors import ComicError, StageTimeout
from comic2pdf.pipeline.job import ConvertResult
from comic2pdf.settings import Settings, load_settings
from tasks.held import report_held
from tasks.report import summarize, summarize_failure

#: The state name of a held duplicate's run; filter on it in the UI to find them.
HELD = "Held"
#: Prefect's own name for a run ended by a time limit.
TIMED_OUT = "TimedOut"


def ended(archive: Path, result: ConvertResult, settings: Settings) -> State:
    """The run's state for a comic that was converted, held, or skipped."""
    if result.outcome == "duplicate" and result.job_key:
        message = report_held(result.input.name, result.job_key, settings)
        return Completed(name=HELD, message=message, data=result)
    if result.outcome == "done":
        summarize(archive, result, settings)
        message = (
            f"{archive.name} → {result.output}: {result.pages} pages "
            f"({result.pages_without_text} without text) in {result.seconds:.1f} s"
        )
        return Completed(message=message, data=result)
    # skipped: another run holds the file's claim and converts it
    return Completed(message=f"{archive.name}: {result.outcome}, another run has it", data=result)


def failed(archive: Path, error: ComicError, settings: Settings) -> State:
    """The run's state for a comic that failed with one of our errors."""
    summarize_failure(archive, error, settings)
    name = TIMED_OUT if isinstance(error, StageTimeout) else "Failed"
    return Failed(name=name, message=f"{error.reason}: {error.message}", data=error)


def as_comic_error(error: TimeoutError, archive: Path) -> StageTimeout:
    """A Prefect task time limit (``TaskRunTimeoutError``) as our ``timeout``."""
    return StageTimeout(f"a stage ran past its time limit ({error})", path=archive)


def report_flow_timeout(flow: object, flow_run: object, state: State) -> None:
    """``on_failure`` hook: the artifact of a run that Prefect's flow time limit ended.

    Prefect ends such a run itself (TimedOut) without returning to the flow, so
    the flow cannot write the artifact; the input of an inbox job is taken over
    by the next scan.
    """
    if state.name != TIMED_OUT or not isinstance(state.data, TimeoutError):
        return  # our own ending, whose artifact is written already
    path = Path(str(getattr(flow_run, "parameters", {}).get("path", "comic")))
    summarize_failure(path, as_comic_error(state.data, path), load_settings())
