"""A polling program hands on whole what did not change: a /proc/sysvipc table whose text is the
same, a Join index equal to the previous poll's, a kind whose inputs are the very same objects
(PollMemo.gates). Each shortcut is shown handing on, then seeing a change at the next poll.
"""

from __future__ import annotations

import mmap
import os
import shutil
from pathlib import Path

import posix_ipc
import pytest
from conftest import Cleanup, Spawn, unique_key, unique_name
from fixtures_proc import shm_line, write_sysvipc
from test_collect_procs import make_pid, make_proc

from ipctop.collect.common import recheck_at
from ipctop.collect.poll_memo import Gates, PollMemo, ProbeMemo
from ipctop.collect.procfs import FdUse, MapUse
from ipctop.collect.procs import ProcScan, Unreadable
from ipctop.collect.scan_cache import ScanCache
from ipctop.collect.sysv import read_shm
from ipctop.join import Join
from ipctop.model import Kind, Process
from ipctop.snapshot import LiveTake, take


def test_an_unchanged_table_is_handed_on_and_a_changed_row_is_read(tmp_path: Path) -> None:
    rows = [shm_line(key=i, shmid=i, nattch=1) for i in range(1, 4)]
    write_sysvipc(tmp_path, "shm", rows)
    memo = PollMemo()
    memo.begin()
    first = read_shm(tmp_path, memo=memo)
    memo.begin()
    assert read_shm(tmp_path, memo=memo) is first  # the same text: the very same list
    rows[1] = shm_line(key=2, shmid=2, nattch=2)
    write_sysvipc(tmp_path, "shm", rows)
    memo.begin()
    second = read_shm(tmp_path, memo=memo)
    assert second is not first and [o.nattch for o in second] == [1, 2, 1]
    assert second[0] is first[0] and second[2] is first[2] and second[1] is not first[1]
    memo.begin()
    assert read_shm(tmp_path, memo=memo) is second


def test_a_table_left_unread_for_a_poll_is_forgotten(tmp_path: Path) -> None:
    write_sysvipc(tmp_path, "shm", [shm_line(key=1, shmid=1)])
    memo = PollMemo()
    memo.begin()
    first = read_shm(tmp_path, memo=memo)
    memo.begin()  # a poll that did not ask for SysV shm
    memo.begin()
    assert str(tmp_path / "sysvipc" / "shm") not in memo.tables
    again = read_shm(tmp_path, memo=memo)
    assert again is not first and again == first


@pytest.mark.parametrize("read_at", [0.0, 3.2, 9.999, 10.0, 1234.5])
def test_rechecks_fall_due_together_at_the_end_of_their_period(read_at: float) -> None:
    due = recheck_at(read_at, 10.0)
    assert read_at < due <= read_at + 10.0 and due % 10.0 == 0.0
    assert recheck_at(read_at + (due - read_at) / 2, 10.0) == due  # read later, same due


def _scan(fds: list[FdUse], maps: list[MapUse], comm: str = "a") -> ProcScan:
    pids = {f.pid for f in fds} | {m.pid for m in maps} | {9}
    return ProcScan(
        processes={pid: Process(pid=pid, ppid=1, comm=comm if pid == 9 else "a", cmdline="a",
                                user="root", uid=0) for pid in pids},
        fds=tuple(fds), maps=tuple(maps), unreadable=Unreadable())


def test_an_index_equal_to_the_previous_one_is_that_very_one() -> None:
    def fds() -> list[FdUse]:  # read again: equal, new instances
        return [FdUse(pid=5, fd=3, target="pipe:[100]", access="r"),
                FdUse(pid=6, fd=4, target="pipe:[100]", access="w")]

    def maps() -> list[MapUse]:
        return [MapUse(pid=5, path="/SYSV00000001", perms="rw-s", dev=0, inode=7, shmid=7)]

    first = Join(_scan(fds(), maps()), Path("/proc"), False)
    # The same scan but a process that holds nothing renamed (a kernel worker): all kept.
    same = Join(_scan(fds(), maps(), comm="b"), Path("/proc"), False, first)
    assert same.pipes_by_ino is first.pipes_by_ino and same.maps_by_shmid is first.maps_by_shmid
    assert same.changed_pids == {9}
    # One more pipe: that index is new, the other one stays the very same.
    more = Join(_scan([*fds(), FdUse(pid=6, fd=5, target="pipe:[101]", access="r")], maps()),
                Path("/proc"), False, same)
    assert more.pipes_by_ino is not first.pipes_by_ino and set(more.pipes_by_ino) == {100, 101}
    assert more.maps_by_shmid is first.maps_by_shmid
    assert more.pipes_by_ino[100] == first.pipes_by_ino[100]


