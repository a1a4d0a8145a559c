"""Helpers shared by the benchmarks: timing a whole process, statistics, tables, /proc readers."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    """One finished process: wall time, CPU time and peak RSS from its own rusage (wait4)."""

    wall: float
    user: float
    sys: float
    status: int
    """Exit status (os.waitstatus_to_exitcode)."""
    maxrss_kb: int
    """From wait4: inflated by the spawning process's own peak (see peak_rss_kb)."""

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def venv_python() -> str:
    """The interpreter running the benchmark (run it with the project's .venv/bin/python)."""
    return sys.executable


def ipctop_argv(override: str | None) -> list[str]:
    """The ipctop command: --ipctop if given, else the console script beside this Python, else
    ``python -m ipctop``."""
    if override:
        return shlex.split(override)
    script = Path(sys.executable).with_name("ipctop")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "ipctop"]


def bench_env(*, allow_pyc: bool = True) -> dict[str, str]:
    """The environment for measured processes.

    This sandbox sets PYTHONDONTWRITEBYTECODE=1, so an editable install never gets .pyc files and
    every run recompiles ipctop from source (~70 ms here). A real install (pip install .) has them,
    so by default we drop the variable and let the warm-up run write the cache.
    """
    env = dict(os.environ)
    if allow_pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Spawn argv with stdout and stderr on /dev/null, wait, and measure it alone (wait4 rusage)."""
    path = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if path is None:
        raise FileNotFoundError(argv[0])
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    t0 = time.perf_counter()
    pid = os.posix_spawn(path, list(argv), env if env is not None else os.environ,
                         file_actions=actions)
    try:
        _, status, ru = os.wait4(pid, 0)
    except BaseException:  # Ctrl-C: do not leave it running or unreaped
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise
    wall = time.perf_counter() - t0
    return Run(wall, ru.ru_utime, ru.ru_stime, os.waitstatus_to_exitcode(status), ru.ru_maxrss)


TIME = "/usr/bin/time"


def peak_rss_kb(argv: Sequence[str], env: dict[str, str] | None = None) -> int | None:
    """Peak RSS of one run, via GNU time (%M), or None without it.

    Not from our own wait4(): a process started by posix_spawn/fork inherits the parent's RSS
    high-water mark across exec, so a big benchmark process would inflate every figure.
    """
    if not os.path.exists(TIME):
        return None
    fd, out = tempfile.mkstemp(prefix="ipctop-bench-time-")
    os.close(fd)
    try:
        run_timed([TIME, "-f", "%M", "-o", out, *argv], env)
        with open(out) as f:
            lines = f.read().split()
        return int(lines[-1]) if lines and lines[-1].isdigit() else None
    finally:
        os.unlink(out)


@dataclass(frozen=True)
class Stats:
    name: str
    n: int
    median_ms: float
    min_ms: float
    max_ms: float
    cpu_ms: float | None = None
    """Median user+sys."""
    rss_mb: float | None = None
    """Max of the peak RSS over the runs."""
    note: str = ""

    @classmethod
    def of_runs(
        cls, name: str, runs: Sequence[Run], rss_kb: int | None = None, note: str = ""
    ) -> Stats:
        walls = [r.wall * 1000 for r in runs]
        return cls(
            name, len(runs), statistics.median(walls), min(walls), max(walls),
            statistics.median(r.cpu * 1000 for r in runs),
            None if rss_kb is None else rss_kb / 1024, note,
        )

    @classmethod
    def of_seconds(cls, name: str, seconds: Sequence[float], note: str = "") -> Stats:
        ms = [s * 1000 for s in seconds]
        return cls(name, len(ms), statistics.median(ms), min(ms), max(ms), note=note)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def stats_table(rows: Sequence[Stats]) -> str:
    """A Markdown table (pastes straight into docs/bench.md)."""
    head = ["what", "runs", "median ms", "min ms", "max ms", "CPU ms (median)", "peak RSS MB",
            "note"]
    body = [
        [r.name, str(r.n), _fmt(r.median_ms), _fmt(r.min_ms), _fmt(r.max_ms), _fmt(r.cpu_ms),
         _fmt(r.rss_mb), r.note]
        for r in rows
    ]
    return markdown_table(head, body)


def markdown_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(row) for row in body)])


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of a process (all its threads) from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid: int, *keys: str) -> dict[str, int]:
    """VmRSS, VmHWM, ... from /proc/PID/status, in kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in keys:
                out[name] = int(rest.split()[0])
    return out


def machine_line() -> str:
    """One line about the machine, for the record."""
    load1 = os.getloadavg()[0]
    nproc = len(os.sched_getaffinity(0))
    kernel = os.uname().release
    nprocs = sum(1 for d in os.listdir("/proc") if d.isdigit())
    return (f"{nproc} CPUs, Linux {kernel}, Python {sys.version.split()[0]}, "
            f"{nprocs} processes running, load average {load1:.2f}")


class DirChurn:
    """Counts inotify create/delete events in some directories (/dev/shm, /dev/mqueue): each one
    makes the TUI poll at once, so a window with churn is not an idle window."""

    _IN_CREATE = 0x100
    _IN_DELETE = 0x200
    _IN_NONBLOCK = 0o4000
    _IN_CLOEXEC = 0o2000000

    def __init__(self, dirs: Sequence[str] = ("/dev/shm", "/dev/mqueue")) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = int(libc.inotify_init1(self._IN_NONBLOCK | self._IN_CLOEXEC))
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for d in dirs:
            if os.path.isdir(d):
                libc.inotify_add_watch(self.fd, os.fsencode(d), self._IN_CREATE | self._IN_DELETE)

    def count(self) -> int:
        """Events since the last call."""
        n = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return n
            pos = 0
            while pos + 16 <= len(data):
                name_len = int.from_bytes(data[pos + 12:pos + 16], "little")
                pos += 16 + name_len
                n += 1

    def close(self) -> None:
        os.close(self.fd)
