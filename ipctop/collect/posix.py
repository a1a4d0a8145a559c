"""POSIX shared memory, named semaphores and message queues.

glibc keeps shm objects and named semaphores as files on the tmpfs at /dev/shm (a semaphore
"/NAME" is the file sem.NAME), so a directory listing plus one stat per file finds them all; a
semaphore's value is the first word of its file, read without opening the semaphore.

Message queues live in the mqueue filesystem. Listing them needs it mounted (usually at
/dev/mqueue); each file there reads ``QSIZE:n NOTIFY:n SIGNO:n NOTIFY_PID:n``. The message count and
the queue's geometry are not in that file: ``mq_attrs`` opens the queue read-only and asks
``mq_getattr`` (this works without the mount). Everything goes through ctypes, so posix_ipc is
never imported on the hot path.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ipctop import safepath
from ipctop.collect.common import (
    DEV,
    MQUEUE_MAGIC,
    RACES,
    RACY,
    load_libc,
    mode_str,
    statfs_type,
    user_name,
)
from ipctop.errors import IpcError, ParseError
from ipctop.kinds import PosixMq, PosixSem, PosixShm
from ipctop.model import evolve

if TYPE_CHECKING:
    from ipctop.collect.poll_memo import PollMemo, ProbeMemo
    from ipctop.join import Join

MOUNT_FIX = "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue"

SEM_PREFIX = "sem."
_SEM_WORD = struct.Struct("=Q")
"""glibc x86_64 ``struct new_sem`` starts with a uint64: value in the low 32 bits, waiters above."""


class MqueueNotMounted(IpcError):
    """The mqueue filesystem is not mounted where we look, so queues cannot be listed."""


def sem_value(path: str | os.PathLike[str], dir_fd: int | None = None) -> int | None:
    """The value of the named semaphore backed by ``path``, read from its file; None if unreadable.

    Reads the file rather than mapping it, so the semaphore gains no user. Assumes glibc's 64-bit
    layout (x86_64, aarch64): ``data & 0xffffffff`` is the value.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:
        return None
    try:
        head = os.pread(fd, _SEM_WORD.size, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(head) < _SEM_WORD.size:
        return None
    return int(_SEM_WORD.unpack(head)[0] & 0xFFFFFFFF)


def _regular_files(directory: str | os.PathLike[str] | int, shown: str | None = None,
                   ) -> Iterator[tuple[str, str, os.stat_result]]:
    """(name, path, stat) of each regular file in ``directory`` (a path, or a directory fd
    whose files are named ``shown``/NAME), not following links.

    An unreadable or missing directory yields nothing; files that vanish mid-listing are skipped.
    """
    try:
        entries = list(os.scandir(directory))
    except (*RACES, OSError):
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except RACES:
            continue
        if stat.S_ISREG(st.st_mode):
            # entry.path is os.path.join(directory, name), made in C (this runs per file)
            path = f"{shown}/{entry.name}" if shown is not None or isinstance(directory, int) \
                else entry.path
            yield entry.name, path, st


def read_dev_shm(dev: Path = DEV, *, dir_fd: int | None = None, memo: PollMemo | None = None,
                 memo_name: str = "", mnt_ns: int | None = None) -> list[PosixShm | PosixSem]:
    """Every regular file in ``dev``/shm: sem.NAME as a PosixSem "/NAME", others as PosixShm,
    marked with ``mnt_ns``.

    With ``dir_fd`` (a /dev/shm reached through another mount namespace), the files of that
    directory, their paths as seen inside ("/dev/shm/NAME").
    Subdirectories and non-regular files are ignored; files that vanish mid-listing are skipped.
    With ``memo`` (a polling program; ``memo_name`` tells directories apart), a file whose stat
    is the same as at the previous poll gives the object of then: every field comes from the
    stat, but a semaphore's value, which changes without any stat field moving (sem_post writes
    the mapped page), is read again.
    """
    out: list[PosixShm | PosixSem] = []
    table = memo_name or str(dev / "shm")
    if memo is not None and dir_fd is None:
        # Nothing inotify reports happened since the last listing, and it is recent enough.
        listed = memo.unchanged_listing(table, dev / "shm")
        if listed is not None:
            return [_value_now(o, o.path, None) for o in listed]
    listing = _regular_files(dev / "shm") if dir_fd is None else \
        _regular_files(dir_fd, "/dev/shm")
    kept = memo.kept(memo.files, table) if memo is not None else None
    for file_name, path, st in listing:
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mode, st.st_uid, st.st_mtime_ns,
                 st.st_ctime_ns)
        is_sem = file_name.startswith(SEM_PREFIX) and len(file_name) > len(SEM_PREFIX)
        if kept is not None:
            hit = kept.get(file_name)
            if hit is not None and hit[0] == stamp:
                obj = _value_now(hit[1], path if dir_fd is None else file_name, dir_fd)
                kept.put(file_name, (stamp, obj))
                out.append(obj)
                continue
        uid, owner, mode = st.st_uid, user_name(st.st_uid), mode_str(st.st_mode)
        made: PosixShm | PosixSem
        if is_sem:
            name = "/" + file_name[len(SEM_PREFIX):]
            made = PosixSem(
                id=name, name=name, uid=uid, owner=owner, mode=mode, size=st.st_size,
                ctime=st.st_ctime, path=path, dev=st.st_dev, inode=st.st_ino,
                value=sem_value(path if dir_fd is None else file_name, dir_fd), mnt_ns=mnt_ns,
            )
        else:
            name = "/" + file_name
            made = PosixShm(
                id=name, name=name, uid=uid, owner=owner, mode=mode, size=st.st_size,
                ctime=st.st_ctime, path=path, dev=st.st_dev, inode=st.st_ino, mnt_ns=mnt_ns,
            )
        if kept is not None:
            kept.put(file_name, (stamp, made))
        out.append(made)
    if memo is not None and dir_fd is None:
        memo.listed(table, out, LIST_RECHECK)
    return out


