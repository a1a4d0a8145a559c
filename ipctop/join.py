"""The join of objects with their users: indexes over one /proc scan, and users built from them.

The scan (collect/procs.py) lists fds and shared maps per process; :class:`Join` indexes them by
the identity the kernel gives each kind (a pipe or socket inode, a file's (st_dev, st_ino), a SysV
shmid, a queue name). The join of one kind is a function beside that kind's collector
(``join_*`` in collect/sysv.py, posix.py, pipes.py, sockets.py, mappings.py), which looks its
objects up here and builds users with :meth:`Join.fd_users` and :meth:`Join.map_users`.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ipctop.collect.procfs import DELETED
from ipctop.collect.procs import FdUse, MapUse, ProcScan
from ipctop.model import Process, User

T = TypeVar("T")


def merge_access(a: str | None, b: str | None) -> str | None:
    """The union of two accesses ("r" and "w" give "rw"); None only when both are None."""
    if a is None or b is None:
        return a or b
    letters = set(a) | set(b)
    return "".join(c for c in "rw" if c in letters)


class Join:
    """Indexes over one ProcScan, and the users built from them."""

    pipes_by_ino: dict[int, list[FdUse]]
    socks_by_ino: dict[int, list[FdUse]]
    fds_by_file: dict[tuple[int, int], list[FdUse]]
    mq_fds: dict[str, list[FdUse]]
    fifo_fds: dict[tuple[int, int], list[FdUse]]
    memfd_fds: dict[int, list[FdUse]]
    """Fds on memfds, by inode."""
    eventfd_fds: dict[int, list[FdUse]]
    """Fds on eventfds, by fdinfo's eventfd-id."""
    maps_by_file: dict[tuple[int, int], list[MapUse]]
    maps_by_shmid: dict[tuple[int | None, int], list[MapUse]]
    """SysV attachments by (IPC namespace, shmid): shmids repeat across namespaces."""
    comm: dict[int, str]
    own_ipc_ns: int | None

    def __init__(self, scanned: ProcScan, proc: Path, live: bool,
                 previous: Join | None = None) -> None:
        self.old_memo = previous.memo if previous is not None else {}
        self.memo: dict[str, dict[tuple[object, ...], Any]] = {}
        """Users joined in this scan, per space (see :meth:`remembered`), by the ids of the fds
        or maps they come from."""
        self.space = ""
        """The space :meth:`remembered` keeps what it builds in: a polling program sets it to
        the kind being joined, so that a kind handed on whole can carry its own (:meth:`carry`)."""
        self.scan = scanned
        self.proc = str(proc)
        self.live = live
        self.changed_pids: frozenset[int] = frozenset()
        """Processes that appeared, went, or differ in what a join reads of them
        (:func:`_joined_facts`) since the previous poll's Join (all when there is none)."""
        if previous is None:
            self.changed_pids = frozenset(scanned.processes)
        elif scanned is not previous.scan:
            self.changed_pids = _changed(previous.scan.processes, scanned.processes)
        if previous is not None and previous.same_as(scanned, self.changed_pids):
            # The very fds and maps of the previous poll (a process that ran and was read again
            # gives equal ones): its indexes hold.
            for name in _INDEXES:
                setattr(self, name, getattr(previous, name))
            return
        self.comm = {pid: p.comm for pid, p in scanned.processes.items()}
        self.pipes_by_ino = defaultdict(list)
        self.socks_by_ino = defaultdict(list)
        self.fds_by_file = defaultdict(list)
        self.mq_fds = defaultdict(list)
        self.fifo_fds = defaultdict(list)
        self.memfd_fds = defaultdict(list)
        self.eventfd_fds = defaultdict(list)
        for f in scanned.fds:
            target = f.target
            if target.startswith("pipe:["):
                digits = target[6:-1]  # FdUse.inode_ref, inline: this loop runs over every fd
                if target[-1] == "]" and digits.isdigit():
                    self.pipes_by_ino[int(digits)].append(f)
            elif target.startswith("socket:["):
                digits = target[8:-1]
                if target[-1] == "]" and digits.isdigit():
                    self.socks_by_ino[int(digits)].append(f)
            elif f.mqueue:
                if not target.endswith(DELETED):
                    self.mq_fds[target].append(f)
            elif target.startswith("/memfd:"):
                if f.ino is not None:
                    self.memfd_fds[f.ino].append(f)
            elif f.eventfd is not None:
                if f.eventfd.ident is not None:
                    self.eventfd_fds[f.eventfd.ident].append(f)
            elif f.mode is not None and f.dev is not None and f.ino is not None:
                if stat.S_ISFIFO(f.mode):
                    self.fifo_fds[(f.dev, f.ino)].append(f)
                else:
                    self.fds_by_file[(f.dev, f.ino)].append(f)
        self.maps_by_file = defaultdict(list)
        self.maps_by_shmid = defaultdict(list)
        self.own_ipc_ns = scanned.self_ipc_ns
        for m in scanned.maps:
            if m.shmid is not None:
                if m.path.startswith("/SYSV"):
                    self.maps_by_shmid[(self.ipc_ns_of(m.pid), m.shmid)].append(m)
            else:
                self.maps_by_file[(m.dev, m.inode)].append(m)
        if previous is not None:
            # An index equal to the previous poll's is that very one, holding the previous
            # poll's instances: a polling program hands on whole a kind joined from an index
            # it was handed again (snapshot.take), and what it remembers by their ids holds.
            for name in _INDEXES:
                if getattr(self, name) == getattr(previous, name):
                    setattr(self, name, getattr(previous, name))

    def same_as(self, scanned: ProcScan, changed: frozenset[int]) -> bool:
        """Whether ``scanned`` gives this Join's indexes: the same fds and maps in the same
        order (compared in C, identity first: a process that has not run keeps its instances),
        and, of the ``changed`` processes (:attr:`changed_pids`), none that holds any."""
        old = self.scan
        if scanned is old:
            return True
        if scanned.self_ipc_ns != old.self_ipc_ns or scanned.fds != old.fds or \
                scanned.maps != old.maps:
            return False
        # A process holding nothing is in no index (a kernel thread's name changes with the
        # work it does).
        return not changed or changed.isdisjoint(
            {f.pid for f in scanned.fds} | {m.pid for m in scanned.maps})

    def carry(self, space: str) -> None:
        """Keep what ``space`` built at the previous poll, for a kind handed on whole."""
        found = self.old_memo.get(space)
        if found is not None:
            self.memo[space] = found

    def ipc_ns_of(self, pid: int) -> int | None:
        """The IPC namespace of ``pid``; ours when it could not be read."""
        p = self.scan.processes.get(pid)
        return p.ipc_ns if p is not None and p.ipc_ns is not None else self.own_ipc_ns

    # ------------------------------------------------------------------ users

    def remembered(self, kind: str, items: Sequence[object],
                   build: Callable[[Sequence[Any]], T]) -> T:
        """``build(items)``, or what it returned in the previous scan for the very same items.

        In an incremental scan a process that has not run keeps its FdUse and MapUse
        instances, so an object whose users have not changed is joined from the same
        instances; the memo is keyed by their ids and holds them, so an id cannot have been
        reused. It keeps only what this scan asked for. The items may be anything held the
        same way (a joined object is remembered by the object and its users)."""
        held = tuple(items)
        key = (kind, *map(id, held))
        space = self.space
        old = self.old_memo.get(space)
        hit = old.get(key) if old is not None else None
        if hit is None:
            hit = (held, build(held))
        new = self.memo.get(space)
        if new is None:
            new = self.memo[space] = {}
        new[key] = hit
        result: T = hit[1]
        return result

    def fd_users(self, fds: Sequence[FdUse], *, access: bool = True) -> tuple[User, ...]:
        return self.remembered("fd" if access else "fd-", fds,
                               lambda items: self._fd_users(items, access))

    def _fd_users(self, fds: Sequence[FdUse], access: bool) -> tuple[User, ...]:
        comm = self.comm
        users = {  # User(pid, comm, fd, access, via), positional: this runs for every fd
            (f.pid, f.fd): User(f.pid, comm.get(f.pid, "?"), f.fd, f.access if access else None,
                                "fd")
            for f in fds
        }
        return tuple(users[k] for k in sorted(users))

    def map_users(self, maps: Sequence[MapUse]) -> tuple[User, ...]:
        """One user per process, access merged over all its mappings of the object."""
        return self.remembered("map", maps, self._map_users)

    def _map_users(self, maps: Sequence[MapUse]) -> tuple[User, ...]:
        per_pid: dict[int, str | None] = {}
        for m in maps:
            per_pid[m.pid] = merge_access(per_pid[m.pid], m.access) if m.pid in per_pid \
                else m.access
        return tuple(
            User(pid, self.comm.get(pid, "?"), None, acc, "map")
            for pid, acc in sorted(per_pid.items())
        )


