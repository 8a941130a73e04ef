"""A scan pass's conversions: always as many going as allowed, until nothing is left to start.

A pass that started its inputs in fixed groups and waited for each group to end
left cores idle while the group's last comic finished, and paid a scan's
bookkeeping again for every group (issue #16). Here the next input starts as
soon as any conversion ends. How a conversion is started and watched (a thread
of this process, or a deployment run on a worker) is the caller's; this module
needs no Prefect.
"""

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Protocol, TypeVar

Handle = TypeVar("Handle", bound=Hashable)


class Conversions(Protocol[Handle]):
    def start(self, path: Path) -> Handle:
        """Start converting *path*; a handle to watch it by."""
        ...

    def wait_ended(self, running: list[Handle], timeout: float) -> dict[Handle, str]:
        """Those of *running* that have ended, each with how; waits up to *timeout* for one."""
        ...


def keep_converting(
    conversions: Conversions[Handle],
    next_inputs: Callable[[], list[Path]],
    *,
    size: int,
    check: Callable[[], None],
    every: float,
) -> dict[str, str]:
    """Convert what *next_inputs* offers, at most *size* at once; input name → how it ended.

    *next_inputs* is asked again each time a conversion ends, so files that became
    stable meanwhile join the pass; an input is started once per pass. *check* runs
    at least every *every* seconds while conversions run; to stop the pass it raises
    (the caller cancels what is still running).
    """
    running: dict[Handle, Path] = {}
    outcomes: dict[str, str] = {}
    seen: set[Path] = set()
    while True:
        if len(running) < size:
            fresh = [path for path in next_inputs() if path not in seen]
            for path in fresh[: size - len(running)]:
                seen.add(path)
                running[conversions.start(path)] = path
        if not running:
            return outcomes
        for handle, outcome in conversions.wait_ended(list(running), every).items():
            outcomes[running.pop(handle).name] = outcome
        check()
