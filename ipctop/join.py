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
from ipctop.model import User

T = TypeVar("T")


def merge_access(a: str | None, b: str | None) -> str | None:
    """The union of two accesses ("r" and "w" give "rw"); None only when both are None."""
    if a is None or b is None:
        return a or b
    letters = set(a) | set(b)
    return "".join(c for c in "rw" if c in letters)


class Join:
    """Indexes over one ProcScan, and the users built from them."""

    def __init__(self, scanned: ProcScan, proc: Path, live: bool,
                 memo: dict[tuple[object, ...], Any] | None = None) -> None:
        self.old_memo = memo if memo is not None else {}
        self.memo: dict[tuple[object, ...], Any] = {}
        """Users joined in this scan, by the ids of the fds or maps they come from (see
        :meth:`remembered`)."""
        self.scan = scanned
        self.proc = str(proc)
        self.live = live
        self.comm = {pid: p.comm for pid, p in scanned.processes.items()}
        self.pipes_by_ino: dict[int, list[FdUse]] = defaultdict(list)
        self.socks_by_ino: dict[int, list[FdUse]] = defaultdict(list)
        self.fds_by_file: dict[tuple[int, int], list[FdUse]] = defaultdict(list)
        self.mq_fds: dict[str, list[FdUse]] = defaultdict(list)
        self.fifo_fds: dict[tuple[int, int], list[FdUse]] = defaultdict(list)
        self.memfd_fds: dict[int, list[FdUse]] = defaultdict(list)
        """Fds on memfds, by inode."""
        self.eventfd_fds: dict[int, list[FdUse]] = defaultdict(list)
        """Fds on eventfds, by fdinfo's eventfd-id."""
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
        self.maps_by_file: dict[tuple[int, int], list[MapUse]] = defaultdict(list)
        self.maps_by_shmid: dict[tuple[int | None, int], list[MapUse]] = defaultdict(list)
        """SysV attachments by (IPC namespace, shmid): shmids repeat across namespaces."""
        self.own_ipc_ns = scanned.self_ipc_ns
        for m in scanned.maps:
            if m.shmid is not None:
                if m.path.startswith("/SYSV"):
                    self.maps_by_shmid[(self.ipc_ns_of(m.pid), m.shmid)].append(m)
            else:
                self.maps_by_file[(m.dev, m.inode)].append(m)

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
        hit = self.old_memo.get(key)
        if hit is None:
            hit = (held, build(held))
        self.memo[key] = hit
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


def user_order(u: User) -> tuple[int, int, int]:
    """Users of an object that has both: by pid, a process's fds before its maps."""
    return (u.pid, 0 if u.via == "fd" else 1, -1 if u.fd is None else u.fd)


def stat_or_none(path: str) -> os.stat_result | None:
    """os.stat of ``path`` (following links), None on any error."""
    try:
        return os.stat(path)
    except OSError:
        return None