def _value_now(o: PosixShm | PosixSem, where: str, dir_fd: int | None,
               ) -> PosixShm | PosixSem:
    """``o`` kept from an earlier poll, with a named semaphore's value read again: sem_post
    writes the mapped page and moves no stat field."""
    if not isinstance(o, PosixSem):
        return o
    value = sem_value(where, dir_fd)
    return o if value == o.value else evolve(o, value=value)


LIST_RECHECK = 10.0
"""Seconds: how long a polling program hands on the /dev/shm listing while inotify reports
nothing there (a write through a shared mapping moves a file's mtime without a word)."""


def mqueue_mounted(dev: Path = DEV) -> bool:
    """True when ``dev``/mqueue is a mount of the mqueue filesystem."""
    return statfs_type(dev / "mqueue") == MQUEUE_MAGIC


def parse_qsize(text: str, path: str | Path) -> tuple[int, int | None]:
    """``QSIZE:n NOTIFY:n SIGNO:n NOTIFY_PID:n`` -> (QSIZE bytes, notify pid or None)."""
    fields: dict[str, int] = {}
    for token in text.split():
        label, sep, value = token.partition(":")
        if not sep:
            raise ParseError(path, 1, f"expected LABEL:NUMBER, got {token!r}")
        try:
            fields[label] = int(value)
        except ValueError:
            raise ParseError(path, 1, f"{label}: not a number: {value!r}") from None
    for label in ("QSIZE", "NOTIFY_PID"):
        if label not in fields:
            raise ParseError(path, 1, f"missing {label}")
    return fields["QSIZE"], fields["NOTIFY_PID"] or None


