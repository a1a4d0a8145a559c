"""Acting on IPC objects: create, send, receive, peek, read, write, semaphore ops, remove.

One function per action, shared by the command line and the TUI, so each action is written once.
Every function validates its input before it touches anything and raises an :class:`IpcError`
subclass with one line fit for a user; nothing here prints or imports Textual.

Why ctypes for SysV: ``sysv_ipc`` opens objects by key only (an IPC_PRIVATE object cannot be
reopened), its ``SharedMemory`` attaches on construction, its semaphore timeouts do not work, and it
has no MSG_COPY. The SysV calls are small, so they are made directly on SysV ids. POSIX objects go
through ``posix_ipc`` (imported lazily, so ``ipctop snapshot`` starts fast).

Nothing here ever blocks without a deadline: queues and semaphores are used with IPC_NOWAIT and a
polling loop, ``semtimedop``, or ``posix_ipc``'s timeouts; FIFOs are opened O_NONBLOCK and waited on
with ``select``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ipctop.collect.common import load_libc
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.fmt import human_bytes
from ipctop.model import Kind, parse_kind

PROC_SYS = Path("/proc/sys")
SYSVIPC = Path("/proc/sysvipc")
DEV_SHM = Path("/dev/shm")

ACTION_KINDS = (
    Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM,
    Kind.POSIX_SHM, Kind.POSIX_MQ, Kind.POSIX_SEM, Kind.FIFO,
)
"""The kinds ipctop can act on (pipes, sockets and mappings belong to their processes)."""

SHM_KINDS = (Kind.SYSV_SHM, Kind.POSIX_SHM)
QUEUE_KINDS = (Kind.SYSV_MSG, Kind.POSIX_MQ, Kind.FIFO)
SEM_KINDS = (Kind.SYSV_SEM, Kind.POSIX_SEM)

# <sys/ipc.h>, <sys/shm.h>, <sys/msg.h>, <sys/sem.h> on Linux
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000
IPC_RMID = 0
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
SEMVMX = 32767
"""Largest SysV semaphore value."""
POSIX_SEM_VALUE_MAX = 2**31 - 1
MQ_PRIO_MAX = 32767
NAME_MAX = 255
LONG_MAX = 2**63 - 1

_POLL_START = 0.002
_POLL_MAX = 0.05


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Created:
    """What ``create`` made (or found, without ``exclusive``)."""

    kind: Kind
    id: str
    """The SysV id, the POSIX "/name" or the FIFO's absolute path: what other commands take."""
    key: str | None = None
    """SysV key as "0x%08x"; None for other kinds."""
    created: bool = True
    """False when an object with that key or name already existed and was opened instead."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "id": self.id, "key": self.key, "created": self.created}


@dataclass(frozen=True, slots=True)
class Message:
    """One message taken from (or peeked at in) a queue or FIFO."""

    data: bytes
    type: int
    """SysV message type, POSIX mq priority, 0 for a FIFO."""


# --------------------------------------------------------------------------- names and input


def kind_name(kind: Kind) -> str:
    """The command-line spelling: "sysv-shm"."""
    return kind.value.replace("_", "-")


def object_name(kind: Kind, ident: str) -> str:
    """How messages name an object: "sysv-shm 32768", "posix-mq /jobs"."""
    return f"{kind_name(kind)} {ident}"


def _names(kinds: tuple[Kind, ...]) -> str:
    names = [kind_name(k) for k in kinds]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def as_kind(kind: Kind | str) -> Kind:
    """A Kind, or the text of one ("sysv-shm", "sysv_shm"); UsageError when unknown."""
    if isinstance(kind, Kind):
        return kind
    try:
        return parse_kind(kind)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _require_kind(kind: Kind | str, allowed: tuple[Kind, ...], verb: str) -> Kind:
    k = as_kind(kind)
    if k not in allowed:
        raise UsageError(f"cannot {verb} a {kind_name(k)}: {verb} works on {_names(allowed)}")
    return k


def parse_key(text: str) -> int:
    """A SysV key: "0x1234abcd", "4660" or "private" -> int (IPC_PRIVATE is 0)."""
    t = text.strip().lower()
    if t in ("private", "ipc_private"):
        return IPC_PRIVATE
    try:
        value = int(t, 16) if t.startswith(("0x", "-0x")) else int(t, 10)
    except ValueError:
        raise UsageError(
            f"not a SysV key: {text!r} (a number like 0x1234abcd or 4660, or `private`)"
        ) from None
    if not -(2**31) <= value <= 0xFFFFFFFF:
        raise UsageError(f"SysV key out of range: {text!r} (keys are 32 bits)")
    return value & 0xFFFFFFFF


def parse_sysv_id(kind: Kind, ident: str) -> int:
    t = ident.strip()
    if not t.isdigit() or int(t) > 2**31 - 1:
        raise UsageError(
            f"not a {kind_name(kind)} id: {ident!r} (a number like 32768; see `ipctop snapshot`)"
        )
    return int(t)


def validate_posix_name(kind: Kind, name: str) -> str:
    """"/name": a leading slash, no other slash, at most NAME_MAX bytes (251 for semaphores)."""
    label = kind_name(kind)
    if not name.startswith("/"):
        raise UsageError(f"a {label} name starts with '/': {name!r} (like /myname)")
    rest = name[1:]
    if not rest:
        raise UsageError(f"a {label} name needs characters after the '/'")
    if "/" in rest:
        raise UsageError(f"a {label} name has no '/' after the first: {name!r}")
    if "\0" in rest:
        raise UsageError(f"a {label} name cannot contain a NUL byte")
    if rest in (".", ".."):
        raise UsageError(f"not a valid {label} name: {name!r}")
    limit = NAME_MAX - 4 if kind is Kind.POSIX_SEM else NAME_MAX  # sem.NAME in /dev/shm
    if len(os.fsencode(rest)) > limit:
        raise UsageError(f"{label} name too long: {len(os.fsencode(rest))} bytes (at most {limit})")
    return name


def parse_mode(text: str | int) -> int:
    """"0600" / "600" / 0o600 -> 0o600; permission bits only."""
    if isinstance(text, int):
        value = text
    else:
        try:
            value = int(text.strip(), 8)
        except ValueError:
            raise UsageError(f"not an octal mode: {text!r} (like 0600)") from None
    if not 0 <= value <= 0o777:
        raise UsageError(f"mode out of range: {oct(value)} (permission bits, 0000 to 0777)")
    return value


def parse_hex(text: str) -> bytes:
    """"de ad be ef", "deadbeef" or "0xdeadbeef" -> bytes."""
    t = text.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise UsageError(f"not hex bytes: {text!r} (like 'de ad be ef')") from None


def _check_timeout(timeout: float) -> float:
    if not timeout >= 0 or timeout == float("inf"):
        raise UsageError(f"timeout must be a finite number of seconds >= 0: {timeout!r}")
    return float(timeout)


def _check_range(what: str, value: int, low: int, high: int | None, hint: str = "") -> int:
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{what} must be {bound}: got {value}{hint}")
    return value


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# --------------------------------------------------------------------------- kernel limits


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kernel_limit(name: str) -> int | None:
    """One limit from /proc/sys: shmmax, msgmax, msgmnb, semmsl, semopm, mq_msg_max,
    mq_msgsize_max, mq_msg_default, mq_msgsize_default. None when unreadable."""
    if name in ("shmmax", "msgmax", "msgmnb"):
        return _read_int(PROC_SYS / "kernel" / name)
    if name in ("semmsl", "semopm"):
        try:
            fields = (PROC_SYS / "kernel" / "sem").read_text().split()
            return int(fields[0 if name == "semmsl" else 2])
        except (OSError, ValueError, IndexError):
            return None
    if name.startswith("mq_"):
        return _read_int(PROC_SYS / "fs" / "mqueue" / name[3:])
    raise ValueError(f"unknown limit {name!r}")


def devshm_capacity() -> int | None:
    try:
        st = os.statvfs(DEV_SHM)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


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


# --------------------------------------------------------------------------- POSIX helpers


@contextmanager
def _umask(mask: int = 0) -> Iterator[None]:
    """Create with exactly the mode asked for (shm_open, mq_open and mkfifo apply the umask)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _posix_error(err: Exception, what: str, name: str) -> IpcError:
    import posix_ipc

    if isinstance(err, posix_ipc.ExistentialError):
        return NotFound(f"{name} does not exist (see `ipctop snapshot`)")
    if isinstance(err, posix_ipc.PermissionsError | PermissionError):
        return IpcError(f"permission denied: cannot {what} {name}")
    return IpcError(f"cannot {what} {name}: {err}")


