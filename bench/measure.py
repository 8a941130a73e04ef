"""Running commands and measuring them: wall time, CPU of the whole process tree, peak RSS.

CPU time is user + system of each started process and of every descendant it waited for
(``os.wait4``); peak RSS is the largest total of the whole process tree, sampled every
``SAMPLE_SECONDS``, which also tells when a watched process (ocrmypdf's child inside
``comic2pdf convert``) ran.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_SECONDS = 0.1
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024
BIN = Path(sys.executable).parent


@dataclass
class Usage:
    """What a command (or a sequence of commands) cost."""

    wall: float = 0.0
    cpu: float = 0.0  # user + sys, the processes and the descendants they waited for
    peak_rss: int = 0  # bytes, the whole process tree at its largest (sampled)
    spans: list[tuple[float, float]] = field(default_factory=list)  # watched processes
    span_cpu: list[float] = field(default_factory=list)  # their own CPU s, children included
    cpu_series: list[tuple[float, float]] = field(default_factory=list)  # (t, tree CPU s)
    output: str = ""

    def __add__(self, other: "Usage") -> "Usage":
        """Steps run one after the other: times add up, memory does not."""
        return Usage(
            self.wall + other.wall,
            self.cpu + other.cpu,
            max(self.peak_rss, other.peak_rss),
            output=self.output + other.output,
        )

    def cpu_between(self, start: float, end: float) -> float:
        """Tree CPU seconds spent between two moments (from the samples)."""
        inside = [cpu for t, cpu in self.cpu_series if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) >= 2 else float("nan")

    def busy(self, cores: int, window: tuple[float, float] | None = None) -> float:
        """Share of the cores kept busy, over the whole run or over *window*."""
        if window is None:
            return self.cpu / (self.wall * cores)
        start, end = window
        return self.cpu_between(start, end) / ((end - start) * cores)


class TreeSampler(threading.Thread):
    """Samples the process trees under *roots*: total RSS, total CPU, watched processes."""

    def __init__(self, roots: set[int], watch: str | None) -> None:
        super().__init__(daemon=True)
        self.roots, self.watch = roots, watch
        self.started = time.monotonic()
        self.peak_rss = 0
        self.reaped_cpu = 0.0  # CPU of started processes already reaped (gone from the tree)
        self.cpu_series: list[tuple[float, float]] = []
        self.seen: dict[int, list[float]] = {}  # watched pid -> [first, last seen, CPU s]
        self._inside: set[int] = set()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        now = time.monotonic() - self.started
        rss = cpu = 0.0
        for pid in self._tree():
            stat = read_text(f"/proc/{pid}/stat")
            if not stat:
                continue  # gone between listing and reading
            fields = stat.rsplit(")", 1)[1].split()
            own = sum(int(value) for value in fields[11:15]) / TICKS  # u, s, cu, cs
            cpu += own
            rss += int(fields[21]) * PAGE_BYTES
            self._note(pid, int(fields[1]), now, own)
        self.peak_rss = max(self.peak_rss, int(rss))
        self.cpu_series.append((now, cpu + self.reaped_cpu))

    def spans(self) -> list[tuple[float, float]]:
        return sorted((first, last) for first, last, _cpu in self.seen.values())

    def span_cpu(self) -> list[float]:
        """Each watched process's CPU at its last sample (its tools reaped by then), in order."""
        return [cpu for _first, _last, cpu in sorted(self.seen.values())]

    def _note(self, pid: int, ppid: int, now: float, cpu: float) -> None:
        if pid in self.seen:
            self.seen[pid][1:] = [now, cpu]
        elif ppid in self.seen or ppid in self._inside:
            self._inside.add(pid)  # a worker or tool of a watched process, not another one
        elif self.watch and self.watch in read_text(f"/proc/{pid}/cmdline").replace("\0", " "):
            # Read again each time: between fork and exec a child shows its parent's argv.
            self.seen[pid] = [now, now, cpu]

    def _tree(self) -> Iterator[int]:
        todo = list(self.roots)
        while todo:
            pid = todo.pop()
            yield pid
            for task in _listdir(f"/proc/{pid}/task"):
                todo += [
                    int(child) for child in read_text(f"/proc/{pid}/task/{task}/children").split()
                ]


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _listdir(path: str) -> list[str]:
    try:
        return [entry.name for entry in Path(path).iterdir()]
    except OSError:
        return []


def run(
    commands: Sequence[Sequence[object]],
    *,
    log: Path,
    parallel: int = 1,
    env: dict[str, str] | None = None,
    watch: str | None = None,
) -> Usage:
    """Run *commands*, at most *parallel* at once; exit with the log's tail if one fails.

    Not comic2pdf.proc.run: the benchmark needs each process's rusage from wait4.
    """
    pending = [[os.fspath(part) for part in command] for command in commands]
    running: dict[int, subprocess.Popen] = {}
    sampler = TreeSampler(set(), watch)
    cpu = 0.0
    with log.open("a") as out:
        sampler.start()
        while pending or running:
            while pending and len(running) < parallel:
                argv = pending.pop(0)
                out.write(f"$ {subprocess.list2cmdline(argv)}\n")
                out.flush()
                proc = subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True,
                )  # fmt: skip
                running[proc.pid] = proc
                sampler.roots.add(proc.pid)
            pid, status, usage = os.wait4(-1, 0)
            proc = running.pop(pid)
            sampler.roots.discard(pid)
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            cpu += usage.ru_utime + usage.ru_stime
            sampler.reaped_cpu = cpu
            if proc.returncode != 0:
                _stop_all(running)
                sys.exit(f"failed ({proc.returncode}): {proc.args}\n{_tail(log)}")
        sampler.stop()
    wall = time.monotonic() - sampler.started
    return Usage(
        wall,
        cpu,
        sampler.peak_rss,
        sampler.spans(),
        sampler.span_cpu(),
        sampler.cpu_series,
        _tail(log, 20_000),
    )


def _stop_all(running: dict[int, subprocess.Popen]) -> None:
    for proc in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:]


def span_length(span: tuple[float, float]) -> float:
    start, end = span
    return end - start + SAMPLE_SECONDS  # seen up to a sample late and gone a sample early


def prefect_env(tmp: Path) -> dict[str, str]:
    """The Prefect runs' environment: a PREFECT_HOME of our own unless a server is set."""
    if os.environ.get("PREFECT_API_URL"):
        return dict(os.environ)
    return os.environ | {
        "PREFECT_HOME": os.fspath(tmp / "prefect-home"),
        # A loaded machine (others' work, our own OCR) starts the temporary server slowly.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
