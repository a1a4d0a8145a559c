"""FIFOs (named pipes), by path: create, send, receive, remove.

FIFOs are opened O_NONBLOCK and waited on with ``select``, so nothing blocks without a deadline.
"""

from __future__ import annotations

import errno
import os
import select
import stat

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


def _fifo_path(path: str, *, must_exist: bool = True) -> str:
    if not path or "\0" in path:
        raise UsageError(f"not a FIFO path: {path!r}")
    full = os.path.abspath(path)
    if not must_exist:
        return full
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        raise NotFound(f"no FIFO at {full}") from None
    except OSError as err:
        raise IpcError(f"cannot look at {full}: {err.strerror}") from None
    if not stat.S_ISFIFO(st.st_mode):
        what = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else
                "a directory" if stat.S_ISDIR(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "a regular file"
                if stat.S_ISREG(st.st_mode) else "not a FIFO")
        raise UsageError(f"{full} is not a FIFO (it is {what})")
    return full


def create(path: str, perms: int, exclusive: bool) -> Created:
    full = _fifo_path(path, must_exist=False)
    try:
        with exact_umask():
            os.mkfifo(full, perms)
    except FileExistsError:
        if exclusive:
            raise UsageError(f"{full} already exists") from None
        _fifo_path(full)  # refuses anything that is not a FIFO
        return Created(Kind.FIFO, full, created=False)
    except FileNotFoundError:
        raise UsageError(f"cannot create {full}: {os.path.dirname(full)} does not exist") from None
    except OSError as err:
        raise _fifo_error(err, "create", full) from None
    return Created(Kind.FIFO, full, created=True)


def send(path: str, data: bytes, timeout: float) -> None:
    full = _fifo_path(path)
    deadline = Deadline(timeout)
    while True:
        try:
            fd = os.open(full, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
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
    try:
        fd = os.open(full, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
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
    n = count_holders(Kind.FIFO, os.path.realpath(full)) if holders is None else holders
    if n:
        return (f"open in {n_processes(n)}: the path goes now, they keep the pipe until "
                "they close it")
    return "the path goes now" + ("" if n == 0 else " (users unknown)")


def remove(ident: str) -> str:
    """Unlink the FIFO; returns how to name it (its absolute path)."""
    full = _fifo_path(ident)
    try:
        os.unlink(full)
    except OSError as err:
        raise _fifo_error(err, "remove", full) from None
    return object_name(Kind.FIFO, full)
