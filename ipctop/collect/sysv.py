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
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ipctop.collect.common import PROC, RACY, load_libc, mode_str, recheck_at, user_name
from ipctop.errors import ParseError
from ipctop.kinds import SysvMsg, SysvSem, SysvShm
from ipctop.model import IpcObject, evolve

if TYPE_CHECKING:
    from ipctop.collect.poll_memo import PollMemo
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
    lines = _lines(path)
    if lines is None:
        return
    parse = _parser(path, lines, required)
    for lineno, line in enumerate(lines[1:], start=2):
        row = parse(line, lineno)
        if row is not None:
            yield row


def _lines(path: Path) -> list[bytes] | None:
    """The lines of a /proc/sysvipc table; None when it is missing or unreadable."""
    raw = _read(path)
    return None if raw is None else raw.splitlines()


def _parser(path: Path, lines: list[bytes], required: tuple[str, ...],
            ) -> Callable[[bytes, int], dict[str, int] | None]:
    """A parser of one row of ``path`` by its header line (the first of ``lines``)."""
    if not lines or not lines[0].strip():
        raise ParseError(path, 1, "missing header line")
    names = lines[0].decode("ascii", "replace").split()
    missing = [c for c in required if c not in names]
    if missing:
        raise ParseError(path, 1, f"header lacks column(s): {', '.join(missing)}")
    bases = [8 if n == "perms" else 10 for n in names]

    def parse(line: bytes, lineno: int) -> dict[str, int] | None:
        fields = line.split()
        if not fields:
            return None
        if len(fields) != len(names):
            raise ParseError(path, lineno, f"expected {len(names)} fields, got {len(fields)}")
        row: dict[str, int] = {}
        for name, base, field in zip(names, bases, fields, strict=True):
            try:
                row[name] = int(field, base)
            except ValueError:
                raise ParseError(path, lineno, f"{name}: not a number: {field!r}") from None
        return row

    return parse


Built = TypeVar("Built", bound=IpcObject)


def _table(path: Path, required: tuple[str, ...], build: Callable[[dict[str, int]], Built],
           memo: PollMemo | None, due: Callable[[Built, float], float] | None = None,
           refresh: Callable[[Built], Built | None] | None = None) -> list[Built]:
    """``build(row)`` for each row of ``path``.

    With ``memo`` (a polling program): a table whose text is the very text of the previous poll
    gives the previous poll's list itself, and a row whose text is the same gives the object
    built from it then; ``due(obj, when_built)`` is when that object must be built again even
    so, because the row alone cannot tell (a semaphore's waiters): ``-inf`` for at the next
    poll, ``inf`` for never. When it fell due at a finite time (a periodic recheck, not a
    doubt), ``refresh(obj)`` may read again only what the row cannot tell (None: build it).
    Tables are read whole every poll (the kernel has no change signal for them), but an
    unchanged one costs one bytes compare, not a Python pass over its rows.
    """
    now = time.time()
    raw = _read(path)
    if raw is None:
        return []
    table = memo.tables.get(str(path)) if memo is not None else None
    if memo is not None and table is not None and table[0] == raw and now < table[2]:
        memo.used.add(table[3])  # the rows it was built from stay kept as they are
        memo.used.add(str(path))
        return table[1]  # type: ignore[no-any-return]
    lines = raw.splitlines()
    parse = _parser(path, lines, required)
    out: list[Built] = []
    name = f"{path}\0{lines[0]!r}"
    kept = memo.kept(memo.rows, name) if memo is not None else None
    next_due = math.inf
    for lineno, line in enumerate(lines[1:], start=2):
        hit = kept.get(line) if kept is not None else None
        fresh = None
        if hit is not None and kept is not None:
            when = math.inf if due is None else due(hit[0], hit[1])
            if now < when:
                next_due = min(next_due, when)
                out.append(kept.put(line, hit)[0])
                continue
            if refresh is not None and when > -math.inf:
                fresh = refresh(hit[0])
        if fresh is None:
            row = parse(line, lineno)
            if row is None:
                continue
            fresh = build(row)
        obj = fresh
        if hit is not None and obj == hit[0]:
            obj = hit[0]  # read again, and the same: the same instance, as if handed on
        if kept is not None:
            kept.put(line, (obj, now))
            if due is not None:
                next_due = min(next_due, due(obj, now))
        out.append(obj)
    if memo is not None:
        memo.tables[str(path)] = (raw, out, next_due, name)
        memo.used.add(str(path))
    return out


def _read(path: Path) -> bytes | None:
    """A /proc/sysvipc table's text; None when it is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, PermissionError):
        return None


def _settled(*times: float | None, read_at: float) -> bool:
    """Whether a change after ``read_at`` must show in these times (whole seconds, as SysV keeps
    them): all are older than the second the object was read in."""
    return all(t is None or t + RACY < read_at for t in times)


_SHM_COLS = ("key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid",
             "atime", "dtime", "ctime")


def read_shm(proc: Path = PROC, *, memo: PollMemo | None = None,
             ipc_ns: int | None = None) -> list[SysvShm]:
    """Every SysV shared memory segment in /proc/sysvipc/shm, marked with ``ipc_ns``.

    With ``memo``, an unchanged row gives the object of the previous poll (every field comes
    from the row)."""

    def build(r: dict[str, int]) -> SysvShm:
        perms = r["perms"]
        return SysvShm(
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
            rss=r.get("rss"),
            swap=r.get("swap"),
            atime=_time(r["atime"]),
            dtime=_time(r["dtime"]),
            ipc_ns=ipc_ns,
        )

    return _table(proc / "sysvipc" / "shm", _SHM_COLS, build, memo)


_MSG_COLS = ("key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid",
             "stime", "rtime", "ctime")


def msg_qbytes(msqid: int) -> int | None:
    """The queue's capacity in bytes (msgctl IPC_STAT msg_qbytes); None without read access."""
    buf = ctypes.create_string_buffer(_STAT_BUF)
    if _msgctl(msqid, IPC_STAT, buf) != 0:
        return None
    return ctypes.c_ulong.from_buffer(buf, _MSG_QBYTES_OFFSET).value


