"""A one-shot scan of /proc split among forked helper processes (``scan(workers=N)``).

Most of a scan is the kernel generating /proc files, and Python threads would serialize on the
GIL between the many short system calls, so each helper scans its share of the pids in a process
of its own and sends the result back through a pipe. :class:`SplitScan` is the part of the
scanner (``procs._Scanner``) that does this.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
from collections.abc import Iterable
from typing import Any

from ipctop.collect.procfs import EventfdInfo, FdUse, MapUse, drain
from ipctop.model import Process, Signals

SAMPLE_MAX = 10
"""At most this many "path: reason" strings are kept in Unreadable.sample."""

WORKERS_ENV = "IPCTOP_SCAN_WORKERS"
"""Environment variable capping the processes a one-shot scan uses (1: no forked helpers)."""
MAX_WORKERS = 4


LOADAVG = "/proc/loadavg"
"""Its fourth field, "RUNNING/TOTAL", counts the tasks runnable right now (the reader too)."""


def scan_workers(loadavg: str = LOADAVG) -> int:
    """Processes a one-shot command may scan /proc with: the CPUs this process may run on, at
    most :data:`MAX_WORKERS` and at most as many as no other task is running on right now, or
    what ``IPCTOP_SCAN_WORKERS`` says (at least 1).

    A forked helper costs CPU time of its own (copy-on-write faults in both processes: ~15 ms
    at 500 processes) and pays it back only by running beside the parent: on a machine whose
    other CPUs are busy it only made the scan slower."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text.isdigit():
        return max(1, int(text))
    try:
        cpus = len(os.sched_getaffinity(0))
    except OSError:
        cpus = os.cpu_count() or 1
    free = cpus
    try:
        fd = os.open(loadavg, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fields = os.read(fd, 256).split()
        finally:
            os.close(fd)
        free = cpus - max(0, int(fields[3].split(b"/")[0]) - 1)
    except (OSError, ValueError, IndexError):
        pass  # not known: as many as there are CPUs
    return max(1, min(cpus, MAX_WORKERS, free))


class SplitScan:
    """The forked-helpers part of a scan; the scanner gives ``run_pids`` and the result lists."""

    processes: dict[int, Process]
    fds: list[FdUse]
    maps: list[MapUse]
    bad_pids: set[int]
    sample: list[str]

    def run_pids(self, pids: Iterable[int], proc_fd: int) -> None:
        raise NotImplementedError

    def run_forked(self, pids: list[int], proc_fd: int, workers: int) -> None:
        """Scan ``pids`` in ``workers`` processes: this one and forked children.

        Most of a scan is the kernel generating /proc files, and Python threads would serialize
        on the GIL between the many short system calls, so each child scans its share of the
        pids in a process of its own and sends the result back through a pipe (marshal: plain
        tuples, no import). Results are merged in pid-list order, as a single process would
        have found them. A child that cannot be forked, fails or sends a short result costs
        nothing but time: its share is scanned here.
        """
        size = -(-len(pids) // workers)
        shares = [pids[i : i + size] for i in range(0, len(pids), size)]
        children: list[tuple[int, int] | None] = [self.fork_share(s, proc_fd) for s in shares[1:]]
        try:
            self.run_pids(shares[0], proc_fd)
            for i, share in enumerate(shares[1:]):
                data: bytes | None = None
                child = children[i]
                if child is not None:
                    try:
                        data = _read_to_end(child[1])
                    finally:
                        children[i] = None
                        if not _finish_child(*child, done=data is not None):
                            data = None
                if data is None or not self.merge(data):
                    self.run_pids(share, proc_fd)
        finally:
            for child in children:
                if child is not None:
                    _finish_child(*child, done=False)

    def fork_share(self, pids: list[int], proc_fd: int) -> tuple[int, int] | None:
        """Fork a child that scans ``pids`` and writes :meth:`pack` to a pipe: (pid, read fd)."""
        try:
            rfd, wfd = os.pipe()
        except OSError:
            return None
        try:
            child = os.fork()
        except OSError:
            os.close(rfd)
            os.close(wfd)
            return None
        if child == 0:  # pragma: no cover - runs in the child, checked by the parent's merge
            status = 1
            try:
                os.close(rfd)
                self.processes, self.fds, self.maps = {}, [], []
                self.bad_pids, self.sample = set(), []
                self.run_pids(pids, proc_fd)
                data = memoryview(self.pack())
                while data:
                    data = data[os.write(wfd, data):]
                status = 0
            finally:
                os._exit(status)  # never unwind into the parent's code (atexit, stdio buffers)
        os.close(wfd)
        return child, rfd

    def pack(self) -> bytes:
        """What this scanner found, as marshal data for :meth:`merge`."""
        return marshal.dumps((
            [({name: getattr(p, name) for name in _PROCESS_FIELDS}, _fields(p.signals))
             for p in self.processes.values()],
            [_fd_fields(f) for f in self.fds],
            [_fields(m) for m in self.maps],
            sorted(self.bad_pids),
            self.sample,
        ))

    def merge(self, data: bytes) -> bool:
        """Add a child's :meth:`pack`; False (nothing added) when the data does not unpack."""
        try:
            processes, fds, maps, bad_pids, sample = marshal.loads(data)
            found = {fields["pid"]: Process(**fields, signals=Signals(*signals))
                     for fields, signals in processes}
            fd_uses = [_fd_use(f) for f in fds]
            map_uses = [MapUse(*m) for m in maps]
        except (EOFError, ValueError, TypeError):
            return False
        self.processes.update(found)
        self.fds.extend(fd_uses)
        self.maps.extend(map_uses)
        self.bad_pids.update(bad_pids)
        self.sample.extend(sample[: SAMPLE_MAX - len(self.sample)])
        return True

_PROCESS_FIELDS = tuple(name for name in Process.__slots__ if name != "signals")
"""Process fields but the nested Signals."""


def _fields(obj: Signals | FdUse | MapUse | EventfdInfo) -> tuple[object, ...]:
    """The fields of a slotted dataclass, in constructor order."""
    return tuple(getattr(obj, name) for name in obj.__slots__)


def _fd_fields(fd: FdUse) -> tuple[object, ...]:
    """``_fields`` of an FdUse, its nested EventfdInfo as a tuple too (marshal takes no others)."""
    fields = _fields(fd)
    return fields if fd.eventfd is None else (*fields[:-1], _fields(fd.eventfd))


def _fd_use(fields: tuple[Any, ...]) -> FdUse:
    """The FdUse of ``_fd_fields``."""
    if fields[-1] is None:
        return FdUse(*fields)
    named = dict(zip(FdUse.__slots__, fields, strict=True))
    named["eventfd"] = EventfdInfo(*named["eventfd"])
    return FdUse(**named)


def _read_to_end(fd: int) -> bytes | None:
    """Everything until EOF on a pipe; None on a read error."""
    try:
        return drain(fd)
    except OSError:
        return None


def _finish_child(pid: int, rfd: int, *, done: bool) -> bool:
    """Close our end of a scan child's pipe and reap it, SIGKILLed first unless it is ``done``
    (its output was read; after an error or Ctrl-C here it is not). True if it exited 0."""
    with contextlib.suppress(OSError):
        os.close(rfd)
    if not done:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # still ours: a child's pid is not reused until reaped
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return False
    return done and os.waitstatus_to_exitcode(status) == 0
