"""The incremental scan of a polling program: what one scan keeps for the next (ScanCache)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from ipctop.collect.procfs import FdUse, MapUse
from ipctop.model import Process


@dataclass(frozen=True, slots=True)
class Seen:
    """What one scan read of one process, and how to tell next time whether it has changed."""

    stamp: bytes
    """:meth:`_Scanner.run_stamp` before the process was read."""
    threads: int | None
    """The "Threads:" count of its status."""
    status: bytes | None
    """The status it was read with, for a process that a signal can be left pending on
    without it running (it blocks signals, or it is stopped or in uninterruptible sleep);
    None for others, which run when sent a signal."""
    process: Process
    fds: tuple[FdUse, ...]
    maps: tuple[MapUse, ...]
    notes: tuple[str, ...]
    """What could not be read, as ``Unreadable.sample`` words it."""


class ScanCache:
    """What a polling program's scans keep from one to the next (``scan(cache=...)``).

    A process is read again only when it may have changed. Its fds, maps, command line and
    namespace change only when it runs, and /proc/PID/schedstat (time on CPU, time waiting,
    timeslices) changes whenever it runs: a process whose schedstat (every thread's, for one
    with several) is the same as at the previous scan is taken from the cache. Signals are the
    exception: one sent to a process that blocks it, or that is stopped or in uninterruptible
    sleep, stays pending without the process running, so for those the status is compared too.
    A pid reused by another process is told apart by the inode of its schedstat file. On an
    idle machine that is a handful of processes read per poll instead of all of them, and a
    small file read for the rest instead of four.

    Two things change what a process's fds and maps look like without the process running:
    a SysV segment, /dev/shm file or queue removed by someone else (the maps and fd links then
    say "(deleted)"), and anything this reasoning overlooks. For the first, :meth:`begin` is
    given the identities of those objects and reads again the processes that referred to one
    that is gone; for the second, every ``full_every`` seconds the cache starts afresh anyway.
    """

    def __init__(self, full_every: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.full_every = full_every
        self.clock = clock
        self.seen: dict[int, Seen] = {}
        self.identity: object = None
        self.held: frozenset[Hashable] = frozenset()
        self.blind_before: dict[int, bytes | None] = {}
        self.full_at: float | None = None
        self.join: Any = None
        """The previous poll's ipctop.join.Join, kept for ``snapshot.take``: its indexes hold
        while the scan is the same, and it remembers the users it joined."""
        from ipctop.collect.poll_memo import PollMemo  # only a polling program needs it

        self.memo = PollMemo(clock)
        """What the object collectors keep between polls (collect/poll_memo.py)."""
        self.blind_stamps: dict[int, bytes | None] = {}
        """Run stamps of the processes the last scan could not read (whole or in part)."""
        self.blind_ran = True
        """Whether some process the last scan could not read may have run since the scan
        before (its stamp changed or could not be read): then what /proc showed of others
        does not tell everything that may have changed (a pipe it holds was written)."""
        self.reused = 0
        """Processes the last scan took from the cache."""
        self.read = 0
        """Processes the last scan read."""
        self.fresh: set[int] = set()
        """Their pids."""

    def begin(self, identity: object = None, held: frozenset[Hashable] = frozenset()) -> None:
        """Start a scan; forget everything if ``identity`` (what is asked for) changed, or on the
        periodic full scan.

        ``held``: the objects whose removal shows in other processes' fds and maps ("(deleted)"),
        as :func:`refers` names them. A process that referred to one that is gone since the
        previous scan is read again; the others are kept (on a machine where other programs
        create and remove /dev/shm files all the time, starting afresh at each removal meant
        reading every process at every poll)."""
        now = self.clock()
        if identity != self.identity or self.full_at is None or \
                now - self.full_at >= self.full_every:
            self.seen = {}
            if self.full_at is not None:  # the first poll has nothing to forget yet
                self.memo.forget()
                self.join = None
            self.full_at = now
        elif gone := self.held - held:
            self.seen = {pid: seen for pid, seen in self.seen.items()
                         if not any(item in gone for item in refers(seen))}
        self.identity = identity
        self.held = held
        self.reused = self.read = 0
        self.fresh = set()
        self.blind_ran = False
        self.blind_before, self.blind_stamps = self.blind_stamps, {}

    def blind(self, pid: int, stamp: bytes | None) -> None:
        """Process ``pid`` could not be read (whole or in part) by this scan."""
        self.blind_stamps[pid] = stamp
        if stamp is None or self.blind_before.get(pid) != stamp:
            self.blind_ran = True


def refers(seen: Seen) -> Iterator[Hashable]:
    """What a process's fds and maps refer to, as ``ScanCache.begin``'s ``held`` names it:
    ("shm", shmid), ("file", dev, inode) and ("mq", name)."""
    for f in seen.fds:
        if f.mqueue:
            yield ("mq", f.target)
        elif f.dev is not None and f.ino is not None:
            yield ("file", f.dev, f.ino)
    for m in seen.maps:
        yield ("shm", m.shmid) if m.shmid is not None else ("file", m.dev, m.inode)


SIGNAL_STATES = ("D", "T", "t")
"""Uninterruptible sleep, stopped, traced: a signal sent then stays pending; the process does not
run to take it."""


def threads_of(status: bytes) -> int | None:
    """The "Threads:" count of a status file; None when it has none."""
    pos = status.find(b"\nThreads:")
    if pos < 0:
        return None
    end = status.find(b"\n", pos + 1)
    try:
        return int(status[pos + 9 : end if end >= 0 else None])
    except ValueError:
        return None

