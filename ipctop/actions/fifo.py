"""FIFOs (named pipes), by path: create, send, receive, remove.

A FIFO's path is in a directory other users write (/tmp), so it goes through :mod:`ipctop.safepath`:
its directory is opened without following a link another user could swap in, the FIFO itself
O_PATH and checked to be one, and it is opened for reading or writing only through that fd (also
when a writer waits for a reader): never by its name again. Opens are O_NONBLOCK and waits use
``select``, so nothing blocks without a deadline.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from ipctop import safepath
from ipctop.actions.common import (
    Created,
    Deadline,
    Message,
    count_holders,
    exact_umask,
    n_processes,
    object_name,
)
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.model import Kind


def _fifo_error(err: OSError, what: str, full: str, *, doing: str | None = None) -> IpcError:
    """The error to show when ``what`` ("read from", "remove") failed on the FIFO ``full`` with
    ``err``; ``doing`` names the call for other failures (default ``what``)."""
    if isinstance(err, FileNotFoundError):
        return NotFound(f"no FIFO at {full} (removed meanwhile?)")
    if isinstance(err, PermissionError):
        return IpcError(f"permission denied: cannot {what} {full}")
    return IpcError(f"cannot {doing or what} {full}: {err.strerror}")


def _fifo_path(path: str) -> str:
    if not path or "\0" in path:
        raise UsageError(f"not a FIFO path: {path!r}")
    return os.path.abspath(path)


def _open_parent(full: str) -> tuple[int, bytes]:
    """(fd of the directory, last component) of ``full``: the directory is reached without
    following a link another user could swap in, and every later step is relative to it."""
    head, name = safepath.split(full)
    try:
        return safepath.open_dir(head), name
    except FileNotFoundError:
        raise NotFound(f"no FIFO at {full}: {safepath.show(head)} does not exist") from None
    except NotADirectoryError:
        raise UsageError(f"no FIFO at {full}: {safepath.show(head)} is not a directory") from None
    except OSError as err:
        raise _fifo_error(err, "look at", full) from None


@contextmanager
def _parent(full: str) -> Iterator[tuple[int, bytes]]:
    dirfd, name = _open_parent(full)
    try:
        yield dirfd, name
    finally:
        os.close(dirfd)


def _lstat_fifo(dirfd: int, name: bytes, full: str) -> os.stat_result:
    """The FIFO's stat (never following a link); refuses anything else."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        raise NotFound(f"no FIFO at {full}") from None
    except OSError as err:
        raise IpcError(f"cannot look at {full}: {err.strerror}") from None
    _require_fifo(st, full)
    return st


def _require_fifo(st: os.stat_result, full: str) -> None:
    if not stat.S_ISFIFO(st.st_mode):
        raise UsageError(f"{full} is not a FIFO (it is {safepath.describe_mode(st.st_mode)})")


@contextmanager
def _fifo_opath(full: str) -> Iterator[int]:
    """An O_PATH fd of the FIFO at ``full``, checked: the one inode every later open reaches
    (through /proc/self/fd), whatever the name points to meanwhile."""
    with _parent(full) as (dirfd, name):
        try:
            fd = safepath.open_path(name, safepath.O_PATH, dirfd=dirfd)
        except FileNotFoundError:
            raise NotFound(f"no FIFO at {full}") from None
        except OSError as err:
            raise IpcError(f"cannot look at {full}: {err.strerror}") from None
    try:
        _require_fifo(os.fstat(fd), full)
        yield fd
    finally:
        os.close(fd)


def create(path: str, perms: int, exclusive: bool) -> Created:
    full = _fifo_path(path)
    try:
        dirfd, name = _open_parent(full)
    except NotFound:
        raise UsageError(f"cannot create {full}: {os.path.dirname(full)} does not exist") from None
    try:
        with exact_umask():
            os.mkfifo(name, perms, dir_fd=dirfd)
    except FileExistsError:
        if exclusive:
            raise UsageError(f"{full} already exists") from None
        _lstat_fifo(dirfd, name, full)  # refuses anything that is not a FIFO
        return Created(Kind.FIFO, full, created=False)
    except OSError as err:
        raise _fifo_error(err, "create", full) from None
    finally:
        os.close(dirfd)
    return Created(Kind.FIFO, full, created=True)


def send(path: str, data: bytes, timeout: float) -> None:
    full = _fifo_path(path)
    deadline = Deadline(timeout)
    with _fifo_opath(full) as opath:
        while True:
            try:
                fd = safepath.reopen(opath, os.O_WRONLY)
                break
            except OSError as err:
                if err.errno == errno.ENXIO:
                    if deadline.wait():
                        continue
                    raise IpcError(f"no process has {full} open for reading"
                                   f"{deadline.waited()}: nothing sent") from None
                raise _fifo_error(err, "write to", full, doing="open") from None
    try:
        view = memoryview(data)
        while view:
            _r, writable, _x = select.select([], [fd], [], deadline.left())
            if not writable:
                raise IpcError(f"{full} is full{deadline.waited()}: sent "
                               f"{len(data) - len(view)} of {len(data)} bytes")
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise IpcError(f"the reader of {full} went away: sent {len(data) - len(view)} "
                               f"of {len(data)} bytes") from None
            view = view[n:]
    finally:
        os.close(fd)


def receive(path: str, timeout: float, count: int) -> list[Message]:
    full = _fifo_path(path)
    # O_RDWR: we also count as a writer, so select waits for data instead of reporting EOF
    # while no writer has the FIFO open (Linux defines O_RDWR on a FIFO).
    with _fifo_opath(full) as opath:
        try:
            fd = safepath.reopen(opath, os.O_RDWR)
        except OSError as err:
            raise _fifo_error(err, "read from", full, doing="open") from None
    deadline = Deadline(timeout)
    out: list[Message] = []
    try:
        while len(out) < count:
            readable, _w, _x = select.select([fd], [], [], deadline.left())
            if not readable:
                break
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if chunk:
                out.append(Message(chunk, 0))
    finally:
        os.close(fd)
    return out


def describe_removal(ident: str, holders: int | None) -> str:
    full = _fifo_path(ident)
    with _parent(full) as (dirfd, name):
        _lstat_fifo(dirfd, name, full)
    n = count_holders(Kind.FIFO, os.path.realpath(full)) if holders is None else holders
    if n:
        return (f"open in {n_processes(n)}: the path goes now, they keep the pipe until "
                "they close it")
    return "the path goes now" + ("" if n == 0 else " (users unknown)")


def remove(ident: str) -> str:
    """Unlink the FIFO; returns how to name it (its absolute path)."""
    full = _fifo_path(ident)
    with _parent(full) as (dirfd, name):
        # Still a FIFO, in the directory we hold: a link swapped in for a directory on the way
        # cannot redirect the unlink. (Its owner could still swap this name between the check and
        # the unlink; then what goes is a name that owner controls anyway.)
        _lstat_fifo(dirfd, name, full)
        try:
            os.unlink(name, dir_fd=dirfd)
        except OSError as err:
            raise _fifo_error(err, "remove", full) from None
    return object_name(Kind.FIFO, full)
