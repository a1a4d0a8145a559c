"""SysV semaphore sets by id: values, an operation with a deadline (semtimedop), set one."""

from __future__ import annotations

import ctypes
import errno

from ipctop.actions.common import (
    SEMVMX,
    Deadline,
    check_range,
    object_name,
    plural,
)
from ipctop.actions.sysv_libc import (
    GETALL,
    GETVAL,
    IPC_NOWAIT,
    SETVAL,
    Sembuf,
    Timespec,
    fail,
    last_errno,
    semctl,
    sysv_calls,
    sysv_lookup,
)
from ipctop.errors import IpcError, UsageError
from ipctop.model import Kind

# --------------------------------------------------------------------------- semaphores


def sem_values(ident: str) -> tuple[int, ...]:
    k = Kind.SYSV_SEM
    semid, row = sysv_lookup(k, ident)
    nsems = row["nsems"]
    arr = (ctypes.c_ushort * nsems)()
    if semctl(semid, 0, GETALL, arr) != 0:
        raise fail(last_errno(), "read", object_name(k, ident))
    return tuple(int(v) for v in arr)


def _sem_index(row: dict[str, int], index: int, name: str) -> int:
    nsems = row["nsems"]
    if not 0 <= index < nsems:
        raise UsageError(f"--index {index} is out of range: {name} has "
                         f"{plural(nsems, 'semaphore')} (0 to {nsems - 1})")
    return index


def sem_op(ident: str, op: int, index: int, wait: float) -> int:
    k = Kind.SYSV_SEM
    name = object_name(k, ident)
    check_range("--op", op, -32768, 32767)
    semid, row = sysv_lookup(k, ident)
    _sem_index(row, index, name)
    sop = Sembuf(index, op, IPC_NOWAIT if wait == 0 else 0)
    ts = Timespec(int(wait), int((wait - int(wait)) * 1e9))
    deadline = Deadline(wait)
    libc = sysv_calls()
    while True:
        tsp = None if wait == 0 else ctypes.pointer(ts)
        if libc.semtimedop(semid, ctypes.byref(sop), 1, tsp) == 0:
            break
        err = last_errno()
        if err == errno.EINTR:
            left = deadline.left()
            ts = Timespec(int(left), int((left - int(left)) * 1e9))
            continue
        if err == errno.EAGAIN:
            current = semctl(semid, index, GETVAL)
            need = "zero" if op == 0 else f"at least {-op}"
            raise IpcError(f"{name}[{index}] is {current}, op {op:+d} needs {need}"
                           f"{deadline.waited()}: nothing changed")
        if err == errno.ERANGE:
            raise UsageError(f"{name}[{index}] would exceed {SEMVMX}: nothing changed")
        if err == errno.EFBIG:
            raise UsageError(f"--index {index} is out of range for {name}")
        raise fail(err, "change", name)
    value = semctl(semid, index, GETVAL)
    if value < 0:
        raise fail(last_errno(), "read", name)
    return value


def sem_set(ident: str, value: int, index: int) -> int:
    k = Kind.SYSV_SEM
    name = object_name(k, ident)
    check_range("--set", value, 0, SEMVMX)
    semid, row = sysv_lookup(k, ident)
    _sem_index(row, index, name)
    if semctl(semid, index, SETVAL, ctypes.c_long(value)) != 0:
        raise fail(last_errno(), "set", name)
    return semctl(semid, index, GETVAL)

