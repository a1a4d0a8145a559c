"""SysV shared memory, message queues and semaphore sets, by id, through libc (ctypes).

Why ctypes: ``sysv_ipc`` opens objects by key only (an IPC_PRIVATE object cannot be reopened), its
``SharedMemory`` attaches on construction, its semaphore timeouts do not work, and it has no
MSG_COPY. The SysV calls are small, so they are made directly on SysV ids. Queues and semaphores
are used with IPC_NOWAIT and a polling loop or ``semtimedop``: nothing blocks without a deadline.

This module creates and removes; the rest is one module per kind: :mod:`.sysv_shm`,
:mod:`.sysv_msg`, :mod:`.sysv_sem`, over the calls and lookups of :mod:`.sysv_libc`. Their
functions are re-exported here, so callers name ``sysv.send`` whatever the kind.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

from ipctop.actions.common import (
    IPC_PRIVATE,
    SEMVMX,
    Created,
    check_range,
    check_size,
    differ,
    existing,
    kernel_limit,
    kind_name,
    n_processes,
    object_name,
    parse_sysv_id,
    plural,
)
from ipctop.actions.sysv_libc import (
    GETNCNT,
    GETZCNT,
    IPC_CREAT,
    IPC_EXCL,
    IPC_RMID,
    SETALL,
    c_key,
    fail,
    id_for_key,
    last_errno,
    semctl,
    sysv_calls,
    sysv_lookup,
    sysv_row,
)
from ipctop.actions.sysv_msg import msq_stat, receive, send
from ipctop.actions.sysv_sem import sem_op, sem_set, sem_values
from ipctop.actions.sysv_shm import (
    ATTACH_NOTE,
    Attached,
    read_shm,
    refuse_attached,
    remove_shm,
    shm_size,
    write_shm,
)
from ipctop.errors import IpcError, UsageError
from ipctop.fmt import human_bytes
from ipctop.model import Kind

__all__ = [
    "ATTACH_NOTE", "Attached", "create", "describe_removal", "id_for_key", "msq_stat",
    "read_shm", "receive", "refuse_attached", "remove", "sem_op", "sem_set", "sem_values",
    "send", "shm_size", "sysv_row", "write_shm",
]

# --------------------------------------------------------------------------- create


def create(kind: Kind, key: int, perms: int, size: int | None, nsems: int | None,
           value: int | None, exclusive: bool, reuse: bool = False) -> Created:
    libc = sysv_calls()
    label = kind_name(kind)
    if kind is Kind.SYSV_SHM:
        nbytes = check_size(size, kind, kernel_limit("shmmax"), "kernel.shmmax")
        get: Callable[[int, int], int] = lambda k, flags: libc.shmget(k, nbytes, flags)  # noqa: E731
        reopen: Callable[[int], int] = lambda k: libc.shmget(k, 0, 0)  # noqa: E731
    elif kind is Kind.SYSV_MSG:
        get = lambda k, flags: libc.msgget(k, flags)  # noqa: E731
        reopen = lambda k: libc.msgget(k, 0)  # noqa: E731
    else:
        count = check_range("--nsems", 1 if nsems is None else nsems, 1, kernel_limit("semmsl"),
                             " (kernel.sem SEMMSL)")
        initial = check_range("--value", 0 if value is None else value, 0, SEMVMX)
        get = lambda k, flags: libc.semget(k, count, flags)  # noqa: E731
        reopen = lambda k: libc.semget(k, 0, 0)  # noqa: E731
    key_text = f"0x{key:08x}"
    new_id = get(c_key(key), IPC_CREAT | IPC_EXCL | perms)
    if new_id < 0:
        err = last_errno()
        if err == errno.EEXIST:
            old_id = reopen(c_key(key))
            if exclusive:
                which = f" (id {old_id})" if old_id >= 0 else ""
                raise UsageError(f"a {label} with key {key_text} already exists{which}")
            if old_id < 0:
                raise fail(last_errno(), "open", f"{label} with key {key_text}")
            row = sysv_row(kind, old_id) or {}
            differs = (differ("size", row.get("size", nbytes), nbytes)
                       if kind is Kind.SYSV_SHM else
                       differ("nsems", row.get("nsems", count), nsems)
                       if kind is Kind.SYSV_SEM else [])
            return existing(kind, str(old_id), key_text, differs, reuse)
        if err == errno.ENOSPC:
            raise IpcError(f"cannot create {label}: the kernel's limit on {label} objects "
                           "(or total shared memory) is reached")
        which = "private" if key == IPC_PRIVATE else f"with key {key_text}"
        if err in (errno.EACCES, errno.EPERM):
            raise IpcError(f"permission denied: cannot create {label} {which}")
        if err == errno.ENOMEM:
            raise IpcError(f"cannot create {label} {which}: not enough memory for {size} bytes "
                           "(kernel.shmall or RAM)")
        raise IpcError(f"cannot create {label} {which}: {os.strerror(err)}")
    if kind is Kind.SYSV_SEM and initial:
        values = (ctypes.c_ushort * count)(*([initial] * count))
        if semctl(new_id, 0, SETALL, values) != 0:
            err = last_errno()
            semctl(new_id, 0, IPC_RMID)  # leave nothing behind
            raise IpcError(f"cannot set the initial value of {label}: {os.strerror(err)}")
    return Created(kind, str(new_id), key_text, created=True)


# --------------------------------------------------------------------------- remove


def describe_removal(k: Kind, ident: str) -> str:
    if k is Kind.SYSV_SHM:
        _id, row = sysv_lookup(k, ident)
        nattch, size = row["nattch"], row["size"]
        dest = bool(row["perms"] & 0o1000)
        if dest:
            return (f"already marked for removal; attached by {n_processes(nattch)}: destroyed "
                    "when the last detaches")
        if nattch:
            return f"attached by {n_processes(nattch)}: destroyed when the last detaches"
        touched = row.get("rss", size) + row.get("swap", 0)
        if touched == 0:
            return (f"no process attached: destroyed now ({human_bytes(size)}, never touched: "
                    "it held no memory)")
        return f"no process attached: destroyed now, {human_bytes(touched)} of memory freed"
    if k is Kind.SYSV_MSG:
        _id, row = sysv_lookup(k, ident)
        if row["qnum"]:
            return (f"{plural(row['qnum'], 'message')} ({row['cbytes']} bytes) queued: "
                    "destroyed now with its messages")
        return "empty: destroyed now"
    semid, row = sysv_lookup(k, ident)
    waiting = sum(max(0, semctl(semid, i, GETNCNT)) + max(0, semctl(semid, i, GETZCNT))
                  for i in range(row["nsems"]))
    if waiting:
        return (f"destroyed now; {n_processes(waiting)} waiting on it "
                "get an error (EIDRM)")
    return "no process waiting: destroyed now"


def remove(k: Kind, ident: str, *, only_if_unused: bool = False,
           force_attached: bool = False) -> None:
    """IPC_RMID. A shared memory segment with attachers is refused (:class:`Attached`) unless
    ``force_attached`` (and always with ``only_if_unused``)."""
    name = object_name(k, ident)
    sysv_id = parse_sysv_id(k, ident)
    libc = sysv_calls()
    if k is Kind.SYSV_SHM:
        remove_shm(sysv_id, name, only_if_unused, force_attached and not only_if_unused)
        return
    if k is Kind.SYSV_MSG:
        rc = libc.msgctl(sysv_id, IPC_RMID, None)
    else:
        rc = semctl(sysv_id, 0, IPC_RMID)
    if rc != 0:
        raise fail(last_errno(), "remove", name)
