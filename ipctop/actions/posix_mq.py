"""POSIX message queues through libc (ctypes): create, send, receive, describe.

Not ``posix_ipc``: it takes names as text and fails on a queue whose name is not UTF-8 (after
opening it), and its waits block in the kernel. Here a name is bytes end to end, the queue is
opened O_NONBLOCK and waited on with ``select`` (a queue descriptor is pollable), so every wait
has a deadline and nothing blocks. mq_open resolves names inside the kernel's own mqueue mount,
where nobody can make links or FIFOs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ipctop.actions.common import (
    MQ_PRIO_MAX,
    Deadline,
    Message,
    check_range,
    object_name,
    validate_posix_name,
)
from ipctop.collect.common import load_libc
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.model import Kind


class MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("_reserved", ctypes.c_long * 4)]


@lru_cache(maxsize=1)
def _libc() -> Any:
    libc = load_libc()
    c_int, c_char_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t
    c_uint = ctypes.c_uint
    libc.mq_open.restype = c_int  # variadic: typed at each call
    for fname, restype, argtypes in (
        ("mq_getattr", c_int, [c_int, ctypes.POINTER(MqAttr)]),
        ("mq_send", c_int, [c_int, c_char_p, c_size_t, c_uint]),
        ("mq_receive", ctypes.c_ssize_t, [c_int, ctypes.c_void_p, c_size_t,
                                          ctypes.POINTER(c_uint)]),
        ("mq_unlink", c_int, [c_char_p]),
    ):
        func = getattr(libc, fname)
        func.restype = restype
        func.argtypes = argtypes
    return libc


def _label(name: str) -> str:
    return object_name(Kind.POSIX_MQ, name)


def _error(err: int, what: str, name: str) -> IpcError:
    label = _label(name)
    if err == errno.ENOENT:
        return NotFound(f"{label} does not exist (see `ipctop snapshot`)")
    if err in (errno.EACCES, errno.EPERM):
        return IpcError(f"permission denied: cannot {what} {label}")
    return IpcError(f"cannot {what} {label}: {os.strerror(err)}")


def mq_open(name: str, flags: int, mode: int = 0, attr: MqAttr | None = None) -> int:
    """mq_open(name as bytes, flags | O_NONBLOCK | O_CLOEXEC); OSError on failure."""
    validate_posix_name(Kind.POSIX_MQ, name)
    flags |= os.O_NONBLOCK | os.O_CLOEXEC
    libc = _libc()
    if flags & os.O_CREAT:
        fd = libc.mq_open(ctypes.c_char_p(os.fsencode(name)), ctypes.c_int(flags),
                          ctypes.c_uint(mode), None if attr is None else ctypes.byref(attr))
    else:
        fd = libc.mq_open(ctypes.c_char_p(os.fsencode(name)), ctypes.c_int(flags))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(fd)


@contextmanager
def opened(name: str, flags: int, what: str) -> Iterator[tuple[int, MqAttr]]:
    """An existing queue, opened with ``flags``, and its attributes; closed after."""
    try:
        fd = mq_open(name, flags)
    except OSError as err:
        raise _error(err.errno or 0, what, name) from None
    try:
        yield fd, attrs(fd, name)
    finally:
        os.close(fd)


def attrs(fd: int, name: str) -> MqAttr:
    attr = MqAttr()
    if _libc().mq_getattr(fd, ctypes.byref(attr)) != 0:
        raise _error(ctypes.get_errno(), "look at", name)
    return attr


def send(name: str, data: bytes, priority: int, timeout: float) -> None:
    check_range("--priority", priority, 0, MQ_PRIO_MAX)
    label = _label(name)
    deadline = Deadline(timeout)
    with opened(name, os.O_WRONLY, "send to") as (fd, attr):
        if len(data) > attr.mq_msgsize:
            raise UsageError(f"message too long: {len(data)} bytes, {label} takes at most "
                             f"{attr.mq_msgsize}")
        while True:
            if _libc().mq_send(fd, data, len(data), priority) == 0:
                return
            err = ctypes.get_errno()
            if err == errno.EINTR:
                continue
            if err != errno.EAGAIN:
                raise _error(err, "send to", name)
            _r, writable, _x = select.select([], [fd], [], deadline.left())
            if not writable:
                now = attrs(fd, name)
                raise IpcError(f"{label} is full ({now.mq_curmsgs} of {now.mq_maxmsg} "
                               f"messages){deadline.waited()}: nothing sent")


def receive(name: str, timeout: float, count: int) -> list[Message]:
    deadline = Deadline(timeout)
    out: list[Message] = []
    with opened(name, os.O_RDONLY, "receive from") as (fd, attr):
        buf = ctypes.create_string_buffer(max(1, attr.mq_msgsize))
        prio = ctypes.c_uint()
        while len(out) < count:
            n = _libc().mq_receive(fd, buf, len(buf), ctypes.byref(prio))
            if n >= 0:
                out.append(Message(buf.raw[:n], int(prio.value)))
                continue
            err = ctypes.get_errno()
            if err == errno.EINTR:
                continue
            if err != errno.EAGAIN:
                raise _error(err, "receive from", name)
            readable, _w, _x = select.select([fd], [], [], deadline.left())
            if not readable:
                break
    return out


def queued(name: str) -> int:
    """Messages in the queue now."""
    with opened(name, os.O_RDONLY, "look at") as (_fd, attr):
        return int(attr.mq_curmsgs)


def unlink(name: str) -> None:
    """mq_unlink, for when the mqueue filesystem is not mounted (no file to lease)."""
    validate_posix_name(Kind.POSIX_MQ, name)
    if _libc().mq_unlink(os.fsencode(name)) != 0:
        raise _error(ctypes.get_errno(), "remove", name)