def read_msg(proc: Path = PROC, *, live: bool = True, memo: PollMemo | None = None,
             ipc_ns: int | None = None) -> list[SysvMsg]:
    """Every SysV message queue in /proc/sysvipc/msg, marked with ``ipc_ns``.

    ``size`` is the queue's capacity (msg_qbytes), which only msgctl tells: filled when ``live``
    and the queue is readable by us, else None. Pass ``live=False`` for a fixture tree. With
    ``memo``, an unchanged row gives the object of the previous poll: msg_qbytes changes only by
    IPC_SET, which moves the row's ctime (unless that was in the second the queue was read).
    """

    def build(r: dict[str, int]) -> SysvMsg:
        msqid = r["msqid"]
        return SysvMsg(
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
            ipc_ns=ipc_ns,
        )

    def due(o: SysvMsg, read_at: float) -> float:
        return math.inf if _settled(o.ctime, read_at=read_at) else -math.inf

    return _table(proc / "sysvipc" / "msg", _MSG_COLS, build, memo, due)


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


SEM_RECHECK = 10.0
"""Seconds: how often a polling program reads a settled semaphore set's waiter counts again."""


def read_sem(proc: Path = PROC, *, live: bool = True, memo: PollMemo | None = None,
             ipc_ns: int | None = None) -> list[SysvSem]:
    """Every SysV semaphore array in /proc/sysvipc/sem, marked with ``ipc_ns``; with ``live``,
    values etc. via semctl.

    With ``memo`` (a polling program), a set is asked again (5 + 3 x nsems semctl calls) only
    where something may have changed: its row changed, its otime (semop, and the undo of a
    process that exits) or ctime (SETVAL, SETALL, IPC_SET) is not older than the second it was
    read in, it had waiters then, or SEM_RECHECK seconds have passed (see
    :func:`~ipctop.collect.common.recheck_at`: every settled set at the same poll). The last
    one is for the waiter counts alone: a process that starts waiting (or gives up) moves no
    time the row shows.
    """

    def build(r: dict[str, int]) -> SysvSem:
        semid, nsems = r["semid"], r["nsems"]
        state: _SemLive = sem_state(semid, nsems) if live else (None, None, None, None)
        values, sempids, ncnt, zcnt = state
        return SysvSem(
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
            ipc_ns=ipc_ns,
        )

    def due(o: SysvSem, read_at: float) -> float:
        if not live:
            return math.inf
        if any(o.ncnt or ()) or any(o.zcnt or ()) or \
                not _settled(o.otime, o.ctime, read_at=read_at):
            return -math.inf
        return recheck_at(read_at, SEM_RECHECK)

    def waiters(o: SysvSem) -> SysvSem | None:
        # The periodic recheck of a settled set: only its waiter counts can have moved
        # (values and pids move with semop and SETVAL, which move the row's times).
        nsems, semid = o.nsems or 0, int(o.id)
        ncnt, zcnt = _per_sem(semid, nsems, GETNCNT), _per_sem(semid, nsems, GETZCNT)
        if ncnt is None or zcnt is None:
            return None
        return o if (ncnt, zcnt) == (o.ncnt, o.zcnt) else evolve(o, ncnt=ncnt, zcnt=zcnt)

    return _table(proc / "sysvipc" / "sem", _SEM_COLS, build, memo, due,
                  waiters if live else None)


# --------------------------------------------------------------------------- join


def join_shm(join: Join, shms: list[SysvShm]) -> list[IpcObject]:
    """Attachers of each segment: maps lines whose inode column is the shmid, from processes in
    the segment's IPC namespace only (shmids repeat across namespaces); and the creator's
    command."""
    own = join.own_ipc_ns
    out: list[IpcObject] = []
    for s in shms:
        users = join.map_users(join.maps_by_shmid.get(
            (own if s.ipc_ns is None else s.ipc_ns, int(s.id)), ()))
        creator = _creator(join, s.cpid, s.ctime)
        # The joined object of the previous poll when the segment and its users are the same.
        out.append(join.remembered("sysv_shm", (s, users, creator), _joined))
    return out


def _joined(items: Sequence[object]) -> IpcObject:
    shm, users, creator = items
    assert isinstance(shm, SysvShm)
    return evolve(shm, users=users, creator=creator)


def _creator(join: Join, pid: int, created: float | None) -> str | None:
    """The command of ``pid`` if it can be the object's creator: alive, and started before the
    object was created (a younger process only reuses the pid)."""
    p = join.scan.processes.get(pid)
    if p is None:
        return None
    if p.start_time is not None and created is not None and p.start_time > created + 1:
        return None
    return p.cmdline or p.comm
