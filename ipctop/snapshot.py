"""One Snapshot: run the collectors, scan /proc once, join every object with its users.

The collectors (collect/sysv.py, posix.py, sockets.py) list objects with ``users=()``; the scan
(collect/procs.py) lists fds and shared maps per process. This module joins the two by the
identity the kernel gives, never by a guessed name:

- SysV shm: maps lines whose inode column is the shmid, from processes in our IPC namespace only
  (shmids repeat across namespaces);
- POSIX shm and named semaphores: fds and maps whose (st_dev, st_ino) is the /dev/shm file's (the
  semaphore's creator maps a temp name);
- POSIX mq: fds on the mqueue filesystem, by name;
- pipes, UNIX sockets: the inode in "pipe:[N]" / "socket:[N]";
- FIFOs: fds whose target is S_IFIFO, by (dev, inode);
- shared mappings: MAP_SHARED maps of files, by (dev, inode).

A collector that fails (a ParseError, an OSError, /dev/mqueue not mounted) becomes a line in
``Snapshot.notices`` and everything else is still listed. Textual, psutil and posix_ipc are never
imported here; a collector module is imported only when a kind it serves is asked for.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import re
import stat
import struct
import termios
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ipctop.collect.common import DEV, PROC, mode_str, user_name
from ipctop.collect.procs import FdUse, MapUse, ProcScan, ScanCache, scan
from ipctop.errors import IpcError
from ipctop.model import (
    Fifo,
    IpcObject,
    Kind,
    Limits,
    Pipe,
    PosixMq,
    PosixSem,
    PosixShm,
    Process,
    SharedMapping,
    Snapshot,
    SysvShm,
    UnixSocket,
    Unreadable,
    User,
    evolve,
)

F_GETPIPE_SZ = 1032

_KIND_ORDER = {kind: i for i, kind in enumerate(Kind)}
_NEEDS_SCAN = set(Kind) - {Kind.SYSV_MSG, Kind.SYSV_SEM}
_NEEDS_MAPS = {Kind.SYSV_SHM, Kind.POSIX_SHM, Kind.POSIX_SEM, Kind.SHARED_MAPPING}
_DELETED = " (deleted)"

T = TypeVar("T")


def take(
    proc: Path = PROC,
    dev: Path = DEV,
    kinds: Collection[Kind] | None = None,
    *,
    live: bool = True,
    workers: int = 1,
    cache: ScanCache | None = None,
) -> Snapshot:
    """Every IPC object of ``kinds`` (all when None) with its users, and the processes involved.

    ``live`` lets the collectors ask the kernel beyond reading files (semctl, mq_getattr,
    sock_diag, pipe FIONREAD, stat through fd links); turn it off for fixture trees.
    ``workers`` > 1 lets the /proc scan fork helpers (one-shot commands only: see
    :func:`ipctop.collect.procs.scan`). ``cache`` makes the scan incremental for a program
    that polls, as :class:`LiveTake` does.
    """
    want = set(Kind) if kinds is None else set(kinds)
    notices: list[str] = []
    taken_at = time.time()

    def collect(label: str, func: Callable[[], T], default: T) -> T:
        """``func()``, or ``default`` with a notice when it fails (ParseError is an IpcError)."""
        try:
            return func()
        except (IpcError, OSError) as err:
            notices.append(f"{label}: {err}")
        return default

    objects: list[IpcObject] = []
    shms: list[SysvShm] = []
    if want & {Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM}:
        from ipctop.collect import sysv

        if Kind.SYSV_MSG in want:
            objects += collect("SysV msg", lambda: sysv.read_msg(proc, live=live), [])
        if Kind.SYSV_SEM in want:
            objects += collect("SysV sem", lambda: sysv.read_sem(proc, live=live), [])
        if Kind.SYSV_SHM in want:
            shms = collect("SysV shm", lambda: sysv.read_shm(proc), shms)

    if want & {Kind.POSIX_SHM, Kind.POSIX_SEM, Kind.SHARED_MAPPING, Kind.POSIX_MQ}:
        from ipctop.collect import posix

    dev_shm: list[PosixShm | PosixSem] = []
    if want & {Kind.POSIX_SHM, Kind.POSIX_SEM, Kind.SHARED_MAPPING}:
        dev_shm = collect("/dev/shm", lambda: posix.read_dev_shm(dev), [])

    queues: list[PosixMq] | None = None
    if Kind.POSIX_MQ in want:
        try:
            queues = posix.read_mqueue(dev, live=live)
        except posix.MqueueNotMounted as err:
            notices.append(str(err))
        except (IpcError, OSError) as err:
            notices.append(f"POSIX mq: {err}")

    if cache is not None:
        # Removing one of these objects changes how other processes' fds and maps read
        # ("(deleted)") without those processes running: then the cache starts afresh.
        cache.begin((
            frozenset(want),
            frozenset(s.id for s in shms),
            frozenset((o.dev, o.inode) for o in dev_shm),
            frozenset(q.id for q in queues or ()),
        ))
    scanned = scan(proc, live=live, maps=bool(want & _NEEDS_MAPS), workers=workers,
                   cache=cache) if want & _NEEDS_SCAN else \
        ProcScan(processes={}, fds=(), maps=(), unreadable=Unreadable())
    join = _Join(scanned, proc, live, cache.join_memo if cache is not None else None)

    objects += join.sysv_shm(shms)
    objects += join.dev_shm([o for o in dev_shm if o.kind in want])
    if Kind.POSIX_MQ in want:
        objects += join.posix_mq(queues, posix.mq_attrs if live else None)

    if Kind.PIPE in want:
        objects += join.pipes()
    if Kind.FIFO in want:
        objects += join.fifos()
    if Kind.UNIX_SOCKET in want:
        from ipctop.collect import sockets

        no_socks: list[UnixSocket] = []
        socks = collect("UNIX sockets", lambda: sockets.read_unix(proc, live=live), no_socks)
        objects += join.unix_sockets(socks)
    if Kind.SHARED_MAPPING in want:
        objects += join.shared_mappings(dev_shm)

    objects.sort(key=lambda o: (_KIND_ORDER[o.kind], natural_key(o.id)))
    if cache is not None:
        cache.join_memo = join.memo

    limits = Limits()
    if kinds is None or want & {Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM, Kind.POSIX_MQ,
                                Kind.POSIX_SHM}:
        from ipctop.collect import limits as limits_mod

        limits = collect("limits", lambda: limits_mod.read_limits(proc, dev), Limits())

    used = {u.pid for o in objects for u in o.users}
    processes = tuple(
        p for pid, p in sorted(scanned.processes.items())
        if pid in used or p.signals.pending
    )
    snap = Snapshot(
        taken_at=taken_at,
        hostname=os.uname().nodename,
        objects=tuple(objects),
        processes=processes,
        unreadable=scanned.unreadable,
        notices=tuple(notices),
        limits=limits,
    )
    # Leak hunting (issue 5): every object's ``leak`` is set here, so `snapshot --json`, the TUI
    # and `leaks` all carry the same verdicts. Liveness of pids is read from the same ``proc``.
    from ipctop.leaks import ignore_unreadable_default, judge, proc_alive

    return judge(snap, alive=proc_alive(proc), ignore_unreadable=ignore_unreadable_default())


class LiveTake:
    """``take()`` for a program that polls, such as the TUI: each call reads again only the
    processes that may have changed since the previous one (see
    :class:`~ipctop.collect.procs.ScanCache`), and everything every ``full_every`` seconds.

    An object equal to the one the previous call returned is returned as that same instance,
    so a presenter can tell "unchanged" with ``is`` instead of comparing every field and user.
    """

    def __init__(self, proc: Path = PROC, dev: Path = DEV, *, full_every: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.proc = proc
        self.dev = dev
        self.cache = ScanCache(full_every, clock)
        self._previous: dict[tuple[Kind, str], IpcObject] = {}

    def __call__(self) -> Snapshot:
        snap = take(self.proc, self.dev, cache=self.cache)
        previous = self._previous
        objects = []
        for obj in snap.objects:
            old = previous.get((obj.kind, obj.id))
            objects.append(old if old is not None and old == obj else obj)
        self._previous = {(o.kind, o.id): o for o in objects}
        return dataclasses.replace(snap, objects=tuple(objects))


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders "pipe 9" before "pipe 10" and "/q2" before "/q10"."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in _DIGITS.split(text) if part
    )


def _merge_access(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    letters = set(a) | set(b)
    return "".join(c for c in "rw" if c in letters)


class _Join:
    """Indexes over one ProcScan, and the join per kind."""

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
                if not target.endswith(_DELETED):
                    self.mq_fds[target].append(f)
            elif f.mode is not None and f.dev is not None and f.ino is not None:
                if stat.S_ISFIFO(f.mode):
                    self.fifo_fds[(f.dev, f.ino)].append(f)
                else:
                    self.fds_by_file[(f.dev, f.ino)].append(f)
        self.maps_by_file: dict[tuple[int, int], list[MapUse]] = defaultdict(list)
        self.maps_by_shmid: dict[int, list[MapUse]] = defaultdict(list)
        own_ns = scanned.self_ipc_ns
        for m in scanned.maps:
            if m.shmid is not None:
                if m.path.startswith("/SYSV") and _same_ns(own_ns, scanned.processes, m.pid):
                    self.maps_by_shmid[m.shmid].append(m)
            else:
                self.maps_by_file[(m.dev, m.inode)].append(m)

    # ------------------------------------------------------------------ users

    def remembered(self, kind: str, items: Sequence[FdUse] | Sequence[MapUse],
                   build: Callable[[Sequence[Any]], tuple[User, ...]]) -> tuple[User, ...]:
        """``build(items)``, or what it returned in the previous scan for the very same items.

        In an incremental scan a process that has not run keeps its FdUse and MapUse
        instances, so an object whose users have not changed is joined from the same
        instances; the memo is keyed by their ids and holds them, so an id cannot have been
        reused. It keeps only what this scan asked for."""
        held = tuple(items)
        key = (kind, *map(id, held))
        hit = self.old_memo.get(key)
        if hit is None:
            hit = (held, build(held))
        self.memo[key] = hit
        return hit[1]

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
            per_pid[m.pid] = _merge_access(per_pid[m.pid], m.access) if m.pid in per_pid \
                else m.access
        return tuple(
            User(pid, self.comm.get(pid, "?"), None, acc, "map")
            for pid, acc in sorted(per_pid.items())
        )

    # ------------------------------------------------------------------ kinds

    def sysv_shm(self, shms: list[SysvShm]) -> list[IpcObject]:
        return [
            evolve(s, users=self.map_users(self.maps_by_shmid.get(int(s.id), ())),
                                creator=self.creator(s.cpid, s.ctime))
            for s in shms
        ]

    def creator(self, pid: int, created: float | None) -> str | None:
        """The command of ``pid`` if it can be the object's creator: alive, and started before the
        object was created (a younger process only reuses the pid)."""
        p = self.scan.processes.get(pid)
        if p is None:
            return None
        if p.start_time is not None and created is not None and p.start_time > created + 1:
            return None
        return p.cmdline or p.comm

    def dev_shm(self, objs: list[PosixShm | PosixSem]) -> list[IpcObject]:
        out: list[IpcObject] = []
        for o in objs:
            if o.dev is None or o.inode is None:
                out.append(o)
                continue
            key = (o.dev, o.inode)
            users = self.fd_users(self.fds_by_file.get(key, ())) + \
                self.map_users(self.maps_by_file.get(key, ()))
            out.append(evolve(o, users=tuple(sorted(users, key=_user_order))))
        return out

    def posix_mq(
        self,
        queues: list[PosixMq] | None,
        attrs: Callable[[str], tuple[int, int, int] | None] | None,
    ) -> list[IpcObject]:
        out: list[IpcObject] = []
        listed = set()
        for q in queues or ():
            listed.add(q.id)
            out.append(evolve(q, users=self.fd_users(self.mq_fds.get(q.id, ()))))
        for name, fds in self.mq_fds.items():
            if name in listed:
                continue
            # Not in the listing: /dev/mqueue is not mounted (or the queue was created meanwhile).
            info = attrs(name) if attrs is not None else None
            messages = maxmsg = msgsize = None
            if info is not None:
                messages, maxmsg, msgsize = info
            st = _stat(f"{self.proc}/{fds[0].pid}/fd/{fds[0].fd}") if self.live else None
            out.append(PosixMq(
                id=name, name=name,
                uid=st.st_uid if st else None,
                owner=user_name(st.st_uid) if st else None,
                mode=mode_str(st.st_mode) if st else None,
                ctime=st.st_ctime if st else None,
                size=maxmsg * msgsize if maxmsg is not None and msgsize is not None else None,
                messages=messages, maxmsg=maxmsg, msgsize=msgsize,
                users=self.fd_users(fds),
            ))
        return out

    def pipes(self) -> list[IpcObject]:
        out: list[IpcObject] = []
        for ino, fds in self.pipes_by_ino.items():
            users = self.fd_users(fds)
            queued = capacity = None
            if self.live:
                queued, capacity = self._queued(users, fds)
            out.append(Pipe(id=str(ino), users=users, bytes=queued, capacity=capacity))
        return out

    def fifos(self) -> list[IpcObject]:
        out: list[IpcObject] = []
        for (dev, ino), fds in self.fifo_fds.items():
            users = self.fd_users(fds)
            queued = capacity = None
            if self.live:
                queued, capacity = self._queued(users, fds)
            first = fds[0]
            path = first.path
            out.append(Fifo(
                id=path, name=path, path=path, dev=dev, inode=ino,
                uid=first.uid, owner=user_name(first.uid) if first.uid is not None else None,
                mode=mode_str(first.mode) if first.mode is not None else None,
                ctime=first.ctime, users=users, bytes=queued, capacity=capacity,
            ))
        return out

    def _queued(self, users: tuple[User, ...], fds: list[FdUse]) -> tuple[int | None, int | None]:
        """(bytes queued, capacity) of a pipe or FIFO, through one of its fds; None when unknown.

        Only while it has a reader: opening the read side ourselves must not make a write succeed
        that would otherwise fail with EPIPE.
        """
        if not any(u.access in ("r", "rw") for u in users):
            return None, None
        for f in fds:
            try:
                fd = os.open(f"{self.proc}/{f.pid}/fd/{f.fd}",
                             os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                queued: int | None
                capacity: int | None
                try:
                    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
                    queued = int(struct.unpack("i", buf)[0])
                except OSError:
                    queued = None
                try:
                    capacity = fcntl.fcntl(fd, F_GETPIPE_SZ)
                except OSError:
                    capacity = None
                return queued, capacity
            finally:
                os.close(fd)
        return None, None

    def unix_sockets(self, socks: list[UnixSocket]) -> list[IpcObject]:
        out: list[IpcObject] = []
        for s in socks:
            try:
                ino = int(s.id)
            except ValueError:
                out.append(s)
                continue
            out.append(evolve(
                s, users=self.fd_users(self.socks_by_ino.get(ino, ()), access=False)))
        return out

    def shared_mappings(self, dev_shm: list[PosixShm | PosixSem]) -> list[IpcObject]:
        """MAP_SHARED maps of files: not SysV, not device files, not listed /dev/shm objects.

        A /dev/shm file that is mapped but no longer listed (shm_unlink while mapped) is kept
        here, deleted; the semaphore creator's temp name matches its sem.NAME and is not.
        """
        listed = {(o.dev, o.inode) for o in dev_shm}
        out: list[IpcObject] = []
        for key, maps in self.maps_by_file.items():
            if key in listed:
                continue
            first = maps[0]
            path = first.path
            if not path.startswith("/"):
                continue  # anon_inode:..., [special]
            if path.startswith("/dev/") and not path.startswith("/dev/shm/"):
                continue  # /dev/zero (shared anonymous), /dev/dri/..., other devices
            if path.startswith("/dev/shm/") and not first.deleted:
                continue  # a listed object's file, or one created after the listing
            deleted = any(m.deleted for m in maps)
            size = uid = None
            mode = None
            ctime = None
            if self.live and not deleted:
                st = _stat(path)
                if st is not None and (st.st_dev, st.st_ino) == key:
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    size, uid, mode, ctime = st.st_size, st.st_uid, mode_str(st.st_mode), \
                        st.st_ctime
            out.append(SharedMapping(
                id=path, name=path, path=path, dev=key[0], inode=key[1], deleted=deleted,
                size=size, uid=uid, owner=user_name(uid) if uid is not None else None,
                mode=mode, ctime=ctime, users=self.map_users(maps),
            ))
        return out


def _user_order(u: User) -> tuple[int, int, int]:
    return (u.pid, 0 if u.via == "fd" else 1, -1 if u.fd is None else u.fd)


def _same_ns(own: int | None, processes: dict[int, Process], pid: int) -> bool:
    """True when ``pid`` is in our IPC namespace, or when either namespace is unknown."""
    p = processes.get(pid)
    if own is None or p is None or p.ipc_ns is None:
        return True
    return p.ipc_ns == own


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None
