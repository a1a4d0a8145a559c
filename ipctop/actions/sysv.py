"""SysV shared memory, message queues and semaphore sets, by id, through libc (ctypes).

Why ctypes: ``sysv_ipc`` opens objects by key only (an IPC_PRIVATE object cannot be reopened), its
``SharedMemory`` attaches on construction, its semaphore timeouts do not work, and it has no
MSG_COPY. The SysV calls are small, so they are made directly on SysV ids. Queues and semaphores
are used with IPC_NOWAIT and a polling loop or ``semtimedop``: nothing blocks without a deadline.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from ipctop import safepath
from ipctop.actions.common import (
    IPC_PRIVATE,
    LONG_MAX,
    SEMVMX,
    SYSVIPC,
    Created,
    Deadline,
    Message,
    ShmBytes,
    check_range,
    check_size,
    check_span,
    differ,
    existing,
    kernel_limit,
    kind_name,
    n_processes,
    object_name,
    parse_sysv_id,
    plural,
)
from ipctop.collect.common import load_libc
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.fmt import human_bytes
from ipctop.model import Kind
from ipctop.shm_mapping import open_attached

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


class _Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short),
                ("sem_flg", ctypes.c_short)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _IpcPerm(ctypes.Structure):
    # struct ipc_perm on 64-bit Linux (48 bytes); mode is read from its low 16 bits.
    _fields_ = [("key", ctypes.c_int), ("uid", ctypes.c_uint), ("gid", ctypes.c_uint),
                ("cuid", ctypes.c_uint), ("cgid", ctypes.c_uint), ("mode", ctypes.c_uint),
                ("seq", ctypes.c_ushort), ("_pad", ctypes.c_ushort),
                ("_r1", ctypes.c_ulong), ("_r2", ctypes.c_ulong)]


class _MsqidDs(ctypes.Structure):
    _fields_ = [("perm", _IpcPerm), ("stime", ctypes.c_long), ("rtime", ctypes.c_long),
                ("ctime", ctypes.c_long), ("cbytes", ctypes.c_ulong), ("qnum", ctypes.c_ulong),
                ("qbytes", ctypes.c_ulong), ("lspid", ctypes.c_int), ("lrpid", ctypes.c_int),
                ("_r4", ctypes.c_ulong), ("_r5", ctypes.c_ulong)]


class _ShmidDs(ctypes.Structure):
    _fields_ = [("perm", _IpcPerm), ("segsz", ctypes.c_size_t), ("atime", ctypes.c_long),
                ("dtime", ctypes.c_long), ("ctime", ctypes.c_long), ("cpid", ctypes.c_int),
                ("lpid", ctypes.c_int), ("nattch", ctypes.c_ulong), ("_r4", ctypes.c_ulong),
                ("_r5", ctypes.c_ulong)]


@lru_cache(maxsize=1)
def _libc() -> Any:
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
         [c_int, ctypes.POINTER(_Sembuf), c_size_t, ctypes.POINTER(_Timespec)]),
    ):
        func = getattr(libc, fname)
        func.restype = restype
        func.argtypes = argtypes
    libc.semctl.restype = c_int  # variadic: arguments are passed as typed at each call
    return libc


def _errno() -> int:
    return ctypes.get_errno()


def _c_key(key: int) -> int:
    return key - 2**32 if key >= 2**31 else key


def _semctl(semid: int, num: int, cmd: int, arg: Any = None) -> int:
    libc = _libc()
    if arg is None:
        return int(libc.semctl(ctypes.c_int(semid), ctypes.c_int(num), ctypes.c_int(cmd)))
    return int(libc.semctl(ctypes.c_int(semid), ctypes.c_int(num), ctypes.c_int(cmd), arg))


def _fail(err: int, what: str, name: str) -> IpcError:
    """An errno from a call on an existing object -> the error a user should see."""
    if err in (errno.EACCES, errno.EPERM):
        return IpcError(f"permission denied: cannot {what} {name}")
    if err in (errno.EIDRM, errno.EINVAL, errno.ENOENT):
        return NotFound(f"{name} does not exist (removed meanwhile?)")
    return IpcError(f"cannot {what} {name}: {os.strerror(err)}")


# --------------------------------------------------------------------------- SysV lookups


_SYSV_FILE = {Kind.SYSV_SHM: ("shm", "shmid"), Kind.SYSV_MSG: ("msg", "msqid"),
              Kind.SYSV_SEM: ("sem", "semid")}


def sysv_row(kind: Kind, sysv_id: int) -> dict[str, int] | None:
    """The /proc/sysvipc row of one object as {column: value} (perms decoded from octal)."""
    fname, idcol = _SYSV_FILE[kind]
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
    fname, idcol = _SYSV_FILE[kind]
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


def _sysv_lookup(kind: Kind, ident: str) -> tuple[int, dict[str, int]]:
    sysv_id = parse_sysv_id(kind, ident)
    row = sysv_row(kind, sysv_id)
    if row is None:
        raise NotFound(f"no {kind_name(kind)} with id {sysv_id} (see `ipctop snapshot`)")
    return sysv_id, row


def _msq_stat(msqid: int, name: str) -> _MsqidDs:
    buf = _MsqidDs()
    if _libc().msgctl(msqid, IPC_STAT, ctypes.byref(buf)) != 0:
        raise _fail(_errno(), "read", name)
    return buf


# --------------------------------------------------------------------------- create


def create(kind: Kind, key: int, perms: int, size: int | None, nsems: int | None,
           value: int | None, exclusive: bool, reuse: bool = False) -> Created:
    libc = _libc()
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
    new_id = get(_c_key(key), IPC_CREAT | IPC_EXCL | perms)
    if new_id < 0:
        err = _errno()
        if err == errno.EEXIST:
            old_id = reopen(_c_key(key))
            if exclusive:
                which = f" (id {old_id})" if old_id >= 0 else ""
                raise UsageError(f"a {label} with key {key_text} already exists{which}")
            if old_id < 0:
                raise _fail(_errno(), "open", f"{label} with key {key_text}")
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
        if _semctl(new_id, 0, SETALL, values) != 0:
            err = _errno()
            _semctl(new_id, 0, IPC_RMID)  # leave nothing behind
            raise IpcError(f"cannot set the initial value of {label}: {os.strerror(err)}")
    return Created(kind, str(new_id), key_text, created=True)


# --------------------------------------------------------------------------- send, receive


def send(ident: str, data: bytes, mtype: int, timeout: float) -> None:
    check_range("--type", mtype, 1, LONG_MAX)
    msqid, _row = _sysv_lookup(Kind.SYSV_MSG, ident)
    name = object_name(Kind.SYSV_MSG, ident)
    msgmax = kernel_limit("msgmax")
    if msgmax is not None and len(data) > msgmax:
        raise UsageError(f"message too long: {len(data)} bytes, kernel.msgmax is {msgmax}")
    ds = _msq_stat(msqid, name)
    if len(data) > ds.qbytes:
        raise UsageError(f"message too long: {len(data)} bytes, {name} holds at most "
                         f"{ds.qbytes} bytes")
    buf = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + len(data))
    ctypes.c_long.from_buffer(buf).value = mtype
    ctypes.memmove(ctypes.addressof(buf) + ctypes.sizeof(ctypes.c_long), data, len(data))
    deadline = Deadline(timeout)
    libc = _libc()
    while True:
        if libc.msgsnd(msqid, buf, len(data), IPC_NOWAIT) == 0:
            return
        err = _errno()
        if err == errno.EINTR:
            continue
        if err != errno.EAGAIN:
            raise _fail(err, "send to", name)
        if not deadline.wait():
            ds = _msq_stat(msqid, name)
            raise IpcError(f"{name} is full ({plural(ds.qnum, 'message')}, {ds.cbytes} of "
                           f"{ds.qbytes} bytes){deadline.waited()}: nothing sent")


def _msg_buffer_size(qbytes: int) -> int:
    msgmax = kernel_limit("msgmax") or 8192
    return max(msgmax, min(qbytes, 16 * 1024 * 1024))


def receive(ident: str, mtype: int, timeout: float, peek: bool,
                  count: int) -> list[Message]:
    msqid, _row = _sysv_lookup(Kind.SYSV_MSG, ident)
    name = object_name(Kind.SYSV_MSG, ident)
    size = _msg_buffer_size(_msq_stat(msqid, name).qbytes)
    long_size = ctypes.sizeof(ctypes.c_long)
    buf = ctypes.create_string_buffer(long_size + size)
    libc = _libc()
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
        err = _errno()
        if err == errno.EINTR:
            continue
        if peek and err in (errno.ENOSYS, errno.EINVAL):
            raise IpcError("this kernel cannot peek at SysV messages (msgrcv MSG_COPY needs "
                           "CONFIG_CHECKPOINT_RESTORE)")
        if err == errno.E2BIG:
            raise IpcError(f"a message in {name} is larger than {size} bytes: not taken")
        if err != errno.ENOMSG:
            raise _fail(err, "receive from", name)
        if not deadline.wait():
            break
    return out


# --------------------------------------------------------------------------- shared memory


@contextmanager
def _shm_attached(shmid: int, name: str, readonly: bool) -> Iterator[int]:
    libc = _libc()
    addr = libc.shmat(shmid, None, SHM_RDONLY if readonly else 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise _fail(_errno(), "read" if readonly else "write", name)
    try:
        yield int(addr)
    finally:
        libc.shmdt(ctypes.c_void_p(addr))


def shm_size(ident: str) -> int:
    return _sysv_lookup(Kind.SYSV_SHM, ident)[1]["size"]


ATTACH_NOTE = ("attached read-only, which changes its lpid and atime/dtime (no attacher's "
               "mapping to read through)")

_last_attacher: dict[int, int] = {}
"""shmid -> the pid whose mapping was read last time: tried first, so the TUI's live view, which
reads every half second, does not look through every process each time."""


def _attachers(shmid: int, row: dict[str, int], proc: Path) -> Iterator[int]:
    """Pids that may have the segment attached: the one read through last time, the last
    attacher and the creator first (most often one of them still is), then every process."""
    seen: set[int] = set()
    for pid in (_last_attacher.get(shmid, 0), row.get("lpid", 0), row.get("cpid", 0)):
        if pid > 0 and pid not in seen:
            seen.add(pid)
            yield pid
    try:
        names = os.listdir(proc)
    except OSError:
        return
    for entry in names:
        if entry.isdigit() and int(entry) not in seen:
            yield int(entry)


def read_shm(ident: str, offset: int, length: int | None,
             proc: Path = Path("/proc")) -> ShmBytes:
    """Read through an existing attacher's mapping, which leaves the segment as it is; only when
    there is none, attach read-only (SHM_RDONLY) and detach at once, which changes its lpid,
    atime and dtime (evidence the leak rules use), and say so."""
    k = Kind.SYSV_SHM
    name = object_name(k, ident)
    shmid, row = _sysv_lookup(k, ident)
    size = row["size"]
    n = size - offset if length is None else length
    check_span(name, size, offset, n, "read")
    if n == 0:
        return ShmBytes(b"", "")
    found = (open_attached(shmid, _attachers(shmid, row, proc), proc)
             if row.get("nattch", 0) > 0 else None)
    if found is not None:
        fd, pid = found
        _last_attacher[shmid] = pid
        try:
            return ShmBytes(os.pread(fd, n, offset),
                            f"read through process {pid}'s mapping (not attached)")
        except OSError:
            pass  # detached meanwhile: attach after all
        finally:
            os.close(fd)
    with _shm_attached(shmid, name, readonly=True) as addr:
        return ShmBytes(ctypes.string_at(addr + offset, n), ATTACH_NOTE)


def write_shm(ident: str, data: bytes, offset: int) -> int:
    k = Kind.SYSV_SHM
    name = object_name(k, ident)
    shmid, row = _sysv_lookup(k, ident)
    check_span(name, row["size"], offset, len(data), "write")
    with _shm_attached(shmid, name, readonly=False) as addr:
        ctypes.memmove(addr + offset, data, len(data))
    return len(data)


# --------------------------------------------------------------------------- semaphores


def sem_values(ident: str) -> tuple[int, ...]:
    k = Kind.SYSV_SEM
    semid, row = _sysv_lookup(k, ident)
    nsems = row["nsems"]
    arr = (ctypes.c_ushort * nsems)()
    if _semctl(semid, 0, GETALL, arr) != 0:
        raise _fail(_errno(), "read", object_name(k, ident))
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
    semid, row = _sysv_lookup(k, ident)
    _sem_index(row, index, name)
    sop = _Sembuf(index, op, IPC_NOWAIT if wait == 0 else 0)
    ts = _Timespec(int(wait), int((wait - int(wait)) * 1e9))
    deadline = Deadline(wait)
    libc = _libc()
    while True:
        tsp = None if wait == 0 else ctypes.pointer(ts)
        if libc.semtimedop(semid, ctypes.byref(sop), 1, tsp) == 0:
            break
        err = _errno()
        if err == errno.EINTR:
            left = deadline.left()
            ts = _Timespec(int(left), int((left - int(left)) * 1e9))
            continue
        if err == errno.EAGAIN:
            current = _semctl(semid, index, GETVAL)
            need = "zero" if op == 0 else f"at least {-op}"
            raise IpcError(f"{name}[{index}] is {current}, op {op:+d} needs {need}"
                           f"{deadline.waited()}: nothing changed")
        if err == errno.ERANGE:
            raise UsageError(f"{name}[{index}] would exceed {SEMVMX}: nothing changed")
        if err == errno.EFBIG:
            raise UsageError(f"--index {index} is out of range for {name}")
        raise _fail(err, "change", name)
    value = _semctl(semid, index, GETVAL)
    if value < 0:
        raise _fail(_errno(), "read", name)
    return value


def sem_set(ident: str, value: int, index: int) -> int:
    k = Kind.SYSV_SEM
    name = object_name(k, ident)
    check_range("--set", value, 0, SEMVMX)
    semid, row = _sysv_lookup(k, ident)
    _sem_index(row, index, name)
    if _semctl(semid, index, SETVAL, ctypes.c_long(value)) != 0:
        raise _fail(_errno(), "set", name)
    return _semctl(semid, index, GETVAL)


# --------------------------------------------------------------------------- remove


def describe_removal(k: Kind, ident: str) -> str:
    if k is Kind.SYSV_SHM:
        _id, row = _sysv_lookup(k, ident)
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
        _id, row = _sysv_lookup(k, ident)
        if row["qnum"]:
            return (f"{plural(row['qnum'], 'message')} ({row['cbytes']} bytes) queued: "
                    "destroyed now with its messages")
        return "empty: destroyed now"
    semid, row = _sysv_lookup(k, ident)
    waiting = sum(max(0, _semctl(semid, i, GETNCNT)) + max(0, _semctl(semid, i, GETZCNT))
                  for i in range(row["nsems"]))
    if waiting:
        return (f"destroyed now; {n_processes(waiting)} waiting on it "
                "get an error (EIDRM)")
    return "no process waiting: destroyed now"


class Attached(safepath.InUse):
    """A SysV segment that processes have attached, not removed without an explicit choice."""


def _shm_stat(shmid: int, name: str) -> _ShmidDs:
    buf = _ShmidDs()
    if _libc().shmctl(shmid, IPC_STAT, ctypes.byref(buf)) != 0:
        raise _fail(_errno(), "look at", name)
    return buf


def _attached_error(name: str, nattch: int, only_if_unused: bool) -> Attached:
    if only_if_unused:
        return Attached(f"{name} is attached by {n_processes(nattch)}: not removed")
    return Attached(f"{name} is attached by {n_processes(nattch)}: removing it only marks it, "
                    "and it is destroyed when the last detaches; pass --force-attached to do "
                    "that (nothing changed)")


def refuse_attached(ident: str) -> None:
    """Raise :class:`Attached` if processes have the segment attached."""
    name = object_name(Kind.SYSV_SHM, ident)
    nattch = _shm_stat(parse_sysv_id(Kind.SYSV_SHM, ident), name).nattch
    if nattch:
        raise _attached_error(name, nattch, False)


def _remove_shm(shmid: int, name: str, only_if_unused: bool, force_attached: bool) -> None:
    """IPC_RMID, refused while processes are attached unless ``force_attached``.

    With ``only_if_unused`` (reclaim) the segment's mode is first set to 0 (IPC_SET), so no new
    shmat can succeed except with CAP_IPC_OWNER; then IPC_STAT says whether anyone is attached,
    and IPC_RMID follows at once, or the mode is put back. Without it, IPC_STAT right before
    IPC_RMID leaves a window of microseconds in which a process may attach.
    """
    libc = _libc()
    ds = _shm_stat(shmid, name)
    if ds.nattch and not force_attached:
        raise _attached_error(name, ds.nattch, only_if_unused)
    if only_if_unused:
        mode = ds.perm.mode
        ds.perm.mode = mode & ~0o777
        if libc.shmctl(shmid, IPC_SET, ctypes.byref(ds)) != 0:
            raise _fail(_errno(), "remove", name)
        now = _shm_stat(shmid, name)
        if now.nattch:
            ds.perm.mode = mode
            libc.shmctl(shmid, IPC_SET, ctypes.byref(ds))
            raise _attached_error(name, now.nattch, only_if_unused)
    if libc.shmctl(shmid, IPC_RMID, None) != 0:
        raise _fail(_errno(), "remove", name)


def remove(k: Kind, ident: str, *, only_if_unused: bool = False,
           force_attached: bool = False) -> None:
    """IPC_RMID. A shared memory segment with attachers is refused (:class:`Attached`) unless
    ``force_attached`` (and always with ``only_if_unused``)."""
    name = object_name(k, ident)
    sysv_id = parse_sysv_id(k, ident)
    libc = _libc()
    if k is Kind.SYSV_SHM:
        _remove_shm(sysv_id, name, only_if_unused, force_attached and not only_if_unused)
        return
    if k is Kind.SYSV_MSG:
        rc = libc.msgctl(sysv_id, IPC_RMID, None)
    else:
        rc = _semctl(sysv_id, 0, IPC_RMID)
    if rc != 0:
        raise _fail(_errno(), "remove", name)
