"""SysV IPC objects from /proc/sysvipc/{shm,msg,sem}, plus what only the syscalls tell.

/proc/sysvipc lists every segment, queue and semaphore array of the reader's IPC namespace,
readable by anyone, in one read per file. Two facts are missing there and come from the kernel
directly, through ctypes (no sysv_ipc import on the hot path, and no attach: sysv_ipc attaches a
segment on construction, which would change nattch and lpid):

* semaphore values and per-semaphore pid / ncnt / zcnt: ``semctl`` GETALL, GETPID, GETNCNT,
  GETZCNT;
* a message queue's capacity (``msg_qbytes``): ``msgctl(IPC_STAT)``.

Both need read permission on the object; without it the fields stay None. The columns are found
by the header line, so a kernel that adds or drops a column (older ones lack rss/swap) still parses.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ipctop.collect.common import PROC, load_libc, mode_str, user_name
from ipctop.errors import ParseError
from ipctop.kinds import SysvMsg, SysvSem, SysvShm
from ipctop.model import IpcObject, evolve

if TYPE_CHECKING:
    from ipctop.join import Join

SHM_DEST = 0o1000
SHM_LOCKED = 0o2000

IPC_STAT = 2
GETPID = 11
GETALL = 13
GETNCNT = 14
GETZCNT = 15

# glibc x86_64 layouts (checked against <sys/msg.h> and <sys/sem.h>, and by the tests against the
# kernel): struct msqid_ds is 120 bytes with msg_qbytes at 88; struct semid_ds is 104 bytes with
# sem_nsems at 80. The buffers are larger than needed so a bigger layout cannot overrun them.
_STAT_BUF = 256
_MSG_QBYTES_OFFSET = 88
_SEM_NSEMS_OFFSET = 80

_libc = load_libc()
_semctl = _libc.semctl
_semctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_semctl.restype = ctypes.c_int
_msgctl = _libc.msgctl
_msgctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_msgctl.restype = ctypes.c_int


def format_key(key: int) -> str:
    """The kernel prints keys signed; ipcs and ipctop show them as "0x%08x"."""
    return f"0x{key & 0xFFFFFFFF:08x}"


def _time(value: int) -> float | None:
    return float(value) if value else None


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, int]]:
    """Rows of a /proc/sysvipc table as {column: int}; perms parsed as octal.

    A missing or unreadable file (a kernel without SysV IPC) yields nothing; a malformed line
    raises ParseError naming the file and the line.
    """
    try:
        text = path.read_text()
    except (FileNotFoundError, PermissionError):
        return
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ParseError(path, 1, "missing header line")
    names = lines[0].split()
    missing = [c for c in required if c not in names]
    if missing:
        raise ParseError(path, 1, f"header lacks column(s): {', '.join(missing)}")
    bases = [8 if n == "perms" else 10 for n in names]
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names):
            raise ParseError(path, lineno, f"expected {len(names)} fields, got {len(fields)}")
        row: dict[str, int] = {}
        for name, base, field in zip(names, bases, fields, strict=True):
            try:
                row[name] = int(field, base)
            except ValueError:
                raise ParseError(path, lineno, f"{name}: not a number: {field!r}") from None
        yield row


_SHM_COLS = ("key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid",
             "atime", "dtime", "ctime")


def read_shm(proc: Path = PROC) -> list[SysvShm]:
    """Every SysV shared memory segment in /proc/sysvipc/shm."""
    out: list[SysvShm] = []
    for r in _rows(proc / "sysvipc" / "shm", _SHM_COLS):
        perms = r["perms"]
        rss = r.get("rss")
        swap = r.get("swap")
        out.append(SysvShm(
            id=str(r["shmid"]),
            key=format_key(r["key"]),
            owner=user_name(r["uid"]),
            uid=r["uid"],
            mode=mode_str(perms),
            size=r["size"],
            ctime=_time(r["ctime"]),
            nattch=r["nattch"],
            cpid=r["cpid"],
            lpid=r["lpid"],
            dest=bool(perms & SHM_DEST),
            locked=bool(perms & SHM_LOCKED),
            rss=rss,
            swap=swap,
            atime=_time(r["atime"]),
            dtime=_time(r["dtime"]),
        ))
    return out


_MSG_COLS = ("key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid",
             "stime", "rtime", "ctime")


def msg_qbytes(msqid: int) -> int | None:
    """The queue's capacity in bytes (msgctl IPC_STAT msg_qbytes); None without read access."""
    buf = ctypes.create_string_buffer(_STAT_BUF)
    if _msgctl(msqid, IPC_STAT, buf) != 0:
        return None
    return ctypes.c_ulong.from_buffer(buf, _MSG_QBYTES_OFFSET).value


