"""The files behind POSIX objects, opened as hostile: /dev/shm/NAME (shm), /dev/shm/sem.NAME
(semaphores), /dev/mqueue/NAME (queues).

Any user can create files in /dev/shm, so a name there may be a FIFO (an open would hang), a
symbolic link to a root-only file, or an empty ``sem.x`` (mapping it raises SIGBUS). Everything
goes through :mod:`ipctop.safepath`: the directory is held as an fd, the name opened relative to
it without following links, and the fd checked (regular file, on the directory's tmpfs, big enough)
before anything is read, written or mapped. Names are bytes (``os.fsencode``): a name that is not
UTF-8 is opened and removed like any other.

Removal that must not hit an object in use (``leaks --clean``) unlinks while holding a write
lease (:func:`ipctop.safepath.exclusive_lease`), which the kernel grants only while no other
process has the file open or mapped.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from ipctop import safepath
from ipctop.actions.common import DEV_SHM, object_name, validate_posix_name
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.model import Kind

DEV_MQUEUE = "/dev/mqueue"
SEM_T_SIZE = 32
"""sizeof(sem_t) with glibc on 64-bit Linux: what sem_open maps of a sem.NAME file."""


def file_name(kind: Kind, name: str) -> bytes:
    """The file of a POSIX object in its directory, as bytes: "/x" -> b"x" (b"sem.x")."""
    validate_posix_name(kind, name)
    raw = os.fsencode(name[1:])
    return b"sem." + raw if kind is Kind.POSIX_SEM else raw


def directory(kind: Kind) -> str:
    return DEV_MQUEUE if kind is Kind.POSIX_MQ else os.fspath(DEV_SHM)


def where(kind: Kind, name: str) -> str:
    """How a message names the file: "posix-shm /x (/dev/shm/x)"."""
    path = os.path.join(os.fsencode(directory(kind)), file_name(kind, name))
    return f"{object_name(kind, name)} ({safepath.show(path)})"


@contextmanager
def object_dir(kind: Kind) -> Iterator[int]:
    """An fd of the directory that holds ``kind``'s files."""
    path = directory(kind)
    try:
        fd = safepath.open_dir(path)
    except FileNotFoundError:
        hint = " (mount it: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue)" \
            if kind is Kind.POSIX_MQ else ""
        raise IpcError(f"{path} does not exist{hint}") from None
    except OSError as err:
        raise IpcError(f"cannot open {path}: {err.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def expect(kind: Kind, dirfd: int) -> safepath.Expect:
    """What the file of a ``kind`` object must be: a regular file on its directory's filesystem
    (tmpfs or mqueue) and device; a semaphore big enough to map."""
    base = safepath.MQUEUE_FILE if kind is Kind.POSIX_MQ else safepath.SHM_FILE
    if kind is Kind.POSIX_SEM:
        base = dataclasses.replace(base, what="a POSIX semaphore", min_size=SEM_T_SIZE)
    return dataclasses.replace(base, dev=os.fstat(dirfd).st_dev)


def os_error(err: OSError, kind: Kind, name: str, what: str) -> IpcError:
    """An OSError on an object's file -> the error a user should see."""
    label = object_name(kind, name)
    if err.errno == errno.ENOENT:
        return NotFound(f"{label} does not exist (see `ipctop snapshot`)")
    if err.errno in (errno.EACCES, errno.EPERM):
        return IpcError(f"permission denied: cannot {what} {label}")
    return IpcError(f"cannot {what} {label}: {err.strerror}")


@contextmanager
def open_file(kind: Kind, name: str, flags: int, what: str) -> Iterator[int]:
    """An fd of the object's file opened with ``flags`` once checked (never blocks, follows no
    link, refuses a FIFO, a directory, another filesystem or a semaphore file too small)."""
    fname = file_name(kind, name)
    with object_dir(kind) as dirfd:
        try:
            with safepath.opened(fname, expect(kind, dirfd), flags, dirfd=dirfd,
                                 shown=where(kind, name)) as fd:
                yield fd
        except OSError as err:
            raise os_error(err, kind, name, what) from None


def _same_file(dirfd: int, fname: bytes, fd: int) -> bool:
    try:
        now = os.stat(fname, dir_fd=dirfd, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) and stat.S_ISREG(now.st_mode)


def unlink(kind: Kind, name: str, *, only_if_unused: bool = False) -> None:
    """Remove the object's file (the object goes when the last process closes it).

    With ``only_if_unused``, refuse (:class:`ipctop.safepath.InUse`) unless no other process has
    it open or mapped, and unlink while holding the write lease that proves it: a process opening
    it meanwhile waits until the name is gone. The window left: the file's owner renaming another
    file of theirs over the name between the check of the name and the unlink (then that file
    goes instead, theirs), and mq_open, which does not go through the lease.
    """
    fname = file_name(kind, name)
    with object_dir(kind) as dirfd:
        if not only_if_unused:
            try:
                st = os.stat(fname, dir_fd=dirfd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise UsageError(f"refusing {where(kind, name)}: it is "
                                     f"{safepath.describe_mode(st.st_mode)}, not "
                                     f"{expect(kind, dirfd).what}")
                os.unlink(fname, dir_fd=dirfd)
            except OSError as err:
                raise os_error(err, kind, name, "remove") from None
            return
        try:
            with safepath.exclusive_lease(dirfd, fname, expect(kind, dirfd)) as fd:
                if not _same_file(dirfd, fname, fd):
                    raise IpcError(f"{object_name(kind, name)} was replaced meanwhile: "
                                   "not removed")
                os.unlink(fname, dir_fd=dirfd)
        except safepath.InUse:
            raise safepath.InUse(f"{object_name(kind, name)} is open or mapped by a process: "
                                 "not removed") from None
        except OSError as err:
            raise os_error(err, kind, name, "remove") from None
