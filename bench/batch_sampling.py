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


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants and the children it already reaped."""
    total = 0.0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its live descendants."""
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O) since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def ocr_running(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if OCR_MARK in " ".join(proc.cmdline()):
                    return True
    return False


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
            self.samples.append((time.monotonic(), tree_cpu(self.pid), ocr_running(self.pid)))
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(self.pid).cpu_times()
                self.own_cpu = times.user + times.system
            self.peak_rss = max(self.peak_rss, tree_rss(self.pid))

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
