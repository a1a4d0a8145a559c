"""SysV collectors: real objects checked against the kernel (sysv_ipc, ipcs), fixture trees for
the parser (kernel formats, negative keys, malformed lines)."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sysv_ipc
from conftest import Cleanup, run_and_exit
from fixtures_proc import msg_line, sem_line, shm_line, write_sysvipc

from ipctop.collect import sysv
from ipctop.errors import ParseError
from ipctop.kinds import SysvSem, SysvShm

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.semget.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
_libc.semctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
IPC_RMID, SETVAL = 0, 16


def _key(high: bool = False) -> int:
    return random.randrange(0x80000000, 0xFFFFFFFF) if high else random.randrange(1, 0x7FFFFFFF)


def _shm(cleanup: Cleanup, key: int | None, size: int) -> sysv_ipc.SharedMemory:
    """A new segment (attached, as sysv_ipc always does), detached and removed afterwards."""
    for _ in range(20):
        try:
            m = sysv_ipc.SharedMemory(key if key is not None else _key(), sysv_ipc.IPC_CREX,
                                      size=size)
        except sysv_ipc.ExistentialError:
            continue
        cleanup(m.remove)
        cleanup(m.detach)
        return m
    raise AssertionError("no free key")


def _by_id(objs: list[SysvShm] | list[SysvSem], ident: int) -> SysvShm | SysvSem:
    found = [o for o in objs if o.id == str(ident)]
    assert len(found) == 1, f"id {ident} listed {len(found)} times"
    return found[0]


def _ipcs_m(shmid: int) -> list[str]:
    out = subprocess.run(["ipcs", "-m"], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    return next(r for r in rows if len(r) >= 6 and r[1] == str(shmid))


# --- live objects ----------------------------------------------------------------------------

def test_shm_high_key_matches_kernel(cleanup: Cleanup) -> None:
    key = _key(high=True)
    m = _shm(cleanup, key, 12288)
    seg = _by_id(sysv.read_shm(), m.id)
    assert isinstance(seg, SysvShm)
    assert seg.key == f"0x{key:08x}" == _ipcs_m(m.id)[0]
    assert seg.size == m.size == 12288
    assert seg.nattch == m.number_attached == 1
    assert seg.cpid == os.getpid() == m.creator_pid
    assert seg.lpid == os.getpid()
    assert seg.uid == os.getuid() and seg.owner == _ipcs_m(m.id)[2]
    assert seg.mode == "0600" and _ipcs_m(m.id)[3] == "600"
    assert not seg.dest and not seg.locked
    assert seg.atime is not None and seg.dtime is None and seg.ctime is not None
    assert seg.rss == 12288 and seg.swap == 0  # sysv_ipc fills a new segment: all resident


def test_shm_never_attached_then_touched(cleanup: Cleanup) -> None:
    """shmget alone: nobody attached, no page resident; two pages written: rss says so."""
    key = _key()
    shmid = _libc.shmget(key, 4 * 4096, sysv_ipc.IPC_CREX | 0o640)
    assert shmid >= 0
    cleanup(lambda: _libc.shmctl(shmid, IPC_RMID, None))
    seg = _by_id(sysv.read_shm(), shmid)
    assert isinstance(seg, SysvShm)
    assert (seg.nattch, seg.lpid, seg.atime, seg.rss, seg.mode) == (0, 0, None, 0, "0640")
    m = sysv_ipc.SharedMemory(key)  # attaches, does not initialise an existing segment
    cleanup(m.detach)
    m.write(b"x" * (2 * 4096))
    seg = _by_id(sysv.read_shm(), shmid)
    assert isinstance(seg, SysvShm)
    assert (seg.nattch, seg.lpid, seg.rss) == (1, os.getpid(), 2 * 4096)
    assert seg.atime is not None
    m.detach()
    seg = _by_id(sysv.read_shm(), shmid)
    assert isinstance(seg, SysvShm)
    assert seg.nattch == 0 and seg.dtime is not None


def test_shm_private_and_removed_while_attached(cleanup: Cleanup) -> None:
    private = _shm(cleanup, sysv_ipc.IPC_PRIVATE, 4096)
    doomed = _shm(cleanup, None, 8192)
    doomed.remove()
    segs = sysv.read_shm()
    p = _by_id(segs, private.id)
    d = _by_id(segs, doomed.id)
    assert isinstance(p, SysvShm) and isinstance(d, SysvShm)
    assert p.key == "0x00000000" and not p.dest
    assert d.key == "0x00000000" and d.dest and d.nattch == 1
    assert _ipcs_m(doomed.id)[-1] == "dest"
    doomed.detach()
    assert str(doomed.id) not in {s.id for s in sysv.read_shm()}


def test_msg_counts_and_capacity(cleanup: Cleanup) -> None:
    key = _key(high=True)
    q = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
    cleanup(q.remove)
    q.max_size = 4321  # msg_qbytes: only msgctl tells it, so this checks the struct offset
    q.send(b"hello")
    q.send(b"goodbye", type=2)
    found = [o for o in sysv.read_msg() if o.id == str(q.id)]
    assert len(found) == 1
    mq = found[0]
    assert mq.key == f"0x{key:08x}"
    assert mq.messages == q.current_messages == 2
    assert mq.bytes == len(b"hello") + len(b"goodbye")
    assert mq.size == q.max_size == 4321
    assert mq.lspid == os.getpid() and mq.lrpid == 0
    assert mq.stime is not None and mq.rtime is None
    q.receive()
    again = next(o for o in sysv.read_msg() if o.id == str(q.id))
    assert again.messages == 1 and again.bytes == len(b"goodbye") and again.lrpid == os.getpid()
    offline = next(o for o in sysv.read_msg(live=False) if o.id == str(q.id))
    assert offline.size is None and offline.messages == 1


def _sem_array(cleanup: Cleanup, values: list[int]) -> tuple[int, int]:
    for _ in range(20):
        key = _key()
        semid = _libc.semget(key, len(values), sysv_ipc.IPC_CREX | 0o600)
        if semid >= 0:
            break
    else:
        raise AssertionError("no free key")
    cleanup(lambda: _libc.semctl(semid, 0, IPC_RMID, None))
    for i, v in enumerate(values):
        assert _libc.semctl(semid, i, SETVAL, v) == 0
    return key, semid


def _ipcs_sem(semid: int) -> list[tuple[int, int, int, int]]:
    out = subprocess.run(["ipcs", "-s", "-i", str(semid)], capture_output=True, text=True,
                         check=True).stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("semnum"))
    rows = []
    for line in lines[start + 1:]:
        f = line.split()
        if len(f) == 5:
            rows.append((int(f[1]), int(f[2]), int(f[3]), int(f[4])))
    return rows


def test_sem_array_values_match_ipcs(cleanup: Cleanup) -> None:
    key, semid = _sem_array(cleanup, [2, 0, 7])
    sem = _by_id(sysv.read_sem(), semid)
    assert isinstance(sem, SysvSem)
    assert sem.key == f"0x{key:08x}" and sem.nsems == 3
    assert sem.values == (2, 0, 7)
    assert sem.sempids == (os.getpid(),) * 3
    assert sem.ncnt == (0, 0, 0) and sem.zcnt == (0, 0, 0)
    assert [(v, n, z, p) for v, n, z, p in _ipcs_sem(semid)] == [
        (v, n, z, p) for v, n, z, p in zip(sem.values, sem.ncnt, sem.zcnt, sem.sempids,
                                           strict=True)
    ]
    assert sem.otime is None
    offline = _by_id(sysv.read_sem(live=False), semid)
    assert isinstance(offline, SysvSem)
    assert offline.values is None and offline.sempids is None and offline.nsems == 3


def _wait_for(check: Callable[[], bool]) -> bool:
    """Poll until ``check`` holds (a blocked child needs a moment to reach semop)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


