"""Opening paths that other users control, as root, without being turned against root.

ipctop runs as root in directories every user can write: /tmp (FIFOs), /dev/shm (POSIX shared
memory and semaphores), /dev/mqueue. A user there can swap a name for a symbolic link or a FIFO
between two of our calls, or a directory of theirs on the way for a link. So:

- A path is opened once, from a directory fd, never by name again: :func:`open_path` uses
  ``openat2(RESOLVE_NO_SYMLINKS)`` where the kernel has it, else a walk one component at a time
  with ``O_NOFOLLOW`` (the way systemd's ``chase()`` does). A link on the way is followed only when
  nobody but root can have put it there: owned by root, in a directory only root can write
  (``/var/run -> /run``); the last component is never followed.
- Every open is ``O_NONBLOCK | O_CLOEXEC``, so a FIFO planted where a file was expected cannot hang
  us, and :func:`check` looks at the fd (type, device, filesystem, size) before anything is read,
  written or mapped.
- :func:`opened` first opens ``O_PATH`` (no effect on the file at all, even a FIFO or a device),
  checks, and then opens for reading or writing through ``/proc/self/fd/N`` (:func:`reopen`),
  which reaches that same inode whatever the name points to by then; a FIFO writer waiting for a
  reader re-opens that, never the path.
- :func:`exclusive_lease` / :func:`in_use` ask the kernel whether any other process has a file
  open or mapped: a write lease (``F_SETLEASE F_WRLCK``) is refused while one does. Removal
  unlinks while holding that lease.

Names are bytes here (``os.fsencode``), so a name that is not UTF-8 is opened like any other.
No Textual, no printing: failures are :class:`UnsafePath` (our refusal, with a message fit for a
user) or the ``OSError`` of the call (the caller says what it was doing).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ipctop.collect.common import MQUEUE_MAGIC, TMPFS_MAGIC, load_libc
from ipctop.errors import IpcError, UsageError

Name = str | bytes
"""A path or name as the user gave it, or as read from a directory (bytes)."""

O_PATH = getattr(os, "O_PATH", 0o10000000)
_BASE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR = O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# openat2(2): <linux/openat2.h>; the syscall number is 437 on every architecture since 5.6.
SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
_MAX_LINKS = 40  # like the kernel's MAXSYMLINKS
F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)


class UnsafePath(UsageError):
    """ipctop refuses a path: a symbolic link where none may be, or not the type expected."""


@dataclass(frozen=True, slots=True)
class Expect:
    """What the opened thing must be, checked on the fd (see :func:`check`)."""

    what: str
    """How to name the expected thing in a refusal: "a FIFO", "a POSIX shm file"."""
    fmt: int = stat.S_IFREG
    """The file type (stat.S_IFIFO, stat.S_IFREG)."""
    fs_magic: int | None = None
    """The filesystem (statfs f_type) it must live on, e.g. TMPFS_MAGIC."""
    dev: int | None = None
    """The device it must be on (the st_dev of its directory)."""
    min_size: int = 0
    """At least this many bytes (a semaphore file is mapped: smaller would raise SIGBUS)."""


FIFO = Expect("a FIFO", stat.S_IFIFO)
SHM_FILE = Expect("a POSIX shared memory file", stat.S_IFREG, TMPFS_MAGIC)
MQUEUE_FILE = Expect("a POSIX message queue", stat.S_IFREG, MQUEUE_MAGIC)


def describe_mode(mode: int) -> str:
    """How a refusal names a file type: "a symbolic link", "a directory"."""
    for test, text in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return text
    return "of an unknown type"


def show(name: Name) -> str:
    """A path or name as text for a message (bytes decoded with surrogateescape). Not escaped
    here: whatever prints the message escapes it once, with :func:`ipctop.display.shown`."""
    return os.fsdecode(name) if isinstance(name, bytes) else name


# --------------------------------------------------------------------------- libc


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


@lru_cache(maxsize=1)
def _libc() -> Any:
    libc = load_libc()
    libc.syscall.restype = ctypes.c_long
    libc.fstatfs.argtypes = [ctypes.c_int, ctypes.POINTER(_Statfs)]
    libc.fstatfs.restype = ctypes.c_int
    return libc


_openat2_works = True


def _openat2(dirfd: int, path: bytes, flags: int, mode: int) -> int | None:
    """openat2 with no symlink resolution at all; None when this kernel (or a seccomp filter)
    does not offer it. Raises OSError otherwise, ELOOP when a link is on the way."""
    global _openat2_works
    if not _openat2_works:
        return None
    if flags & O_PATH:  # openat2 is strict: O_PATH takes no other flags but these
        flags &= O_PATH | os.O_CLOEXEC | os.O_DIRECTORY | os.O_NOFOLLOW
    how = _OpenHow(flags, mode, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
    fd = int(_libc().syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd),
                             ctypes.c_char_p(path), ctypes.byref(how),
                             ctypes.c_size_t(ctypes.sizeof(how))))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM, errno.E2BIG):
        _openat2_works = False
        return None
    raise OSError(err, os.strerror(err), os.fsdecode(path))


def fs_type(fd: int) -> int | None:
    """The filesystem magic (statfs f_type) of an open fd; None on error."""
    buf = _Statfs()
    if _libc().fstatfs(fd, ctypes.byref(buf)) != 0:
        return None
    return int(buf.f_type) & 0xFFFFFFFF


# --------------------------------------------------------------------------- opening


def _trusted_link(dirfd: int, name: bytes, st: os.stat_result) -> bool:
    """A link only root can have made and only root can change: root's, in a directory that
    nobody but root may write."""
    if st.st_uid != 0:
        return False
    dst = os.fstat(dirfd)
    return dst.st_uid == 0 and not dst.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _walk(dirfd: int, path: bytes, flags: int, mode: int, shown: str) -> int:
    """Open ``path`` relative to ``dirfd`` one component at a time, never following a link
    another user could have made. Every fd but the result is closed."""
    todo = [p for p in path.split(b"/") if p]
    fd = os.open("/", _DIR) if path.startswith(b"/") else os.dup(dirfd)
    links = 0
    try:
        while todo:
            part = todo.pop(0)
            if part == b".":
                continue
            last = not todo
            try:
                if last:
                    return os.open(part, flags | _BASE, mode, dir_fd=fd)
                nxt = os.open(part, _DIR, dir_fd=fd)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    raise err from None
                if not stat.S_ISLNK(st.st_mode):
                    raise
                if last or not _trusted_link(fd, part, st):
                    where = "is" if last else "passes through"
                    raise UnsafePath(f"refusing {shown}: it {where} a symbolic link "
                                     f"({show(part)}) that another user could change; give "
                                     "the real path") from None
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), shown) from None
                target = os.readlink(part, dir_fd=fd)
                todo[:0] = [p for p in target.split(b"/") if p]
                if target.startswith(b"/"):
                    os.close(fd)
                    fd = os.open("/", _DIR)
                continue
            os.close(fd)
            fd = nxt
        # the path named a directory ("/" or "dir/"): open it as asked
        return os.open(".", flags | _BASE, mode, dir_fd=fd)
    finally:
        os.close(fd)


def open_path(path: Name, flags: int = O_PATH, mode: int = 0, *, dirfd: int | None = None) -> int:
    """Open ``path`` (absolute, or relative to ``dirfd``) with ``O_NOFOLLOW | O_NONBLOCK |
    O_CLOEXEC`` added, following no symbolic link another user could have placed on the way.

    Raises :class:`UnsafePath` for such a link, OSError for everything else. The caller checks
    what it got with :func:`check` before using it.
    """
    raw = os.fsencode(path)
    if not raw or b"\0" in raw:
        raise UnsafePath(f"not a usable path: {show(raw)!r}")
    base = os.open(".", _DIR) if dirfd is None else dirfd
    try:
        try:
            fd = _openat2(base, raw, flags | _BASE, mode)
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            fd = None  # a link on the way? the walk decides whether it may be followed
        if fd is None:
            fd = _walk(base, raw, flags, mode, show(raw))
        return fd
    finally:
        if dirfd is None:
            os.close(base)


def open_dir(path: Name) -> int:
    """An fd of the directory ``path`` (O_PATH; usable as dir_fd for open, stat, mkfifo and
    unlink), reached without following a link another user could have placed."""
    fd = open_path(path, O_PATH | os.O_DIRECTORY)
    return fd


def split(path: Name) -> tuple[bytes, bytes]:
    """(directory, last component) of an absolute path, as bytes: b"/tmp/q" -> (b"/tmp", b"q")."""
    raw = os.path.normpath(os.fsencode(path))
    head, _sep, tail = raw.rpartition(b"/")
    return (head or b"/"), tail


def check(fd: int, expect: Expect, shown: str) -> os.stat_result:
    """fstat ``fd`` and refuse it unless it is what ``expect`` says; returns the stat."""
    st = os.fstat(fd)
    if stat.S_IFMT(st.st_mode) != expect.fmt:
        raise UnsafePath(f"refusing {shown}: it is {describe_mode(st.st_mode)}, not "
                         f"{expect.what}")
    if expect.dev is not None and st.st_dev != expect.dev:
        raise UnsafePath(f"refusing {shown}: it is on another filesystem than its directory")
    if expect.fs_magic is not None and fs_type(fd) != expect.fs_magic:
        raise UnsafePath(f"refusing {shown}: it is not on the filesystem of {expect.what}")
    if st.st_size < expect.min_size:
        raise UnsafePath(f"refusing {shown}: it has {st.st_size} bytes, {expect.what} has at "
                         f"least {expect.min_size}")
    return st


def reopen(fd: int, flags: int) -> int:
    """Open the inode ``fd`` refers to (typically an O_PATH fd) again with ``flags``, through
    /proc/self/fd: this cannot reach anything else, whatever its name points to by now."""
    new = os.open(f"/proc/self/fd/{fd}", (flags | os.O_NONBLOCK | os.O_CLOEXEC) & ~os.O_NOFOLLOW)
    a, b = os.fstat(fd), os.fstat(new)
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):  # /proc is not procfs?
        os.close(new)
        raise UnsafePath("refusing to reopen a file: /proc/self/fd does not lead back to it")
    return new


@contextmanager
def opened(path: Name, expect: Expect, flags: int = os.O_RDONLY, *,
           dirfd: int | None = None, shown: str | None = None) -> Iterator[int]:
    """An fd of ``path`` opened with ``flags`` and checked against ``expect``, closed after.

    The path is opened O_PATH first (which has no effect on the file at all: a FIFO's writer is
    not woken, a device not opened), checked, and only then reopened with ``flags``.
    """
    label = shown or show(path)
    first = open_path(path, O_PATH, dirfd=dirfd)
    try:
        check(fd=first, expect=expect, shown=label)
        fd = reopen(first, flags)
    finally:
        os.close(first)
    try:
        yield fd
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- who holds it


class InUse(IpcError):
    """Another process has the file open or mapped (a write lease was refused)."""


class LeaseRefused(OSError):
    """The kernel refused the lease for a reason other than "in use"; ``strerror`` says why."""


F_SETSIG = getattr(fcntl, "F_SETSIG", 10)


def _refusal(err: OSError) -> str:
    if err.errno == errno.EACCES:
        return "a write lease is only granted to the file's owner or with CAP_LEASE"
    if err.errno == errno.EINVAL:
        return "the kernel refuses leases here (fs.leases-enable=0, or the filesystem has none)"
    return f"F_SETLEASE: {os.strerror(err.errno or 0)}"


@contextmanager
def exclusive_lease(dirfd: int, name: Name, expect: Expect | None = None) -> Iterator[int]:
    """Hold a write lease on the regular file ``name`` in ``dirfd`` for the ``with`` block.

    The kernel grants it only while no other open file description or mapping of the file
    exists (Linux >= 5.3 counts readers too), and while it is held another process's open waits
    for us to let go (at most /proc/sys/fs/lease-break-time seconds), so "nobody has it" stays
    true inside the block. Raises :class:`InUse` when refused, OSError when the file cannot be
    opened or leased at all (EINVAL: not a regular file, or the filesystem has no leases).
    """
    with opened(name, expect or Expect("a regular file"), os.O_RDONLY, dirfd=dirfd) as fd:
        # Another process's open while we hold the lease makes the kernel signal us, SIGIO by
        # default, whose default action kills (seen on 6.x). SIGURG is ignored by default.
        with suppress(OSError):
            fcntl.fcntl(fd, F_SETSIG, signal.SIGURG)
        try:
            fcntl.fcntl(fd, F_SETLEASE, fcntl.F_WRLCK)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EBUSY):
                raise InUse(f"{show(name)} is open or mapped by another process") from None
            raise LeaseRefused(err.errno, _refusal(err)) from None
        try:
            yield fd
        finally:
            with suppress(OSError):
                fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)


@dataclass(frozen=True, slots=True)
class Probe:
    """The kernel's answer to "does any process have this file open or mapped?"."""

    in_use: bool | None
    """True: some process has it open or mapped; False: none; None: could not tell."""
    why: str | None = None
    """Why the answer is None (or what made it True without a lease)."""