@contextmanager
def _posix_open(kind: Kind, name: str, what: str, **kwargs: Any) -> Iterator[Any]:
    """Open an existing POSIX object (never create), closing it afterwards."""
    import posix_ipc

    validate_posix_name(kind, name)
    cls = {Kind.POSIX_SHM: posix_ipc.SharedMemory, Kind.POSIX_MQ: posix_ipc.MessageQueue,
           Kind.POSIX_SEM: posix_ipc.Semaphore}[kind]
    label = object_name(kind, name)
    try:
        obj = cls(name, 0, **kwargs)
    except (posix_ipc.Error, OSError) as err:
        raise _posix_error(err, what, label) from None
    try:
        yield obj
    finally:
        if kind is Kind.POSIX_SHM:
            obj.close_fd()
        else:
            obj.close()


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


class _Deadline:
    """Time left until a deadline, and a polling sleep that backs off to 50 ms."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout
        self._step = _POLL_START

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def wait(self) -> bool:
        """Sleep a little; False when the deadline has passed."""
        left = self.left()
        if left <= 0:
            return False
        time.sleep(min(self._step, left))
        self._step = min(self._step * 2, _POLL_MAX)
        return True

    def waited(self) -> str:
        return f" after waiting {self.timeout:g}s" if self.timeout else ""


# --------------------------------------------------------------------------- create


_CREATE_OPTIONS: dict[Kind, frozenset[str]] = {
    Kind.SYSV_SHM: frozenset({"size"}),
    Kind.SYSV_MSG: frozenset(),
    Kind.SYSV_SEM: frozenset({"nsems", "value"}),
    Kind.POSIX_SHM: frozenset({"size"}),
    Kind.POSIX_MQ: frozenset({"maxmsg", "msgsize"}),
    Kind.POSIX_SEM: frozenset({"value"}),
    Kind.FIFO: frozenset(),
}


def create(
    kind: Kind | str,
    name_or_key: str,
    *,
    size: int | None = None,
    mode: int | str = 0o600,
    maxmsg: int | None = None,
    msgsize: int | None = None,
    nsems: int | None = None,
    value: int | None = None,
    exclusive: bool = False,
) -> Created:
    """Create an object: SysV takes a key (or "private"), POSIX a "/name", a FIFO a path.

    Without ``exclusive`` an existing object with that key/name is opened as it is (``created``
    is False); with it, that is an error. A create that fails half-way removes what it made.
    """
    k = _require_kind(kind, ACTION_KINDS, "create")
    given = {"size": size, "maxmsg": maxmsg, "msgsize": msgsize, "nsems": nsems, "value": value}
    for opt, val in given.items():
        if val is not None and opt not in _CREATE_OPTIONS[k]:
            allowed = ", ".join(f"--{o}" for o in sorted(_CREATE_OPTIONS[k])) or "none"
            raise UsageError(f"--{opt} does not apply to {kind_name(k)} (options: {allowed})")
    perms = parse_mode(mode)
    if k in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
        return _create_sysv(k, parse_key(name_or_key), perms, size, nsems, value, exclusive)
    if k is Kind.FIFO:
        return _create_fifo(name_or_key, perms, exclusive)
    return _create_posix(k, validate_posix_name(k, name_or_key), perms, size, maxmsg, msgsize,
                         value, exclusive)


def _check_size(size: int | None, kind: Kind, limit: int | None, limit_name: str) -> int:
    if size is None:
        raise UsageError(f"--size is required for {kind_name(kind)} (bytes, like 4096 or 1M)")
    if size <= 0:
        raise UsageError(f"size must be greater than 0: got {size}")
    if limit is not None and size > limit:
        raise UsageError(f"size {size} is above {limit_name} ({limit} bytes)")
    return size


def _create_sysv(kind: Kind, key: int, perms: int, size: int | None, nsems: int | None,
                 value: int | None, exclusive: bool) -> Created:
    libc = _libc()
    label = kind_name(kind)
    if kind is Kind.SYSV_SHM:
        nbytes = _check_size(size, kind, kernel_limit("shmmax"), "kernel.shmmax")
        get: Callable[[int, int], int] = lambda k, flags: libc.shmget(k, nbytes, flags)  # noqa: E731
        reopen: Callable[[int], int] = lambda k: libc.shmget(k, 0, 0)  # noqa: E731
    elif kind is Kind.SYSV_MSG:
        get = lambda k, flags: libc.msgget(k, flags)  # noqa: E731
        reopen = lambda k: libc.msgget(k, 0)  # noqa: E731
    else:
        count = _check_range("--nsems", 1 if nsems is None else nsems, 1, kernel_limit("semmsl"),
                             " (kernel.sem SEMMSL)")
        initial = _check_range("--value", 0 if value is None else value, 0, SEMVMX)
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
            return Created(kind, str(old_id), key_text, created=False)
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


def _create_posix(kind: Kind, name: str, perms: int, size: int | None, maxmsg: int | None,
                  msgsize: int | None, value: int | None, exclusive: bool) -> Created:
    import posix_ipc

    label = object_name(kind, name)
    kwargs: dict[str, Any] = {}
    if kind is Kind.POSIX_SHM:
        nbytes = _check_size(size, kind, devshm_capacity(), "the size of /dev/shm")
    elif kind is Kind.POSIX_MQ:
        default_n = kernel_limit("mq_msg_default") or 10
        default_size = kernel_limit("mq_msgsize_default") or 8192
        kwargs["max_messages"] = _check_range(
            "--maxmsg", default_n if maxmsg is None else maxmsg, 1, kernel_limit("mq_msg_max"),
            " (fs.mqueue.msg_max)")
        kwargs["max_message_size"] = _check_range(
            "--msgsize", default_size if msgsize is None else msgsize, 1,
            kernel_limit("mq_msgsize_max"), " (fs.mqueue.msgsize_max)")
    else:
        kwargs["initial_value"] = _check_range("--value", 0 if value is None else value, 0,
                                               POSIX_SEM_VALUE_MAX)
    cls = {Kind.POSIX_SHM: posix_ipc.SharedMemory, Kind.POSIX_MQ: posix_ipc.MessageQueue,
           Kind.POSIX_SEM: posix_ipc.Semaphore}[kind]
    try:
        with _umask():
            obj = cls(name, posix_ipc.O_CREX, perms, **kwargs)
    except posix_ipc.ExistentialError:
        if exclusive:
            raise UsageError(f"{label} already exists") from None
        with _posix_open(kind, name, "open"):
            pass
        return Created(kind, name, created=False)
    except (posix_ipc.Error, OSError, ValueError) as err:
        if isinstance(err, posix_ipc.PermissionsError | PermissionError):
            raise IpcError(f"permission denied: cannot create {label}") from None
        text = str(err)
        if kind is Kind.POSIX_MQ and ("maximum number of files" in text or
                                      getattr(err, "errno", None) == errno.EMFILE):
            raise IpcError(f"cannot create {label}: its {kwargs['max_messages']} x "
                           f"{kwargs['max_message_size']} bytes would pass this user's "
                           f"RLIMIT_MSGQUEUE ({_mq_rlimit()}, see `ulimit -q`) together with "
                           "the user's other queues") from None
        if getattr(err, "errno", None) == errno.ENOSPC or "No space" in text:
            raise IpcError(f"cannot create {label}: the kernel's limit on objects is reached "
                           "(fs.mqueue.queues_max for queues)") from None
        raise IpcError(f"cannot create {label}: {text}") from None
    try:
        if kind is Kind.POSIX_SHM:
            os.ftruncate(obj.fd, nbytes)
    except OSError as err:
        obj.close_fd()
        posix_ipc.unlink_shared_memory(name)  # leave nothing behind
        raise IpcError(f"cannot size {label} to {nbytes} bytes: {err.strerror}") from None
    if kind is Kind.POSIX_SHM:
        obj.close_fd()
    else:
        obj.close()
    return Created(kind, name, created=True)


def _mq_rlimit() -> str:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft} bytes"


def _create_fifo(path: str, perms: int, exclusive: bool) -> Created:
    full = _fifo_path(path, must_exist=False)
    try:
        with _umask():
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


# --------------------------------------------------------------------------- send


def send(
    kind: Kind | str,
    ident: str,
    data: bytes,
    *,
    mtype: int | None = None,
    priority: int | None = None,
    timeout: float = 0.0,
) -> None:
    """Queue one message. ``timeout`` 0 means do not wait when the queue is full (or, for a FIFO,
    has no reader or no room); otherwise wait at most that many seconds."""
    k = _require_kind(kind, QUEUE_KINDS, "send to")
    wait = _check_timeout(timeout)
    if mtype is not None and k is not Kind.SYSV_MSG:
        raise UsageError(f"--type applies to sysv-msg only, not {kind_name(k)}")
    if priority is not None and k is not Kind.POSIX_MQ:
        raise UsageError(f"--priority applies to posix-mq only, not {kind_name(k)}")
    if k is Kind.SYSV_MSG:
        _send_sysv(ident, data, 1 if mtype is None else mtype, wait)
    elif k is Kind.POSIX_MQ:
        _send_mq(ident, data, 0 if priority is None else priority, wait)
    else:
        _send_fifo(ident, data, wait)


def _send_sysv(ident: str, data: bytes, mtype: int, timeout: float) -> None:
    _check_range("--type", mtype, 1, LONG_MAX)
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
    deadline = _Deadline(timeout)
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
            raise IpcError(f"{name} is full ({_plural(ds.qnum, 'message')}, {ds.cbytes} of "
                           f"{ds.qbytes} bytes){deadline.waited()}: nothing sent")


def _send_mq(name: str, data: bytes, priority: int, timeout: float) -> None:
    import posix_ipc

    _check_range("--priority", priority, 0, MQ_PRIO_MAX)
    label = object_name(Kind.POSIX_MQ, name)
    with _posix_open(Kind.POSIX_MQ, name, "send to", read=False, write=True) as mq:
        if len(data) > mq.max_message_size:
            raise UsageError(f"message too long: {len(data)} bytes, {label} takes at most "
                             f"{mq.max_message_size}")
        try:
            mq.send(data, timeout=timeout, priority=priority)
        except posix_ipc.BusyError:
            waited = f" after waiting {timeout:g}s" if timeout else ""
            raise IpcError(f"{label} is full ({mq.current_messages} of {mq.max_messages} "
                           f"messages){waited}: nothing sent") from None
        except (posix_ipc.Error, OSError) as err:
            raise _posix_error(err, "send to", label) from None


def _send_fifo(path: str, data: bytes, timeout: float) -> None:
    full = _fifo_path(path)
    deadline = _Deadline(timeout)
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


# --------------------------------------------------------------------------- receive


def receive(
    kind: Kind | str,
    ident: str,
    *,
    mtype: int | None = None,
    timeout: float = 0.0,
    peek: bool = False,
    count: int = 1,
) -> list[Message]:
    """Take up to ``count`` messages, waiting at most ``timeout`` seconds in all.

    An empty list means nothing arrived in time. ``peek`` (SysV only) copies messages by position
    without taking them (msgrcv MSG_COPY); ``mtype`` filters SysV messages like msgrcv's msgtyp.
    """
    k = _require_kind(kind, QUEUE_KINDS, "receive from")
    wait = _check_timeout(timeout)
    _check_range("--count", count, 1, None)
    if mtype is not None and k is not Kind.SYSV_MSG:
        raise UsageError(f"--type applies to sysv-msg only, not {kind_name(k)}")
    if peek and k is Kind.POSIX_MQ:
        raise UsageError("a posix-mq cannot be peeked: the kernel has no way to read a POSIX "
                         "message without taking it off the queue")
    if peek and k is Kind.FIFO:
        raise UsageError("a FIFO cannot be peeked: reading takes the bytes out of the pipe")
    if k is Kind.SYSV_MSG:
        if peek and mtype is not None:
            raise UsageError("--type cannot be combined with --peek (peek reads by position)")
        return _receive_sysv(ident, mtype or 0, wait, peek, count)
    if k is Kind.POSIX_MQ:
        return _receive_mq(ident, wait, count)
    return _receive_fifo(ident, wait, count)


def _msg_buffer_size(qbytes: int) -> int:
    msgmax = kernel_limit("msgmax") or 8192
    return max(msgmax, min(qbytes, 16 * 1024 * 1024))


def _receive_sysv(ident: str, mtype: int, timeout: float, peek: bool,
                  count: int) -> list[Message]:
    msqid, _row = _sysv_lookup(Kind.SYSV_MSG, ident)
    name = object_name(Kind.SYSV_MSG, ident)
    size = _msg_buffer_size(_msq_stat(msqid, name).qbytes)
    long_size = ctypes.sizeof(ctypes.c_long)
    buf = ctypes.create_string_buffer(long_size + size)
    libc = _libc()
    deadline = _Deadline(timeout)
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


def _receive_mq(name: str, timeout: float, count: int) -> list[Message]:
    import posix_ipc

    label = object_name(Kind.POSIX_MQ, name)
    deadline = _Deadline(timeout)
    out: list[Message] = []
    with _posix_open(Kind.POSIX_MQ, name, "receive from", read=True, write=False) as mq:
        while len(out) < count:
            try:
                data, prio = mq.receive(timeout=deadline.left())
            except posix_ipc.BusyError:
                break
            except posix_ipc.SignalError:
                continue
            except (posix_ipc.Error, OSError) as err:
                raise _posix_error(err, "receive from", label) from None
            out.append(Message(bytes(data), int(prio)))
    return out


def _receive_fifo(path: str, timeout: float, count: int) -> list[Message]:
    full = _fifo_path(path)
    # O_RDWR: we also count as a writer, so select waits for data instead of reporting EOF
    # while no writer has the FIFO open (Linux defines O_RDWR on a FIFO).
    try:
        fd = os.open(full, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise _fifo_error(err, "read from", full, doing="open") from None
    deadline = _Deadline(timeout)
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


# --------------------------------------------------------------------------- shared memory


def shm_size(kind: Kind | str, ident: str) -> int:
    """Bytes in a shared memory object (without attaching to it)."""
    k = _require_kind(kind, SHM_KINDS, "read")
    if k is Kind.SYSV_SHM:
        return _sysv_lookup(k, ident)[1]["size"]
    with _posix_open(k, ident, "read", read_only=True) as shm:
        return os.fstat(shm.fd).st_size


def _check_span(name: str, size: int, offset: int, length: int, verb: str) -> None:
    if offset < 0:
        raise UsageError(f"offset must not be negative: got {offset}")
    if offset > size:
        raise UsageError(f"offset {offset} is past the end of {name}: it has {size} bytes")
    if length < 0:
        raise UsageError(f"length must not be negative: got {length}")
    if offset + length > size:
        raise UsageError(f"cannot {verb} bytes {offset}..{offset + length} of {name}: it has "
                         f"{size} bytes")


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


def read_shm(kind: Kind | str, ident: str, offset: int = 0, length: int | None = None) -> bytes:
    """Bytes of a shared memory object; ``length`` None reads to the end.

    SysV is attached read-only (SHM_RDONLY) and detached at once; POSIX is read with pread, which
    cannot fault the way a mapping does if someone shrinks the object meanwhile.
    """
    k = _require_kind(kind, SHM_KINDS, "read")
    name = object_name(k, ident)
    if k is Kind.SYSV_SHM:
        shmid, row = _sysv_lookup(k, ident)
        size = row["size"]
        n = size - offset if length is None else length
        _check_span(name, size, offset, n, "read")
        if n == 0:
            return b""
        with _shm_attached(shmid, name, readonly=True) as addr:
            return ctypes.string_at(addr + offset, n)
    with _posix_open(k, ident, "read", read_only=True) as shm:
        size = os.fstat(shm.fd).st_size
        n = size - offset if length is None else length
        _check_span(name, size, offset, n, "read")
        return os.pread(shm.fd, n, offset) if n else b""


def write_shm(kind: Kind | str, ident: str, data: bytes, offset: int = 0) -> int:
    """Write ``data`` at ``offset`` inside the object, never past its end; returns the count."""
    k = _require_kind(kind, SHM_KINDS, "write")
    name = object_name(k, ident)
    if not data:
        raise UsageError("nothing to write: DATA is empty")
    if k is Kind.SYSV_SHM:
        shmid, row = _sysv_lookup(k, ident)
        _check_span(name, row["size"], offset, len(data), "write")
        with _shm_attached(shmid, name, readonly=False) as addr:
            ctypes.memmove(addr + offset, data, len(data))
        return len(data)
    with _posix_open(k, ident, "write") as shm:
        _check_span(name, os.fstat(shm.fd).st_size, offset, len(data), "write")
        try:
            return os.pwrite(shm.fd, data, offset)
        except OSError as err:
            raise IpcError(f"cannot write {name}: {err.strerror}") from None


# --------------------------------------------------------------------------- semaphores


def sem_values(kind: Kind | str, ident: str) -> tuple[int, ...]:
    """Every value of a semaphore set (one for POSIX)."""
    k = _require_kind(kind, SEM_KINDS, "read")
    if k is Kind.POSIX_SEM:
        with _posix_open(k, ident, "read") as sem:
            return (int(sem.value),)
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
                         f"{_plural(nsems, 'semaphore')} (0 to {nsems - 1})")
    return index


def sem_op(kind: Kind | str, ident: str, op: int, *, index: int = 0,
           timeout: float = 0.0) -> int:
    """Add ``op`` to a semaphore (P when negative, V when positive; SysV 0 waits for zero).

    Waits at most ``timeout`` seconds for the operation to become possible; returns the new value.
    """
    k = _require_kind(kind, SEM_KINDS, "change")
    wait = _check_timeout(timeout)
    name = object_name(k, ident)
    if k is Kind.POSIX_SEM:
        return _posix_sem_op(ident, op, index, wait)
    _check_range("--op", op, -32768, 32767)
    semid, row = _sysv_lookup(k, ident)
    _sem_index(row, index, name)
    sop = _Sembuf(index, op, IPC_NOWAIT if wait == 0 else 0)
    ts = _Timespec(int(wait), int((wait - int(wait)) * 1e9))
    deadline = _Deadline(wait)
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


def _posix_sem_op(name: str, op: int, index: int, timeout: float) -> int:
    import posix_ipc

    label = object_name(Kind.POSIX_SEM, name)
    if index != 0:
        raise UsageError(f"--index applies to sysv-sem sets; {label} is one semaphore")
    if op == 0:
        raise UsageError("POSIX semaphores cannot wait for zero: --op must not be 0")
    _check_range("--op", op, -POSIX_SEM_VALUE_MAX, POSIX_SEM_VALUE_MAX)
    with _posix_open(Kind.POSIX_SEM, name, "change") as sem:
        if op > 0:
            if sem.value + op > POSIX_SEM_VALUE_MAX:
                raise UsageError(f"{label} would exceed {POSIX_SEM_VALUE_MAX}: nothing changed")
            for _ in range(op):
                sem.release()
            return int(sem.value)
        deadline = _Deadline(timeout)
        taken = 0
        try:
            while taken < -op:
                sem.acquire(deadline.left())
                taken += 1
        except posix_ipc.BusyError:
            for _ in range(taken):  # all or nothing, like semop
                sem.release()
            raise IpcError(f"{label} is {sem.value}, op {op:+d} needs at least {-op}"
                           f"{deadline.waited()}: nothing changed") from None
        except (posix_ipc.Error, OSError) as err:
            for _ in range(taken):
                sem.release()
            raise _posix_error(err, "change", label) from None
        return int(sem.value)


def sem_set(kind: Kind | str, ident: str, value: int, *, index: int = 0) -> int:
    """Set a semaphore to ``value`` (SysV SETVAL; POSIX by taking or posting); returns it."""
    k = _require_kind(kind, SEM_KINDS, "set")
    name = object_name(k, ident)
    if k is Kind.POSIX_SEM:
        import posix_ipc

        if index != 0:
            raise UsageError(f"--index applies to sysv-sem sets; {name} is one semaphore")
        _check_range("--set", value, 0, POSIX_SEM_VALUE_MAX)
        with _posix_open(k, ident, "set") as sem:
            try:
                while sem.value > value:
                    sem.acquire(0)
            except posix_ipc.BusyError:
                pass  # someone else took it meanwhile: fine, we go on posting up to value
            while sem.value < value:
                sem.release()
            return int(sem.value)
    _check_range("--set", value, 0, SEMVMX)
    semid, row = _sysv_lookup(k, ident)
    _sem_index(row, index, name)
    if _semctl(semid, index, SETVAL, ctypes.c_long(value)) != 0:
        raise _fail(_errno(), "set", name)
    return _semctl(semid, index, GETVAL)


# --------------------------------------------------------------------------- remove


_NOT_REMOVABLE = {
    Kind.PIPE: "a pipe goes away when the last process closes it",
    Kind.UNIX_SOCKET: "a socket belongs to the processes that hold it",
    Kind.SHARED_MAPPING: "a mapped file is not an IPC object ipctop removes",
}


def _removable(kind: Kind | str) -> Kind:
    k = as_kind(kind)
    if k in _NOT_REMOVABLE:
        raise UsageError(f"cannot remove a {kind_name(k)}: {_NOT_REMOVABLE[k]}")
    return k


def _holders(kind: Kind, ident: str) -> int | None:
    """How many processes hold a POSIX object or FIFO, from a snapshot; None if unknown."""
    try:
        from ipctop.snapshot import take
    except ImportError:
        return None
    try:
        snap = take(kinds={kind})
    except Exception:  # a failed scan must not stop a removal; the count is advisory
        return None
    for obj in snap.objects:
        if obj.kind is kind and obj.id == ident:
            return len(obj.pids)
    return 0


def _processes(n: int) -> str:
    return _plural(n, "process", "processes")


def describe_removal(kind: Kind | str, ident: str, *, holders: int | None = None) -> str:
    """The consequence of removing the object, one line, without removing anything.

    For POSIX objects and FIFOs the processes holding it are counted from a fresh snapshot, unless
    the caller already knows (``holders``, e.g. the TUI from its latest snapshot).
    """
    k = _removable(kind)
    if k is Kind.SYSV_SHM:
        _id, row = _sysv_lookup(k, ident)
        nattch, size = row["nattch"], row["size"]
        dest = bool(row["perms"] & 0o1000)
        if dest:
            return (f"already marked for removal; attached by {_processes(nattch)}: destroyed "
                    "when the last detaches")
        if nattch:
            return f"attached by {_processes(nattch)}: destroyed when the last detaches"
        return f"no process attached: destroyed now, {human_bytes(size)} freed"
    if k is Kind.SYSV_MSG:
        _id, row = _sysv_lookup(k, ident)
        if row["qnum"]:
            return (f"{_plural(row['qnum'], 'message')} ({row['cbytes']} bytes) queued: "
                    "destroyed now with its messages")
        return "empty: destroyed now"
    if k is Kind.SYSV_SEM:
        semid, row = _sysv_lookup(k, ident)
        waiting = sum(max(0, _semctl(semid, i, GETNCNT)) + max(0, _semctl(semid, i, GETZCNT))
                      for i in range(row["nsems"]))
        if waiting:
            return (f"destroyed now; {_processes(waiting)} waiting on it "
                    "get an error (EIDRM)")
        return "no process waiting: destroyed now"
    if k is Kind.FIFO:
        full = _fifo_path(ident)
        n = _holders(k, os.path.realpath(full)) if holders is None else holders
        if n:
            return (f"open in {_processes(n)}: the path goes now, they keep the pipe until "
                    "they close it")
        return "the path goes now" + ("" if n == 0 else " (users unknown)")
    with _posix_open(k, ident, "look at", **({"read_only": True} if k is Kind.POSIX_SHM else {})
                     ) as obj:
        detail = ""
        if k is Kind.POSIX_MQ:
            queued = int(obj.current_messages)
            if queued:
                detail = f"{_plural(queued, 'message')} queued; "
        elif k is Kind.POSIX_SHM:
            detail = f"{human_bytes(os.fstat(obj.fd).st_size)}; "
    n = _holders(k, ident) if holders is None else holders
    if n is None:
        return f"{detail}the name goes now (users unknown)"
    if n:
        return (f"{detail}open in {_processes(n)}: the name goes now, the object when the last "
                "closes it")
    return f"{detail}no process has it open: destroyed now"


def remove(kind: Kind | str, ident: str, *, holders: int | None = None) -> str:
    """Remove exactly the one object named; returns what happened, one line.

    ``holders`` is passed to :func:`describe_removal` (the processes holding a POSIX object).
    """
    k = _removable(kind)
    consequence = describe_removal(k, ident, holders=holders)
    name = object_name(k, ident)
    if k in (Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM):
        sysv_id = parse_sysv_id(k, ident)
        libc = _libc()
        if k is Kind.SYSV_SHM:
            rc = libc.shmctl(sysv_id, IPC_RMID, None)
        elif k is Kind.SYSV_MSG:
            rc = libc.msgctl(sysv_id, IPC_RMID, None)
        else:
            rc = _semctl(sysv_id, 0, IPC_RMID)
        if rc != 0:
            raise _fail(_errno(), "remove", name)
    elif k is Kind.FIFO:
        full = _fifo_path(ident)
        name = object_name(k, full)
        try:
            os.unlink(full)
        except OSError as err:
            raise _fifo_error(err, "remove", full) from None
    else:
        import posix_ipc

        validate_posix_name(k, ident)
        unlink = {Kind.POSIX_SHM: posix_ipc.unlink_shared_memory,
                  Kind.POSIX_MQ: posix_ipc.unlink_message_queue,
                  Kind.POSIX_SEM: posix_ipc.unlink_semaphore}[k]
        try:
            unlink(ident)
        except (posix_ipc.Error, OSError) as err:
            raise _posix_error(err, "remove", name) from None
    return f"removed {name}: {consequence}"