class _MqAttr(ctypes.Structure):
    _fields_ = [
        ("mq_flags", ctypes.c_long),
        ("mq_maxmsg", ctypes.c_long),
        ("mq_msgsize", ctypes.c_long),
        ("mq_curmsgs", ctypes.c_long),
        ("_reserved", ctypes.c_long * 4),
    ]


class _MqLib:
    """mq_open / mq_getattr / mq_close: in libc since glibc 2.34, in librt before."""

    def __init__(self) -> None:
        lib = load_libc()
        if not hasattr(lib, "mq_getattr"):
            lib = ctypes.CDLL("librt.so.1", use_errno=True)
        self.open = lib.mq_open
        self.open.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.open.restype = ctypes.c_int
        self.getattr = lib.mq_getattr
        self.getattr.argtypes = [ctypes.c_int, ctypes.POINTER(_MqAttr)]
        self.getattr.restype = ctypes.c_int
        self.close = lib.mq_close
        self.close.argtypes = [ctypes.c_int]
        self.close.restype = ctypes.c_int


_mq: _MqLib | None = None


def mq_attrs(name: str) -> tuple[int, int, int] | None:
    """(messages queued, maxmsg, msgsize) of queue ``name`` ("/NAME"); None if it cannot be opened.

    Opens read-only and non-blocking (never O_CREAT), so it neither creates nor waits.
    """
    global _mq
    if _mq is None:
        _mq = _MqLib()
    if not name.startswith("/"):
        name = "/" + name
    mqd = _mq.open(os.fsencode(name), os.O_RDONLY | os.O_NONBLOCK)
    if mqd < 0:
        return None
    try:
        attr = _MqAttr()
        if _mq.getattr(mqd, ctypes.byref(attr)) != 0:
            return None
        return int(attr.mq_curmsgs), int(attr.mq_maxmsg), int(attr.mq_msgsize)
    finally:
        _mq.close(mqd)


def read_mqueue_dir(directory: Path, *, live: bool = True, memo: PollMemo | None = None,
                    ipc_ns: int | None = None) -> list[PosixMq]:
    """Every queue file in ``directory`` (an mqueue mount), without checking that it is one;
    marked with ``ipc_ns``.

    ``read_mqueue`` is the entry point; this is split out so the parser runs on fixture trees.
    Unreadable QSIZE files leave bytes/notify_pid None; vanished files are skipped.

    With ``memo`` (a polling program), a queue is read again only when it may have changed:
    a send or receive moves its mtime, mq_notify and chmod its ctime. Reading the QSIZE file
    moves the ctime too, so what is compared is the ctime right after our own read. A queue
    whose mtime is within a second of that read may change again without the mtime moving (the
    clock is coarse): it is read again at the next poll.
    """
    out: list[PosixMq] = []
    kept = memo.kept(memo.files, f"mq:{directory}") if memo is not None else None
    for file_name, path, st in _regular_files(directory):
        if kept is not None:
            hit = kept.get(file_name)
            if hit is not None and hit[0] == (st.st_ino, st.st_mode, st.st_uid, st.st_mtime_ns,
                                              st.st_ctime_ns):
                kept.put(file_name, hit)
                out.append(hit[1])
                continue
        qbytes: int | None = None
        notify_pid: int | None = None
        after: os.stat_result | None = None
        try:
            with open(path, "rb") as f:
                text = f.read().decode("ascii", "replace")
                after = os.fstat(f.fileno())
        except FileNotFoundError:
            continue
        except OSError:
            pass
        else:
            qbytes, notify_pid = parse_qsize(text, path)
        read_at = time.time_ns()
        name = "/" + file_name
        attrs = mq_attrs(name) if live else None
        messages = maxmsg = msgsize = None
        if attrs is not None:
            messages, maxmsg, msgsize = attrs
        obj = PosixMq(
            id=name,
            name=name,
            uid=st.st_uid,
            owner=user_name(st.st_uid),
            mode=mode_str(st.st_mode),
            ctime=st.st_ctime,
            size=maxmsg * msgsize if maxmsg is not None and msgsize is not None else None,
            messages=messages,
            bytes=qbytes,
            maxmsg=maxmsg,
            msgsize=msgsize,
            notify_pid=notify_pid,
            mtime=st.st_mtime,
            ipc_ns=ipc_ns,
        )
        if kept is not None and after is not None and \
                after.st_mtime_ns + RACY * 1e9 < read_at:
            kept.put(file_name, ((after.st_ino, after.st_mode, after.st_uid, after.st_mtime_ns,
                                  after.st_ctime_ns), obj))
        out.append(obj)
    return out