def probe(dirfd: int, name: Name, expect: Expect | None = None,
          inode: int | None = None) -> Probe:
    """:func:`in_use`, with the reason when the kernel cannot tell; ``inode`` (with
    ``expect.dev``) is the file as it was listed: a file replaced since is not judged."""
    try:
        with exclusive_lease(dirfd, name, expect) as fd:
            if inode is not None and os.fstat(fd).st_ino != inode:
                return Probe(None, "it was replaced by another file meanwhile")
            return Probe(False)
    except InUse:
        return Probe(True)
    except LeaseRefused as err:
        return Probe(None, err.strerror)
    except UnsafePath as err:
        return Probe(None, str(err))
    except OSError as err:
        if err.errno == errno.EAGAIN:  # our open broke another holder's lease
            return Probe(True, "another process holds a lease on it")
        if err.errno == errno.ENOENT:
            return Probe(None, "it was removed meanwhile")
        return Probe(None, f"cannot open it: {os.strerror(err.errno or 0)}")


def in_use(dirfd: int, name: Name) -> bool | None:
    """Does any process have the file ``name`` in ``dirfd`` open or mapped?

    True or False from the kernel (a write lease refused or granted, then released at once);
    None when it cannot tell (gone, not a regular file, no leases on that filesystem, or not
    allowed: leases need the file's owner or CAP_LEASE). :func:`probe` also says why.
    """
    return probe(dirfd, name).in_use
