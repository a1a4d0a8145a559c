"""The leak rules on snapshots built by hand: every rule, its contrast case, the PID-reuse guard,
"unknown" when processes could not be read, and the helpers (filter, min-age, JSON entry)."""

from __future__ import annotations

from ipctop.kinds import Fifo, Pipe, PosixMq, PosixSem, PosixShm, SysvMsg, SysvSem, SysvShm
from ipctop.leaks import (
    LEAK,
    NOBODY_HOLDS,
    PENDING,
    REUSE_SLACK,
    UNKNOWN,
    find_leaks,
    judge,
    leak_dict,
    matches,
    reclaimable_bytes,
    since,
)
from ipctop.model import IpcObject, Process, Snapshot, Unreadable, User, evolve
from ipctop.reclaim import recheck

NOW = 1_800_000_000.0
HOUR = 3600.0


def nobody(pid: int) -> float | None:
    """An Alive for which every pid is gone."""
    return None


def snap(*objs: IpcObject, processes: tuple[Process, ...] = (), unreadable: int = 0) -> Snapshot:
    return Snapshot(taken_at=NOW, hostname="test", objects=objs, processes=processes,
                    unreadable=Unreadable(count=unreadable))


def verdict(obj: IpcObject, started: dict[int, float] | None = None, *,
            processes: tuple[Process, ...] = (), unreadable: int = 0, ignore: bool = False,
            ) -> IpcObject:
    table = started or {}

    def alive(pid: int) -> float | None:
        return table.get(pid)

    s = judge(snap(obj, processes=processes, unreadable=unreadable), alive=alive,
              ignore_unreadable=ignore)
    return s.objects[0]


def proc(pid: int, state: str = "S", start: float = NOW - 10 * HOUR, comm: str = "p") -> Process:
    return Process(pid=pid, ppid=1, comm=comm, cmdline=comm, user="root", uid=0,
                   start_time=start, state=state)