def read_mqueue(dev: Path = DEV, *, live: bool = True, memo: PollMemo | None = None,
                ipc_ns: int | None = None) -> list[PosixMq]:
    """Every POSIX message queue in ``dev``/mqueue; with ``live``, counts via ``mq_attrs``.

    Raises MqueueNotMounted (one line, with the mount command) when the mqueue fs is not there.
    """
    directory = dev / "mqueue"
    if not mqueue_mounted(dev):
        raise MqueueNotMounted(
            f"{directory} is not an mqueue mount, so POSIX message queues cannot be listed; "
            f"fix: {MOUNT_FIX}"
        )
    return read_mqueue_dir(directory, live=live, memo=memo, ipc_ns=ipc_ns)


# --------------------------------------------------------------------------- join


def join_dev_shm(join: Join, objs: list[PosixShm | PosixSem]) -> list[PosixShm | PosixSem]:
    """Users of /dev/shm files: fds and maps whose (st_dev, st_ino) is the file's (a semaphore's
    creator maps a temp name, so never by name)."""
    out: list[PosixShm | PosixSem] = []
    for o in objs:
        if o.dev is None or o.inode is None:
            out.append(o)
            continue
        key = (o.dev, o.inode)
        by_fd = join.fd_users(join.fds_by_file.get(key, ()))
        by_map = join.map_users(join.maps_by_file.get(key, ()))
        # The joined object of the previous poll when the file and its users are the same.
        out.append(join.remembered("dev_shm", (o, by_fd, by_map), _with_users))
    return out


def _with_users(items: Sequence[object]) -> PosixShm | PosixSem:
    from ipctop.join import user_order

    o, by_fd, by_map = items
    assert isinstance(o, PosixShm | PosixSem)
    assert isinstance(by_fd, tuple) and isinstance(by_map, tuple)
    return evolve(o, users=tuple(sorted(by_fd + by_map, key=user_order)))


def join_mq(
    join: Join,
    queues: list[PosixMq] | None,
    attrs: Callable[[str], tuple[int, int, int] | None] | None,
    ns: int | None = None,
) -> list[PosixMq]:
    """Users of each queue: fds on the mqueue filesystem, by name, of processes in IPC namespace
    ``ns`` (any, when None). A queue that processes hold but the listing lacks (/dev/mqueue not
    mounted) is listed from its fds, with ``attrs``."""
    from ipctop.join import stat_or_none

    out: list[PosixMq] = []
    listed = set()
    by_name = join.mq_fds if ns is None else {
        name: held for name, fds in join.mq_fds.items()
        if (held := [f for f in fds if join.ipc_ns_of(f.pid) == ns])}
    for q in queues or ():
        listed.add(q.id)
        users = join.fd_users(by_name.get(q.id, ()))
        out.append(join.remembered("mq", (q, users), _with_fd_users))
    for name, fds in by_name.items():
        if name in listed:
            continue
        # Not in the listing: /dev/mqueue is not mounted (or the queue was created meanwhile).
        info = attrs(name) if attrs is not None else None
        messages = maxmsg = msgsize = None
        if info is not None:
            messages, maxmsg, msgsize = info
        st = stat_or_none(f"{join.proc}/{fds[0].pid}/fd/{fds[0].fd}") if join.live else None
        out.append(PosixMq(
            id=name, name=name,
            uid=st.st_uid if st else None,
            owner=user_name(st.st_uid) if st else None,
            mode=mode_str(st.st_mode) if st else None,
            ctime=st.st_ctime if st else None,
            size=maxmsg * msgsize if maxmsg is not None and msgsize is not None else None,
            messages=messages, maxmsg=maxmsg, msgsize=msgsize,
            users=join.fd_users(fds),
        ))
    return out