class _Child:
    """A forked child running ``action``; reaped once, killed at cleanup only if never reaped."""

    def __init__(self, action: Callable[[], object], cleanup: Cleanup) -> None:
        self.status: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            try:
                action()
            finally:
                os._exit(0)
        cleanup(self.kill)

    def wait(self) -> int:
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return self.status

    def kill(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()


def test_sem_waiters_counted(cleanup: Cleanup) -> None:
    s = sysv_ipc.Semaphore(_key(), sysv_ipc.IPC_CREX, initial_value=0)
    cleanup(s.remove)
    z = sysv_ipc.Semaphore(_key(), sysv_ipc.IPC_CREX, initial_value=1)
    cleanup(z.remove)
    waiter = _Child(s.acquire, cleanup)
    zwaiter = _Child(z.Z, cleanup)

    def state() -> tuple[SysvSem, SysvSem]:
        sems = sysv.read_sem()
        a, b = _by_id(sems, s.id), _by_id(sems, z.id)
        assert isinstance(a, SysvSem) and isinstance(b, SysvSem)
        return a, b

    assert _wait_for(lambda: state()[0].ncnt == (1,) and state()[1].zcnt == (1,))
    a, b = state()
    assert a.values == (0,) and a.zcnt == (0,)
    assert b.values == (1,) and b.ncnt == (0,)
    s.release()
    z.acquire()
    assert waiter.wait() == 0 and zwaiter.wait() == 0
    a, b = state()
    assert a.ncnt == (0,) and b.zcnt == (0,)
    assert a.sempids == (waiter.pid,) and a.values == (0,)
    assert a.otime is not None


def test_sem_state_never_raises_on_stale_or_wrong_ids(cleanup: Cleanup) -> None:
    _, semid = _sem_array(cleanup, [1, 2])
    assert sysv.sem_state(semid, 2)[0] == (1, 2)
    assert sysv.sem_state(semid, 5) == (None, None, None, None)  # nsems mismatch: not ours
    _libc.semctl(semid, 0, IPC_RMID, None)
    assert sysv.sem_state(semid, 2) == (None, None, None, None)
    q = sysv_ipc.MessageQueue(_key(), sysv_ipc.IPC_CREX)
    cleanup(q.remove)
    msqid = q.id
    assert sysv.msg_qbytes(msqid) == q.max_size
    q.remove()
    assert sysv.msg_qbytes(msqid) is None


def test_unprivileged_reader_gets_none_not_an_error(cleanup: Cleanup) -> None:
    """A user without read permission still lists the objects; the syscall fields are None."""
    _, semid = _sem_array(cleanup, [4])
    q = sysv_ipc.MessageQueue(_key(), sysv_ipc.IPC_CREX, mode=0o600)
    cleanup(q.remove)

    def as_nobody() -> bytes:  # pragma: no cover - runs in the child
        os.setgid(65534)
        os.setuid(65534)
        sem = next(o for o in sysv.read_sem() if o.id == str(semid))
        msg = next(o for o in sysv.read_msg() if o.id == str(q.id))
        return json.dumps([sem.values, sem.sempids, sem.nsems, msg.size]).encode()

    assert json.loads(run_and_exit(as_nobody)) == [None, None, 1, None]


# --- fixture trees ---------------------------------------------------------------------------

def test_shm_fixture_negative_key_bits_and_times(tmp_path: Path) -> None:
    write_sysvipc(tmp_path, "shm", [
        shm_line(key=-2023406815, shmid=32769, perms=0o1640, size=1 << 33, cpid=4242,
                 lpid=4343, nattch=2, uid=0, atime=1700000100, dtime=0, ctime=1700000000,
                 rss=8192, swap=4096),
        shm_line(key=0, shmid=5, perms=0o3600, nattch=1),
        shm_line(key=0x1234, shmid=6, perms=0o2666),
    ])
    a, b, c = sysv.read_shm(tmp_path)
    assert (a.id, a.key, a.size, a.cpid, a.lpid, a.nattch) == (
        "32769", "0x87654321", 1 << 33, 4242, 4343, 2)
    assert a.mode == "0640" and a.dest and not a.locked
    assert (a.rss, a.swap, a.atime, a.dtime, a.ctime) == (8192, 4096, 1700000100.0, None,
                                                          1700000000.0)
    assert a.owner == "root" and a.uid == 0
    assert b.key == "0x00000000" and b.dest and b.locked and b.mode == "0600"
    assert c.key == "0x00001234" and c.locked and not c.dest and c.mode == "0666"


def test_shm_fixture_without_rss_columns(tmp_path: Path) -> None:
    """Kernels before 4.x print no rss/swap: found by header, left None."""
    header = ("       key      shmid perms       size  cpid  lpid nattch   uid   gid  cuid  cgid"
              "      atime      dtime      ctime")
    (tmp_path / "sysvipc").mkdir()
    (tmp_path / "sysvipc" / "shm").write_text(
        f"{header}\n         7          3   600       100   10   11      0  1000  1000  1000"
        "  1000          0          0 1700000000\n")
    (seg,) = sysv.read_shm(tmp_path)
    assert seg.rss is None and seg.swap is None and seg.uid == 1000 and seg.size == 100


def test_msg_and_sem_fixture(tmp_path: Path) -> None:
    write_sysvipc(tmp_path, "msg", [
        msg_line(key=-1, msqid=98304, perms=0o620, cbytes=300, qnum=3, lspid=7, lrpid=8,
                 uid=65534, stime=1700000001, rtime=1700000002),
    ])
    write_sysvipc(tmp_path, "sem", [
        sem_line(key=-2147483648, semid=65536, perms=0o666, nsems=4, otime=1700000003),
    ])
    (m,) = sysv.read_msg(tmp_path, live=False)
    assert (m.id, m.key, m.messages, m.bytes, m.lspid, m.lrpid) == (
        "98304", "0xffffffff", 3, 300, 7, 8)
    assert m.mode == "0620" and m.uid == 65534 and m.size is None
    assert (m.stime, m.rtime) == (1700000001.0, 1700000002.0)
    (s,) = sysv.read_sem(tmp_path, live=False)
    assert (s.id, s.key, s.nsems, s.mode, s.otime) == (
        "65536", "0x80000000", 4, "0666", 1700000003.0)
    assert s.values is None and s.ncnt is None


def test_empty_and_missing_tables(tmp_path: Path) -> None:
    write_sysvipc(tmp_path, "shm", [])
    assert sysv.read_shm(tmp_path) == []
    assert sysv.read_msg(tmp_path) == []  # no such file: a kernel without SysV IPC
    assert sysv.read_sem(tmp_path) == []


@pytest.mark.parametrize(
    ("which", "bad", "message"),
    [
        ("shm", "   1   2   600   4096", "expected 16 fields, got 4"),
        ("shm", shm_line(key=1, shmid=2).replace("600", "6x0", 1), "perms: not a number"),
        ("msg", msg_line(key=1, msqid=2).replace(" 1700000000", " soon"), "ctime: not a number"),
        ("sem", sem_line(key=1, semid=2) + " 99", "expected 10 fields, got 11"),
    ],
)
def test_malformed_line_names_file_and_line(
    tmp_path: Path, which: str, bad: str, message: str
) -> None:
    good = {"shm": shm_line(key=1, shmid=1), "msg": msg_line(key=1, msqid=1),
            "sem": sem_line(key=1, semid=1)}[which]
    path = write_sysvipc(tmp_path, which, [good, bad])
    reader = {"shm": sysv.read_shm, "msg": sysv.read_msg, "sem": sysv.read_sem}[which]
    with pytest.raises(ParseError) as err:
        reader(tmp_path)
    assert err.value.path == str(path) and err.value.lineno == 3
    assert str(err.value).startswith(f"{path}:3: ")
    assert message in str(err.value)


def test_header_without_needed_column(tmp_path: Path) -> None:
    (tmp_path / "sysvipc").mkdir()
    path = tmp_path / "sysvipc" / "sem"
    path.write_text("key semid perms\n1 2 600\n")
    with pytest.raises(ParseError, match=r"sem:1: header lacks column\(s\): nsems, uid"):
        sysv.read_sem(tmp_path)
    path.write_text("")
    with pytest.raises(ParseError, match="sem:1: missing header"):
        sysv.read_sem(tmp_path)