def read_msg(proc: Path = PROC, *, live: bool = True) -> list[SysvMsg]:
    """Every SysV message queue in /proc/sysvipc/msg.

    ``size`` is the queue's capacity (msg_qbytes), which only msgctl tells: filled when ``live``
    and the queue is readable by us, else None. Pass ``live=False`` for a fixture tree.
    """
    out: list[SysvMsg] = []
    for r in _rows(proc / "sysvipc" / "msg", _MSG_COLS):
        msqid = r["msqid"]
        out.append(SysvMsg(
            id=str(msqid),
            key=format_key(r["key"]),
            owner=user_name(r["uid"]),
            uid=r["uid"],
            mode=mode_str(r["perms"]),
            size=msg_qbytes(msqid) if live else None,
            ctime=_time(r["ctime"]),
            messages=r["qnum"],
            bytes=r["cbytes"],
            lspid=r["lspid"],
            lrpid=r["lrpid"],
            stime=_time(r["stime"]),
            rtime=_time(r["rtime"]),
        ))
    return out


_SEM_COLS = ("key", "semid", "perms", "nsems", "uid", "otime", "ctime")

_SemLive = tuple[
    tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None
]


def _per_sem(semid: int, nsems: int, cmd: int) -> tuple[int, ...] | None:
    out: list[int] = []
    for i in range(nsems):
        value = _semctl(semid, i, cmd, None)
        if value < 0:
            return None
        out.append(value)
    return tuple(out)


def sem_state(semid: int, nsems: int) -> _SemLive:
    """(values, sempids, ncnt, zcnt) of an array via semctl; each None when it cannot be read.

    The array's size is checked with IPC_STAT first, so a stale id (removed, or a fixture's) can
    never make GETALL write past the buffer. EACCES, EINVAL and EIDRM all give None.
    """
    none: _SemLive = (None, None, None, None)
    if nsems <= 0:
        return none
    stat = ctypes.create_string_buffer(_STAT_BUF)
    if _semctl(semid, 0, IPC_STAT, ctypes.addressof(stat)) != 0:
        return none
    if ctypes.c_ulong.from_buffer(stat, _SEM_NSEMS_OFFSET).value != nsems:
        return none
    arr = (ctypes.c_ushort * nsems)()
    values: tuple[int, ...] | None = None
    if _semctl(semid, 0, GETALL, ctypes.addressof(arr)) == 0:
        values = tuple(arr)
    return (
        values,
        _per_sem(semid, nsems, GETPID),
        _per_sem(semid, nsems, GETNCNT),
        _per_sem(semid, nsems, GETZCNT),
    )


def read_sem(proc: Path = PROC, *, live: bool = True) -> list[SysvSem]:
    """Every SysV semaphore array in /proc/sysvipc/sem; with ``live``, values etc. via semctl."""
    out: list[SysvSem] = []
    for r in _rows(proc / "sysvipc" / "sem", _SEM_COLS):
        semid, nsems = r["semid"], r["nsems"]
        state: _SemLive = sem_state(semid, nsems) if live else (None, None, None, None)
        values, sempids, ncnt, zcnt = state
        out.append(SysvSem(
            id=str(semid),
            key=format_key(r["key"]),
            owner=user_name(r["uid"]),
            uid=r["uid"],
            mode=mode_str(r["perms"]),
            ctime=_time(r["ctime"]),
            nsems=nsems,
            values=values,
            sempids=sempids,
            ncnt=ncnt,
            zcnt=zcnt,
            otime=_time(r["otime"]),
        ))
    return out


# --------------------------------------------------------------------------- join


def join_shm(join: Join, shms: list[SysvShm]) -> list[IpcObject]:
    """Attachers of each segment: maps lines whose inode column is the shmid, from processes in
    the segment's IPC namespace only (shmids repeat across namespaces); and the creator's
    command."""
    own = join.own_ipc_ns
    return [
        evolve(s, users=join.map_users(join.maps_by_shmid.get(
                   (own if s.ipc_ns is None else s.ipc_ns, int(s.id)), ())),
               creator=_creator(join, s.cpid, s.ctime))
        for s in shms
    ]


def _creator(join: Join, pid: int, created: float | None) -> str | None:
    """The command of ``pid`` if it can be the object's creator: alive, and started before the
    object was created (a younger process only reuses the pid)."""
    p = join.scan.processes.get(pid)
    if p is None:
        return None
    if p.start_time is not None and created is not None and p.start_time > created + 1:
        return None
    return p.cmdline or p.comm