def test_a_gate_hands_on_only_the_very_same_inputs_until_due() -> None:
    gates = Gates()
    a, b = object(), object()
    built: list[int] = []
    carried: list[int] = []

    def build() -> tuple[list[object], float]:
        built.append(1)
        return [a], 10.0

    def poll(inputs: tuple[object, ...], now: float) -> list[object]:
        gates.turn()
        return gates.run("k", inputs, now, build, lambda: carried.append(1))

    first = poll(([a, b], 7), 0.0)
    assert poll(([a, b], 7), 1.0) is first and len(built) == 1 and carried == [1]
    assert poll(([a, object()], 7), 2.0) is not first and len(built) == 2  # another object
    poll(([a, b], 7), 3.0)
    assert poll(([a, b], 8), 4.0) is not first and len(built) == 4  # another number
    poll(([a, b], 8), 5.0)
    assert len(built) == 4
    poll(([a, b], 8), 10.0)  # due
    assert len(built) == 5


def test_a_kind_handed_on_whole_still_sees_a_new_attacher_at_once(cleanup: Cleanup,
                                                                  spawn: Spawn) -> None:
    import sysv_ipc

    shm = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=4096)
    cleanup(shm.remove)
    live = LiveTake()
    ident = str(shm.id)

    def users() -> set[int]:
        o = next(o for o in live().of_kind(Kind.SYSV_SHM) if o.id == ident)
        return {u.pid for u in o.users}

    before = users()  # this process (sysv_ipc attaches the segment it makes)
    assert users() == before  # handed on, when nothing else on the machine changed
    child = spawn(lambda: sysv_ipc.attach(shm.id).read(1) and None)
    assert users() == before | {child.pid}  # the very next poll


def test_a_lease_answer_that_expires_is_asked_again_though_nothing_else_changed(
        cleanup: Cleanup, spawn: Spawn) -> None:
    """A process ipctop cannot read starts mapping a file it had called unused: the kind is
    handed on while the answer holds, and joined again (asking the kernel) once it expires."""
    name = f"/{unique_name()}"
    mem = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096)
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    os.close(mem.fd)
    now = [1000.0]
    hidden = spawn(lambda: None)  # makes the poll blind: unreadable processes exist
    live = LiveTake(hide={hidden.pid}, clock=lambda: now[0])

    def in_use() -> object:
        return next(getattr(o, "in_use", None) for o in live().of_kind(Kind.POSIX_SHM)
                    if o.id == name)

    assert in_use() is False
    keep: list[object] = []

    def maps_it() -> None:
        m = posix_ipc.SharedMemory(name)
        keep.append(mmap.mmap(m.fd, 4096))
        m.close_fd()

    holder = spawn(maps_it)
    live.hide = {hidden.pid, holder.pid}
    assert in_use() is False  # the answer holds for max_age
    now[0] += ProbeMemo().max_age + 1
    assert in_use() is True


def test_a_segment_whose_creator_exits_loses_its_creator_at_the_next_poll(
        tmp_path: Path) -> None:
    """Nothing a segment's row or attachers show moves when its creator exits: the kind is
    handed on while nothing changes, and joined again because that process went."""
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 100, maps="")
    make_pid(proc, 200, maps="")
    os.symlink("200", proc / "self")
    write_sysvipc(proc, "shm", [shm_line(key=1, shmid=7, cpid=100, ctime=0)])
    cache = ScanCache()

    def made_by() -> str | None:
        snap = take(proc, tmp_path / "dev", kinds={Kind.SYSV_SHM}, live=False, cache=cache)
        return getattr(snap.objects[0], "creator", None)

    assert made_by() == "worker --flag"
    assert made_by() == "worker --flag" and "sysv_shm" in cache.memo.gates.handed_on
    shutil.rmtree(proc / "100")
    assert made_by() is None


def test_the_periodic_recheck_of_a_settled_set_reads_only_its_waiters(
        cleanup: Cleanup, monkeypatch: pytest.MonkeyPatch) -> None:
    import sysv_ipc
    from test_poll_memo import _mine, wait_for_a_waiter

    from ipctop.collect import sysv

    sem = sysv_ipc.Semaphore(unique_key(), sysv_ipc.IPC_CREX, 0o600, initial_value=0)
    cleanup(sem.remove)
    live = LiveTake()
    ident = str(sem.id)
    assert getattr(_mine(live, Kind.SYSV_SEM, ident), "ncnt", None) == (0,)
    monkeypatch.setattr(sysv, "SEM_RECHECK", 0.2)
    monkeypatch.setattr(sysv, "_settled", lambda *t, read_at: True)
    _mine(live, Kind.SYSV_SEM, ident)  # read again as settled: due at the next recheck only
    whole = sysv.sem_state

    def only_others(semid: int, nsems: int) -> object:
        assert semid != sem.id, "the whole set was read again"
        return whole(semid, nsems)  # other suites' sets, made meanwhile

    monkeypatch.setattr(sysv, "sem_state", only_others)
    wait_for_a_waiter(live, sem, cleanup)