def shm(**kw: object) -> SysvShm:
    base: dict[str, object] = dict(id="10", key="0x0000abcd", size=1 << 20, nattch=0, cpid=500,
                                   lpid=500, rss=8192, swap=4096, ctime=NOW - 2 * HOUR,
                                   dtime=NOW - HOUR)
    base.update(kw)
    return SysvShm(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ SysV shm


def test_sysv_shm_creator_gone_nattch_0_is_a_leak_with_rss_and_swap() -> None:
    o = verdict(shm())
    assert o.leak is not None and o.leak.status == LEAK
    assert "creator 500 is gone" in o.leak.reason
    assert o.leak.reclaim_bytes == 8192 + 4096
    assert since(o) == NOW - HOUR  # last detach


def test_sysv_shm_never_detached_ages_from_ctime() -> None:
    o = shm(dtime=None)
    assert since(o) == NOW - 2 * HOUR
    v = verdict(o)
    assert v.leak is not None and "never attached" in v.leak.reason


def test_sysv_shm_creator_alive_is_not_a_leak() -> None:
    assert verdict(shm(), {500: NOW - 5 * HOUR}).leak is None


def test_sysv_shm_attached_is_not_a_leak() -> None:
    assert verdict(shm(nattch=1)).leak is None


def test_sysv_shm_pid_reuse_guard() -> None:
    # pid 500 runs, but it started after the segment was created: not its creator.
    reused = verdict(shm(), {500: NOW - 2 * HOUR + 60})
    assert reused.leak is not None and reused.leak.status == LEAK
    assert "started" in reused.leak.reason
    # Within the rounding margin it still counts as the creator.
    borderline = verdict(shm(), {500: NOW - 2 * HOUR + REUSE_SLACK - 0.5})
    assert borderline.leak is None


def test_sysv_shm_creator_known_in_snapshot_processes() -> None:
    # The snapshot's own process list is enough to know the creator is alive.
    assert verdict(shm(), processes=(proc(500),)).leak is None
    # A zombie creator holds nothing: gone.
    z = verdict(shm(), processes=(proc(500, state="Z"),))
    assert z.leak is not None and z.leak.status == LEAK


def test_sysv_shm_without_rss_reclaims_its_size() -> None:
    o = verdict(shm(rss=None, swap=None))
    assert o.leak is not None and o.leak.reclaim_bytes == 1 << 20


def test_sysv_shm_dest_attached_is_pending_removal_naming_holders() -> None:
    o = verdict(shm(dest=True, nattch=2, key="0x00000000",
                    users=(User(pid=42, comm="redis", via="map"),
                           User(pid=43, comm="worker", via="map"))))
    assert o.leak is not None and o.leak.status == PENDING
    assert "42/redis" in o.leak.reason and "43/worker" in o.leak.reason
    assert o.leak.reclaim_bytes == 0


def test_sysv_shm_cpid_0_is_unknown() -> None:
    o = verdict(shm(cpid=0))
    assert o.leak is not None and o.leak.status == UNKNOWN


def test_sysv_shm_is_judged_despite_unreadable_processes() -> None:
    # nattch comes from the kernel, not from /proc: unreadable processes cannot hide an attach.
    o = verdict(shm(), unreadable=3)
    assert o.leak is not None and o.leak.status == LEAK


# ------------------------------------------------------------------------------ SysV msg


def msg(**kw: object) -> SysvMsg:
    base: dict[str, object] = dict(id="7", key="0x00001234", messages=3, bytes=300, lspid=600,
                                   lrpid=601, stime=NOW - HOUR, rtime=NOW - 2 * HOUR,
                                   ctime=NOW - 3 * HOUR)
    base.update(kw)
    return SysvMsg(**base)  # type: ignore[arg-type]


def test_sysv_msg_sender_and_reader_gone_is_a_leak() -> None:
    o = verdict(msg())
    assert o.leak is not None and o.leak.status == LEAK
    assert o.leak.reclaim_bytes == 300
    assert "600 is gone" in o.leak.reason and "601 is gone" in o.leak.reason


def test_sysv_msg_never_read() -> None:
    o = verdict(msg(lrpid=0, rtime=None))
    assert o.leak is not None and o.leak.status == LEAK and "never read" in o.leak.reason


def test_sysv_msg_live_reader_or_sender_or_empty_is_not_a_leak() -> None:
    assert verdict(msg(), {601: NOW - 5 * HOUR}).leak is None
    assert verdict(msg(), {600: NOW - 5 * HOUR}).leak is None
    assert verdict(msg(messages=0, bytes=0)).leak is None


def test_sysv_msg_reader_reused_pid_counts_as_gone() -> None:
    # 601 started after its last receive: another process.
    o = verdict(msg(), {601: NOW - 2 * HOUR + 30})
    assert o.leak is not None and o.leak.status == LEAK


def test_sysv_msg_pid_from_another_namespace_is_unknown() -> None:
    o = verdict(msg(lrpid=0))  # read before (rtime set) by a pid we cannot see
    assert o.leak is not None and o.leak.status == UNKNOWN


# ------------------------------------------------------------------------------ SysV sem


def sem(**kw: object) -> SysvSem:
    base: dict[str, object] = dict(id="3", key="0x00005555", nsems=2, values=(1, 0),
                                   sempids=(700, 701), ncnt=(0, 0), zcnt=(0, 0),
                                   otime=NOW - HOUR, ctime=NOW - 2 * HOUR)
    base.update(kw)
    return SysvSem(**base)  # type: ignore[arg-type]


def test_sysv_sem_all_last_operators_gone_is_a_leak() -> None:
    o = verdict(sem())
    assert o.leak is not None and o.leak.status == LEAK and "700, 701" in o.leak.reason


def test_sysv_sem_one_operator_alive_or_a_waiter_is_not_a_leak() -> None:
    assert verdict(sem(), {701: NOW - 5 * HOUR}).leak is None
    assert verdict(sem(ncnt=(1, 0))).leak is None


def test_sysv_sem_never_operated_is_unknown_and_unreadable_is_not_judged() -> None:
    o = verdict(sem(sempids=(0, 0), otime=None))
    assert o.leak is not None and o.leak.status == UNKNOWN
    assert verdict(sem(sempids=None, values=None)).leak is None


# ------------------------------------------------------------------------------ POSIX


def pshm(**kw: object) -> PosixShm:
    base: dict[str, object] = dict(id="/psm_1", name="/psm_1", path="/dev/shm/psm_1",
                                   size=65536, ctime=NOW - HOUR, dev=1, inode=99)
    base.update(kw)
    return PosixShm(**base)  # type: ignore[arg-type]


def test_posix_shm_unused_is_a_leak_with_its_size() -> None:
    o = verdict(pshm())
    assert o.leak is not None and o.leak.status == LEAK and o.leak.reclaim_bytes == 65536


def test_posix_shm_mapped_is_not_a_leak() -> None:
    assert verdict(pshm(users=(User(pid=9, comm="x", via="map"),))).leak is None


def test_posix_objects_are_unknown_while_processes_are_unreadable() -> None:
    o = verdict(pshm(), unreadable=2)
    assert o.leak is not None and o.leak.status == UNKNOWN
    assert "2 processes could not be read" in o.leak.reason
    ignored = verdict(pshm(), unreadable=2, ignore=True)
    assert ignored.leak is not None and ignored.leak.status == LEAK


def test_the_kernels_answer_decides_where_processes_are_unreadable() -> None:
    nobody_holds = verdict(pshm(in_use=False), unreadable=3)
    assert nobody_holds.leak is not None and nobody_holds.leak.status == LEAK
    assert NOBODY_HOLDS in nobody_holds.leak.evidence
    assert verdict(pshm(in_use=True), unreadable=3).leak is None  # a hidden process holds it
    assert verdict(pshm(in_use=True)).leak is None  # opened since the scan, or another pid ns
    why = "a write lease is only granted to the file's owner or with CAP_LEASE"
    refused = verdict(pshm(in_use_why=why), unreadable=3)
    assert refused.leak is not None and refused.leak.status == UNKNOWN
    assert refused.leak.reason.endswith(f"and the kernel would not say ({why})")
    q = PosixMq(id="/q", name="/q", messages=2, bytes=10, ctime=NOW - HOUR, in_use=False)
    assert verdict(q, unreadable=1).leak.status == LEAK  # type: ignore[union-attr]
    assert verdict(evolve(q, in_use=True), unreadable=1).leak is None
    empty = PosixMq(id="/e", name="/e", messages=0, bytes=0, in_use=False)
    assert verdict(empty, unreadable=1).leak is None  # an empty queue is never a leak


def test_unknown_names_what_was_refused_without_root_advice() -> None:
    refused = Snapshot(taken_at=NOW, hostname="test", objects=(pshm(),),
                       unreadable=Unreadable(1, ("/proc/1/fd: Permission denied",)))
    (o,) = judge(refused, now=NOW, alive=nobody).objects
    assert o.leak is not None and o.leak.status == UNKNOWN
    blind = o.leak.evidence[-1]
    assert "1 unreadable process (/proc/1/fd: Permission denied)" in blind
    assert "--ignore-unreadable" in blind and "root" not in blind


def test_never_attached_segment_says_when_it_was_created() -> None:
    seg = SysvShm(id="9", key="0x00000000", size=4096, nattch=0, cpid=77, lpid=0,
                  ctime=NOW - 120)
    o = verdict(seg)
    assert o.leak is not None and o.leak.status == LEAK
    assert "nattch 0, never attached, created 2m ago" in o.leak.evidence


def test_an_age_under_a_minute_reads_less_than_a_minute() -> None:
    # Worded in seconds, a young object's reason changed at every poll.
    for age in (0.0, 1.0, 12.0, 59.0):
        seg = SysvShm(id="9", key="0x00000000", size=4096, nattch=0, cpid=77, lpid=0,
                      ctime=NOW - age)
        o = verdict(seg)
        assert o.leak is not None
        assert "nattch 0, never attached, created less than a minute ago" in o.leak.evidence
    o = verdict(SysvShm(id="9", key="0x00000000", size=4096, nattch=0, cpid=77, lpid=0,
                        ctime=NOW - 60))
    assert o.leak is not None and "nattch 0, never attached, created 1m ago" in o.leak.evidence


def test_posix_sem_unused_is_a_leak() -> None:
    o = verdict(PosixSem(id="/s", name="/s", path="/dev/shm/sem.s", size=32, ctime=NOW - 60))
    assert o.leak is not None and o.leak.status == LEAK and o.leak.reclaim_bytes == 32


def test_posix_mq_with_messages_and_no_holder_is_a_leak() -> None:
    q = PosixMq(id="/q", name="/q", messages=4, bytes=40, ctime=NOW - 60)
    o = verdict(q)
    assert o.leak is not None and o.leak.status == LEAK and o.leak.reclaim_bytes == 40
    assert verdict(PosixMq(id="/q", name="/q", messages=0, bytes=0)).leak is None
    held = PosixMq(id="/q", name="/q", messages=4, bytes=40,
                   users=(User(pid=5, comm="c", fd=3, access="r"),))
    assert verdict(held).leak is None


# ------------------------------------------------------------------------------ pipes


def test_pipe_writer_without_reader_is_a_leak() -> None:
    p = Pipe(id="123", users=(User(pid=50, comm="yes", fd=1, access="w"),))
    o = verdict(p, processes=(proc(50, comm="yes"),))
    assert o.leak is not None and o.leak.status == LEAK and "50/yes" in o.leak.reason


def test_pipe_with_reader_or_unknown_direction_is_not_a_leak() -> None:
    both = Pipe(id="1", users=(User(pid=50, comm="a", fd=1, access="w"),
                               User(pid=51, comm="b", fd=0, access="r")))
    assert verdict(both).leak is None
    unsure = Pipe(id="2", users=(User(pid=50, comm="a", fd=1, access="w"),
                                 User(pid=51, comm="b", fd=0, access=None)))
    assert verdict(unsure).leak is None


def test_full_pipe_with_stopped_reader_is_a_leak_running_reader_is_not() -> None:
    users = (User(pid=50, comm="w", fd=1, access="w"), User(pid=51, comm="r", fd=0, access="r"))
    full = Pipe(id="9", users=users, bytes=65536, capacity=65536)
    stopped = verdict(full, processes=(proc(50), proc(51, state="T")))
    assert stopped.leak is not None and stopped.leak.status == LEAK
    assert stopped.leak.reclaim_bytes == 65536
    assert verdict(full, processes=(proc(50), proc(51, state="S"))).leak is None
    half = Pipe(id="9", users=users, bytes=100, capacity=65536)
    assert verdict(half, processes=(proc(50), proc(51, state="T"))).leak is None


def test_fifo_writer_without_reader_unknown_when_unreadable() -> None:
    f = Fifo(id="/tmp/f", name="/tmp/f", path="/tmp/f",
             users=(User(pid=50, comm="w", fd=4, access="w"),))
    assert verdict(f, unreadable=1).leak is not None
    assert verdict(f, unreadable=1).leak.status == UNKNOWN  # type: ignore[union-attr]
    assert verdict(f).leak.status == LEAK  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ helpers


def test_find_leaks_filter_min_age_and_order() -> None:
    objs = (
        pshm(id="/a_small", name="/a_small", path="/dev/shm/a_small", size=10,
             ctime=NOW - 10),
        pshm(id="/a_big", name="/a_big", path="/dev/shm/a_big", size=1000, ctime=NOW - HOUR),
        pshm(id="/other", name="/other", path="/dev/shm/other", size=5, ctime=NOW - HOUR),
        shm(dest=True, nattch=1),
    )
    s = judge(snap(*objs), alive=nobody)
    names = [o.id for o in find_leaks(s)]
    assert names == ["/a_big", "/a_small", "/other", "10"]  # leaks by size, then pending
    assert [o.id for o in find_leaks(s, filter_text="A_")] == ["/a_big", "/a_small"]
    assert [o.id for o in find_leaks(s, filter_text="a_", min_age=60)] == ["/a_big"]
    assert [o.id for o in find_leaks(s, statuses=(PENDING,))] == ["10"]
    assert reclaimable_bytes(find_leaks(s)) == 1015


def test_filter_matches_identity_not_kind_or_owner() -> None:
    o = pshm(owner="alice")
    assert matches(o, "psm_1") and matches(o, "/DEV/SHM/psm")
    assert not matches(o, "posix_shm") and not matches(o, "alice")
    assert matches(shm(), "0x0000ab")


def test_leak_dict_has_the_documented_fields() -> None:
    o = judge(snap(pshm(owner="root", uid=0, mode="0600")), alive=nobody).objects[0]
    d = leak_dict(o, NOW)
    assert d["kind"] == "posix_shm" and d["id"] == "/psm_1" and d["name"] == "/psm_1"
    assert d["status"] == "leak" and d["reclaim_bytes"] == 65536 and d["size"] == 65536
    assert d["owner"] == "root" and d["age"] == HOUR and d["removable"] is True
    assert isinstance(d["reason"], str) and d["evidence"]


def test_snapshot_json_carries_the_leak_field() -> None:
    s = judge(snap(pshm(), pshm(id="/u", name="/u", path="/dev/shm/u",
                                users=(User(pid=1, comm="x"),))), alive=nobody)
    objs = s.to_dict()["objects"]
    assert objs[0]["leak"]["reason"] and objs[0]["leak"]["reclaim_bytes"] == 65536
    assert objs[1]["leak"] is None


def test_recheck_refuses_changed_reused_or_back_in_use_objects() -> None:
    old = judge(snap(shm()), alive=nobody).objects[0]
    assert recheck(old, judge(snap(shm()), alive=nobody)) is None
    used = judge(snap(shm(nattch=1, users=(User(pid=8, comm="db", via="map"),))),
                 alive=nobody)
    assert recheck(old, used) == "back in use by 8/db"
    detached_again = judge(snap(shm(dtime=NOW - 1)), alive=nobody)
    assert recheck(old, detached_again) == "used or changed since it was listed"
    new_key = judge(snap(shm(key="0x00000001")), alive=nobody)
    assert recheck(old, new_key) == "a different object now has that id or name"
    assert recheck(old, snap()) == "gone already"
    assert recheck(old, judge(snap(shm()), alive=nobody), filter_text="zzz") == \
        "no longer matches the filter"


def test_posix_mq_age_is_last_send_or_receive_not_ctime() -> None:
    # Reading /dev/mqueue/NAME (as every snapshot does) moves the file's ctime: use mtime.
    q = PosixMq(id="/q", name="/q", messages=1, bytes=3, ctime=NOW - 1, mtime=NOW - HOUR)
    assert since(q) == NOW - HOUR
    s = judge(snap(q), alive=nobody)
    assert [o.id for o in find_leaks(s, min_age=HOUR / 2)] == ["/q"]
    assert since(PosixMq(id="/q", messages=1, ctime=NOW - 5)) == NOW - 5
