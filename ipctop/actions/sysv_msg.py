"""SysV message queues by id: send and receive (or peek, MSG_COPY), never blocking without a
deadline."""

from __future__ import annotations

import ctypes
import errno

from ipctop.actions.common import (
    LONG_MAX,
    Deadline,
    Message,
    check_range,
    kernel_limit,
    object_name,
    plural,
)
from ipctop.actions.sysv_libc import (
    IPC_NOWAIT,
    IPC_STAT,
    MSG_COPY,
    MSG_NOERROR,
    MsqidDs,
    fail,
    last_errno,
    sysv_calls,
    sysv_lookup,
)
from ipctop.errors import IpcError, UsageError
from ipctop.model import Kind


def msq_stat(msqid: int, name: str) -> MsqidDs:
    buf = MsqidDs()
    if sysv_calls().msgctl(msqid, IPC_STAT, ctypes.byref(buf)) != 0:
        raise fail(last_errno(), "read", name)
    return buf


# --------------------------------------------------------------------------- send, receive


def send(ident: str, data: bytes, mtype: int, timeout: float) -> None:
    check_range("--type", mtype, 1, LONG_MAX)
    msqid, _row = sysv_lookup(Kind.SYSV_MSG, ident)
    name = object_name(Kind.SYSV_MSG, ident)
    msgmax = kernel_limit("msgmax")
    if msgmax is not None and len(data) > msgmax:
        raise UsageError(f"message too long: {len(data)} bytes, kernel.msgmax is {msgmax}")
    ds = msq_stat(msqid, name)
    if len(data) > ds.qbytes:
        raise UsageError(f"message too long: {len(data)} bytes, {name} holds at most "
                         f"{ds.qbytes} bytes")
    buf = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + len(data))
    ctypes.c_long.from_buffer(buf).value = mtype
    ctypes.memmove(ctypes.addressof(buf) + ctypes.sizeof(ctypes.c_long), data, len(data))
    deadline = Deadline(timeout)
    libc = sysv_calls()
    while True:
        if libc.msgsnd(msqid, buf, len(data), IPC_NOWAIT) == 0:
            return
        err = last_errno()
        if err == errno.EINTR:
            continue
        if err != errno.EAGAIN:
            raise fail(err, "send to", name)
        if not deadline.wait():
            ds = msq_stat(msqid, name)
            raise IpcError(f"{name} is full ({plural(ds.qnum, 'message')}, {ds.cbytes} of "
                           f"{ds.qbytes} bytes){deadline.waited()}: nothing sent")


def _msg_buffer_size(qbytes: int) -> int:
    msgmax = kernel_limit("msgmax") or 8192
    return max(msgmax, min(qbytes, 16 * 1024 * 1024))


def receive(ident: str, mtype: int, timeout: float, peek: bool,
                  count: int) -> list[Message]:
    msqid, _row = sysv_lookup(Kind.SYSV_MSG, ident)
    name = object_name(Kind.SYSV_MSG, ident)
    size = _msg_buffer_size(msq_stat(msqid, name).qbytes)
    long_size = ctypes.sizeof(ctypes.c_long)
    buf = ctypes.create_string_buffer(long_size + size)
    libc = sysv_calls()
    deadline = Deadline(timeout)
    out: list[Message] = []
    while len(out) < count:
        if peek:
            n = libc.msgrcv(msqid, buf, size, len(out), IPC_NOWAIT | MSG_COPY | MSG_NOERROR)
        else:
            n = libc.msgrcv(msqid, buf, size, mtype, IPC_NOWAIT)
        if n >= 0:
            mtyp = ctypes.c_long.from_buffer(buf).value
            out.append(Message(buf.raw[long_size:long_size + n], mtyp))
            continue
        err = last_errno()
        if err == errno.EINTR:
            continue
        if peek and err in (errno.ENOSYS, errno.EINVAL):
            raise IpcError("this kernel cannot peek at SysV messages (msgrcv MSG_COPY needs "
                           "CONFIG_CHECKPOINT_RESTORE)")
        if err == errno.E2BIG:
            raise IpcError(f"a message in {name} is larger than {size} bytes: not taken")
        if err != errno.ENOMSG:
            raise fail(err, "receive from", name)
        if not deadline.wait():
            break
    return out

