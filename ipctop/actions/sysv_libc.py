"""The SysV calls through libc (ctypes), their structs and constants, and lookups by id or key
in /proc/sysvipc: what the shm, msg and sem modules share.

Why ctypes: ``sysv_ipc`` opens objects by key only (an IPC_PRIVATE object cannot be reopened), its
``SharedMemory`` attaches on construction, its semaphore timeouts do not work, and it has no
MSG_COPY. The SysV calls are small, so they are made directly on SysV ids. Queues and semaphores
are used with IPC_NOWAIT and a polling loop or ``semtimedop``: nothing blocks without a deadline.
"""

from __future__ import annotations

import ctypes
import errno
import os
from functools import lru_cache
from typing import Any

from ipctop.actions.common import (
    IPC_PRIVATE,
    SYSVIPC,
    kind_name,
    parse_sysv_id,
)
from ipctop.collect.common import load_libc
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.model import Kind

# <sys/ipc.h>, <sys/shm.h>, <sys/msg.h>, <sys/sem.h> on Linux
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
SHM_RDONLY = 0o10000
MSG_NOERROR = 0o10000
MSG_COPY = 0o40000
GETPID = 11
GETVAL = 12
GETALL = 13
GETNCNT = 14
GETZCNT = 15
SETVAL = 16
SETALL = 17


# --------------------------------------------------------------------------- libc (SysV)


class Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short),
                ("sem_flg", ctypes.c_short)]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class IpcPerm(ctypes.Structure):
    # struct ipc_perm on 64-bit Linux (48 bytes); mode is read from its low 16 bits.
    _fields_ = [("key", ctypes.c_int), ("uid", ctypes.c_uint), ("gid", ctypes.c_uint),
                ("cuid", ctypes.c_uint), ("cgid", ctypes.c_uint), ("mode", ctypes.c_uint),
                ("seq", ctypes.c_ushort), ("_pad", ctypes.c_ushort),
                ("_r1", ctypes.c_ulong), ("_r2", ctypes.c_ulong)]


class MsqidDs(ctypes.Structure):
    _fields_ = [("perm", IpcPerm), ("stime", ctypes.c_long), ("rtime", ctypes.c_long),
                ("ctime", ctypes.c_long), ("cbytes", ctypes.c_ulong), ("qnum", ctypes.c_ulong),
                ("qbytes", ctypes.c_ulong), ("lspid", ctypes.c_int), ("lrpid", ctypes.c_int),
                ("_r4", ctypes.c_ulong), ("_r5", ctypes.c_ulong)]


class ShmidDs(ctypes.Structure):
    _fields_ = [("perm", IpcPerm), ("segsz", ctypes.c_size_t), ("atime", ctypes.c_long),
                ("dtime", ctypes.c_long), ("ctime", ctypes.c_long), ("cpid", ctypes.c_int),
                ("lpid", ctypes.c_int), ("nattch", ctypes.c_ulong), ("_r4", ctypes.c_ulong),
                ("_r5", ctypes.c_ulong)]


@lru_cache(maxsize=1)
def sysv_calls() -> Any:
    libc = load_libc()
    c_int, c_long, c_size_t = ctypes.c_int, ctypes.c_long, ctypes.c_size_t
    c_void_p = ctypes.c_void_p
    for fname, restype, argtypes in (
        ("shmget", c_int, [c_int, c_size_t, c_int]),
        ("shmat", c_void_p, [c_int, c_void_p, c_int]),
        ("shmdt", c_int, [c_void_p]),
        ("shmctl", c_int, [c_int, c_int, c_void_p]),
        ("msgget", c_int, [c_int, c_int]),
        ("msgsnd", c_int, [c_int, c_void_p, c_size_t, c_int]),
        ("msgrcv", ctypes.c_ssize_t, [c_int, c_void_p, c_size_t, c_long, c_int]),
        ("msgctl", c_int, [c_int, c_int, c_void_p]),
        ("semget", c_int, [c_int, c_int, c_int]),
        ("semtimedop", c_int,
         [c_int, ctypes.POINTER(Sembuf), c_size_t, ctypes.POINTER(Timespec)]),
    ):
        func = getattr(libc, fname)
        func.restype = restype
        func.argtypes = argtypes
    libc.semctl.restype = c_int  # variadic: arguments are passed as typed at each call
    return libc


def last_errno() -> int:
    return ctypes.get_errno()


def c_key(key: int) -> int:
    return key - 2**32 if key >= 2**31 else key


def semctl(semid: int, num: int, cmd: int, arg: Any = None) -> int:
    libc = sysv_calls()
    if arg is None:
        return int(libc.semctl(ctypes.c_int(semid), ctypes.c_int(num), ctypes.c_int(cmd)))
    return int(libc.semctl(ctypes.c_int(semid), ctypes.c_int(num), ctypes.c_int(cmd), arg))


def fail(err: int, what: str, name: str) -> IpcError:
    """An errno from a call on an existing object -> the error a user should see."""
    if err in (errno.EACCES, errno.EPERM):
        return IpcError(f"permission denied: cannot {what} {name}")
    if err in (errno.EIDRM, errno.EINVAL, errno.ENOENT):
        return NotFound(f"{name} does not exist (removed meanwhile?)")
    return IpcError(f"cannot {what} {name}: {os.strerror(err)}")


# --------------------------------------------------------------------------- SysV lookups


SYSV_FILE = {Kind.SYSV_SHM: ("shm", "shmid"), Kind.SYSV_MSG: ("msg", "msqid"),
              Kind.SYSV_SEM: ("sem", "semid")}


def sysv_row(kind: Kind, sysv_id: int) -> dict[str, int] | None:
    """The /proc/sysvipc row of one object as {column: value} (perms decoded from octal)."""
    fname, idcol = SYSV_FILE[kind]
    try:
        lines = (SYSVIPC / fname).read_text().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    header = lines[0].split()
    for line in lines[1:]:
        parts = line.split()
        row = dict(zip(header, parts, strict=False))
        try:
            if int(row[idcol]) != sysv_id:
                continue
            return {k: int(v, 8) if k == "perms" else int(v) for k, v in row.items()}
        except (KeyError, ValueError):
            continue
    return None


def id_for_key(kind: Kind, key: int) -> str:
    """The id of the object of ``kind`` with SysV ``key`` (as ``ipcrm -M KEY`` finds it), from
    /proc/sysvipc, which lists keys as signed decimals."""
    label = kind_name(kind)
    if key == IPC_PRIVATE:
        raise UsageError(f"key 0 is IPC_PRIVATE: private {label} objects have no key to find "
                         "them by; give the id")
    fname, idcol = SYSV_FILE[kind]
    try:
        lines = (SYSVIPC / fname).read_text().splitlines()
    except OSError as err:
        raise IpcError(f"cannot read {SYSVIPC / fname}: {err.strerror}") from None
    header = lines[0].split() if lines else []
    for line in lines[1:]:
        row = dict(zip(header, line.split(), strict=False))
        try:
            if int(row["key"]) & 0xFFFFFFFF == key:
                return str(int(row[idcol]))
        except (KeyError, ValueError):
            continue
    raise NotFound(f"no {label} with key 0x{key:08x} (see `ipctop snapshot`)")


def sysv_lookup(kind: Kind, ident: str) -> tuple[int, dict[str, int]]:
    sysv_id = parse_sysv_id(kind, ident)
    row = sysv_row(kind, sysv_id)
    if row is None:
        raise NotFound(f"no {kind_name(kind)} with id {sysv_id} (see `ipctop snapshot`)")
    return sysv_id, row

