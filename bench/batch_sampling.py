"""Sampling a `scan --once` process tree for bench/batch_server.py: CPU, and when OCR ran."""

import contextlib
import threading
import time

import psutil

SAMPLE_SECONDS = 0.2
OCR_MARK = "comic2pdf.ocr.child"  # in the argv of the ocrmypdf child of a conversion


def tree(pid: int) -> list[psutil.Process]:
    """A process and its live descendants; none if it is gone."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def cpu_of(procs: list[psutil.Process]) -> float:
    """CPU seconds of *procs* and of the children they already reaped."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_cpu(pid: int) -> float:
    return cpu_of(tree(pid))


def rss_of(procs: list[psutil.Process]) -> int:
    """Resident bytes of *procs*."""
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def ocr_among(procs: list[psutil.Process]) -> bool:
    """Whether one of *procs* is the ocrmypdf child of a conversion."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if OCR_MARK in " ".join(proc.cmdline()):
                return True
    return False


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O) since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Sampler(threading.Thread):
    """(time, tree CPU, OCR running?) of one process tree, every SAMPLE_SECONDS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float, bool]] = []
        self.own_cpu = 0.0  # of the scan's Python process alone (Prefect's client, prep)
        self.peak_rss = 0  # bytes, the whole tree
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            procs = tree(self.pid)  # listed once per sample: the sampling costs CPU too
            if not procs:
                continue
            self.samples.append((time.monotonic(), cpu_of(procs), ocr_among(procs[1:])))
            with contextlib.suppress(psutil.Error):
                times = procs[0].cpu_times()
                self.own_cpu = times.user + times.system
            self.peak_rss = max(self.peak_rss, rss_of(procs))

    def ocr_time_and_cpu(self) -> tuple[float, float]:
        """Seconds between samples that both saw OCR running, and the CPU spent in them."""
        seconds = cpu = 0.0
        for (t0, c0, ocr0), (t1, c1, ocr1) in zip(self.samples, self.samples[1:], strict=False):
            if ocr0 and ocr1:
                seconds += t1 - t0
                cpu += c1 - c0
        return seconds, cpu

    def ocr_span(self, started: float, ended: float) -> tuple[float, float]:
        """Seconds before the first OCR was seen, and after the last one."""
        seen = [t for t, _, ocr in self.samples if ocr]
        if not seen:
            return ended - started, 0.0
        return seen[0] - started, ended - seen[-1]