def _with_fd_users(items: Sequence[object]) -> PosixMq:
    q, users = items
    assert isinstance(q, PosixMq) and isinstance(users, tuple)
    return evolve(q, users=users)


PosixFile = TypeVar("PosixFile", bound=PosixShm | PosixSem | PosixMq)


def probe_unused(objs: list[PosixFile], directory: str | os.PathLike[str] | int,
                 memo: ProbeMemo | None = None) -> list[PosixFile]:
    """``objs`` (files of ``directory``, a path or a directory fd) with ``in_use`` set by the
    kernel's write-lease probe (:func:`ipctop.safepath.probe`) for each one /proc showed no user
    of; others unchanged.

    This is what keeps a leak verdict from going blind when some processes cannot be read: the
    kernel counts every open file description and mapping, whoever holds it.

    With ``memo`` (a polling program), only where the answer can change a verdict (some
    process could not be read; a queue with messages), and with answers kept per file for a
    while (see :class:`~ipctop.collect.poll_memo.ProbeMemo`).
    """
    todo = [i for i, o in enumerate(objs) if not o.users]
    if memo is not None:
        todo = [i for i in todo if memo.blind and _verdict_needs_probe(objs[i])] \
            if todo else todo
    if not todo:
        return objs
    out = list(objs)
    own = not isinstance(directory, int)
    try:
        dir_fd: int | None = directory if isinstance(directory, int) else \
            safepath.open_dir(os.fspath(directory))
        cannot = ""
    except (OSError, IpcError) as err:
        dir_fd, cannot = None, f"cannot open {directory}: {err}"
    try:
        for i in todo:
            o = out[i]
            if dir_fd is None:
                answer = safepath.Probe(None, cannot)
            elif memo is None:
                answer = _probe(dir_fd, o)
            else:
                answer = memo.answer(_probe_key(o), functools.partial(_probe, dir_fd, o))
            if answer.in_use != o.in_use or answer.why != o.in_use_why:
                out[i] = evolve(o, in_use=answer.in_use, in_use_why=answer.why) \
                    if memo is None else memo.mark(o, answer)
    finally:
        if dir_fd is not None and own:
            os.close(dir_fd)
    return out


def _probe(dir_fd: int, o: PosixShm | PosixSem | PosixMq) -> safepath.Probe:
    if isinstance(o, PosixMq):
        return safepath.probe(dir_fd, o.id[1:], safepath.MQUEUE_FILE)
    expect = dataclasses.replace(safepath.SHM_FILE, dev=o.dev)
    return safepath.probe(dir_fd, os.path.basename(o.path), expect, o.inode)


def _verdict_needs_probe(o: PosixShm | PosixSem | PosixMq) -> bool:
    """Whether the kernel's answer can change the leak verdict on ``o`` (no user in /proc): an
    empty queue is no leak whoever holds it (leaks.py)."""
    if isinstance(o, PosixMq):
        return bool(o.messages) if o.messages is not None else bool(o.bytes)
    return True


def _probe_key(o: PosixShm | PosixSem | PosixMq) -> tuple[object, ...]:
    """The same file, unchanged: (dev, inode, ctime) for /dev/shm. A queue's ctime moves
    whenever its QSIZE file is read (by us too), so a queue goes by name and mtime (creation,
    last send or receive) instead."""
    if isinstance(o, PosixMq):
        return ("mq", o.ipc_ns, o.id, o.mtime, o.uid)
    return ("shm", o.dev, o.inode, o.ctime)
