"""Pipes and FIFOs: found by the /proc scan, measured through one of their fds.

There is no list of pipes: a pipe exists while some process holds an fd linking to
"pipe:[INODE]", and a FIFO is an fd whose target is S_IFIFO (the scan stats fd targets that may
be one). So the join is the collector here: it groups the scanned fds by identity (the pipe's
inode, the FIFO's (dev, inode)) and asks the kernel, through one holder's fd, how many bytes are
queued (FIONREAD) and how much the buffer holds (F_GETPIPE_SZ).
"""

from __future__ import annotations

import fcntl
import math
import os
import stat
import struct
import termios
import time
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from ipctop.collect.common import mode_str, recheck_at, same_objects, user_name
from ipctop.collect.procfs import FdUse
from ipctop.errors import IpcError
from ipctop.kinds import Fifo, Pipe
from ipctop.model import IpcObject, User

if TYPE_CHECKING:
    from ipctop.collect.poll_memo import PollMemo
    from ipctop.join import Join

F_GETPIPE_SZ = 1032


PIPE_RECHECK = 10.0
"""Seconds: how often a polling program measures again a pipe whose holders have not run, while
some process it cannot read has run (and might hold the pipe)."""


KEPT = "pipes"
"""The name of the pipes' measures in ``PollMemo.rows``."""


def join_pipes(join: Join, memo: PollMemo | None = None, blind_ran: bool = True,
               ) -> list[IpcObject]:
    """Every pipe some process holds, with its holders and (live) queue and capacity.

    With ``memo`` (a polling program's): a pipe whose holders are the very fds of the previous
    poll (so none of its holders ran: a process that runs is read again, and its fds are new)
    is the Pipe of the previous poll, without measuring it again: bytes move through a pipe only
    when a process holding it runs. A process ipctop cannot read might hold it too, so while one
    of those has run (``blind_ran``), such a pipe is measured again once every PIPE_RECHECK
    seconds (every pipe in the same poll: see :func:`~ipctop.collect.common.recheck_at`).
    """
    return join_pipes_due(join, memo, blind_ran)[0]


def join_pipes_due(join: Join, memo: PollMemo | None = None, blind_ran: bool = True,
                   ) -> tuple[list[IpcObject], float]:
    """:func:`join_pipes`, and when its first pipe falls due for the recheck while processes
    ipctop cannot read run (inf when none is kept)."""
    out: list[IpcObject] = []
    kept = memo.kept(memo.rows, KEPT) if memo is not None else None
    now = time.monotonic()
    oldest = math.inf
    for ino, fds in join.pipes_by_ino.items():
        if kept is None:
            out.append(_pipe(join, ino, fds))
            continue
        hit = kept.get(ino)
        if hit is not None and same_objects(hit[0], fds) and \
                (not blind_ran or now < recheck_at(hit[2], PIPE_RECHECK)):
            kept.put(ino, hit)
            out.append(hit[1])
            oldest = min(oldest, hit[2])
            continue
        pipe = _pipe(join, ino, fds)
        if hit is not None and pipe == hit[1]:
            pipe = hit[1]  # measured again, and the same: the same instance
        kept.put(ino, (tuple(fds), pipe, now))
        oldest = min(oldest, now)
        out.append(pipe)
    return out, recheck_at(oldest, PIPE_RECHECK) if oldest < math.inf else math.inf


def _pipe(join: Join, ino: int, fds: Sequence[FdUse]) -> Pipe:
    users = join.fd_users(fds)
    queued = capacity = None
    if join.live:
        queued, capacity = queued_bytes(join.proc, users, fds)
    return Pipe(id=str(ino), users=users, bytes=queued, capacity=capacity)


def join_fifos(join: Join) -> list[IpcObject]:
    """Every FIFO some process holds open, by (dev, inode), with the same measures as pipes."""
    out: list[IpcObject] = []
    for (dev, ino), fds in join.fifo_fds.items():
        users = join.fd_users(fds)
        queued = capacity = None
        if join.live:
            queued, capacity = queued_bytes(join.proc, users, fds)
        first = fds[0]
        path = first.path
        out.append(Fifo(
            id=path, name=path, path=path, dev=dev, inode=ino,
            uid=first.uid, owner=user_name(first.uid) if first.uid is not None else None,
            mode=mode_str(first.mode) if first.mode is not None else None,
            ctime=first.ctime, users=users, bytes=queued, capacity=capacity,
        ))
    return out


def queued_bytes(proc: str, users: tuple[User, ...],
                 fds: Sequence[FdUse]) -> tuple[int | None, int | None]:
    """(bytes queued, capacity) of a pipe or FIFO, through one of its fds; None when unknown.

    Only while it has a reader: opening the read side ourselves must not make a write succeed
    that would otherwise fail with EPIPE.
    """
    if not any(u.access in ("r", "rw") for u in users):
        return None, None
    for f in fds:
        try:
            fd = os.open(f"{proc}/{f.pid}/fd/{f.fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
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


def remembered_fifos(paths: Iterable[str], seen: Collection[str]) -> list[IpcObject]:
    """FIFOs nobody holds open, which a program asked to keep in sight (the TUI remembers those
    it created and any path the user gave): the scan finds FIFOs only through open fds, so a
    FIFO just made would otherwise never be listed, selected, sent to or removed.

    ``seen``: paths the scan already found. Each path is reached without following any symbolic
    link another user could have placed (ipctop.safepath, an O_PATH fd: opening a FIFO that way
    neither blocks nor counts as a reader or a writer) and listed only if it is a FIFO.
    """
    from ipctop import safepath

    out: list[IpcObject] = []
    for path in sorted(set(paths) - set(seen)):
        try:
            fd = safepath.open_path(path)
        except (OSError, IpcError):
            continue  # gone, or reached only through someone's link: not ours to show
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if not stat.S_ISFIFO(st.st_mode):
            continue
        out.append(Fifo(id=path, name=path, path=path, dev=st.st_dev, inode=st.st_ino,
                        uid=st.st_uid, owner=user_name(st.st_uid), mode=mode_str(st.st_mode),
                        ctime=st.st_ctime))
    return out