_INDEXES = ("comm", "pipes_by_ino", "socks_by_ino", "fds_by_file", "mq_fds", "fifo_fds",
            "memfd_fds", "eventfd_fds", "maps_by_file", "maps_by_shmid", "own_ipc_ns")


def _changed(before: dict[int, Process], after: dict[int, Process]) -> frozenset[int]:
    """The pids of :attr:`Join.changed_pids`."""
    changed = before.keys() ^ after.keys()
    for pid, p in after.items():
        q = before.get(pid)
        if q is not None and q is not p and _joined_facts(q) != _joined_facts(p):
            changed.add(pid)
    return frozenset(changed)


def _joined_facts(p: Process) -> tuple[object, ...]:
    """What a join reads of a process: what its users and a segment's creator show."""
    return (p.comm, p.cmdline, p.start_time, p.ipc_ns, p.mnt_ns, p.uid)


def user_order(u: User) -> tuple[int, int, int]:
    """Users of an object that has both: by pid, a process's fds before its maps."""
    return (u.pid, 0 if u.via == "fd" else 1, -1 if u.fd is None else u.fd)


def stat_or_none(path: str) -> os.stat_result | None:
    """os.stat of ``path`` (following links), None on any error."""
    try:
        return os.stat(path)
    except OSError:
        return None
