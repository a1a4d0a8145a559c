"""collect.poll_memo: what a polling program keeps between polls, and that changes still show.

Each cache is checked the same way: a poll that reuses, then a change of the kind the cache's
signal must catch, and the next poll sees it (as a fresh ``take()`` does). The lease probes are
kept per file and asked only while some process is unreadable (``hide=`` makes one so).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import posix_ipc
import pytest
import sysv_ipc
from conftest import Cleanup, Spawn, unique_key, unique_name

from ipctop.collect import posix, sysv
from ipctop.collect.poll_memo import NOT_YET, Kept, PollMemo, ProbeMemo
from ipctop.collect.procfs import FdUse, MapUse
from ipctop.collect.scan_cache import ScanCache, Seen
from ipctop.kinds import PosixShm, SysvShm
from ipctop.leaks import IGNORE_UNREADABLE_ENV
from ipctop.model import IpcObject, Kind, Process, Snapshot
from ipctop.safepath import Probe
from ipctop.snapshot import LiveTake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def find(snap: Snapshot, kind: Kind, ident: str) -> IpcObject:
    return next(o for o in snap.objects if o.kind is kind and o.id == ident)


def shm_file(cleanup: Cleanup, size: int = 4096) -> str:
    name = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=size).close_fd()
    return name


# --------------------------------------------------------------------------- Kept, ProbeMemo


def test_kept_holds_only_what_the_last_poll_used() -> None:
    kept: Kept[int] = Kept()
    kept.turn()
    kept.put("a", 1)
    kept.put("b", 2)
    kept.turn()
    assert kept.get("a") == 1 and kept.get("b") == 2
    kept.put("a", kept.get("a") or 0)
    kept.turn()
    assert kept.get("a") == 1 and kept.get("b") is None  # b was not used: forgotten


def test_probe_memo_keeps_answers_for_a_while_and_spends_a_budget() -> None:
    clock = Clock()
    memo = ProbeMemo(max_age=60.0, budget=2, clock=clock)
    asked: list[str] = []

    def ask(name: str) -> Callable[[], Probe]:
        return lambda: asked.append(name) or Probe(name == "held")

    memo.begin(True)
    got = [memo.answer(n, ask(n)) for n in ("free", "held", "third")]
    assert got == [Probe(False), Probe(True), NOT_YET]
    assert (memo.asked, memo.waiting) == (2, 1)
    memo.begin(True)
    got = [memo.answer(n, ask(n)) for n in ("free", "held", "third")]
    assert got == [Probe(False), Probe(True), Probe(False)]
    assert asked == ["free", "held", "third"]  # the kept ones were not asked again
    clock.now += 61  # expired: asked again
    memo.begin(True)
    memo.answer("held", ask("held"))
    assert asked[-1] == "held"


# --------------------------------------------------------------------------- LiveTake's probes


def test_live_take_probes_only_while_blind_and_sees_a_new_file(spawn: Spawn,
                                                               cleanup: Cleanup) -> None:
    import mmap

    orphan = shm_file(cleanup)
    held = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(held))
    keep: list[object] = []

    def maps_only() -> None:
        m = posix_ipc.SharedMemory(held, posix_ipc.O_CREX, size=4096)
        keep.append(mmap.mmap(m.fd, 4096))
        m.close_fd()

    holder = spawn(maps_only)
    live = LiveTake(hide={holder.pid})
    snap = live()
    o, h = find(snap, Kind.POSIX_SHM, orphan), find(snap, Kind.POSIX_SHM, held)
    assert getattr(o, "in_use", None) is False and getattr(h, "in_use", None) is True
    assert o.leak is not None and o.leak.status == "leak"
    assert h.leak is None and h.users == ()
    # The next poll keeps the answers: no probe for them (the same time of asking).
    answers = live.cache.memo.probes.answers
    asked = {k: v[0] for k, v in answers.items() if k[2] in (o.inode, h.inode)}
    again = live()
    assert len(asked) == 2 and asked == {k: answers[k][0] for k in asked}
    assert find(again, Kind.POSIX_SHM, held) is h  # no verdict, nothing changed: one instance
    assert getattr(find(again, Kind.POSIX_SHM, orphan), "in_use", None) is False
    # A file made between polls is asked about at the next one.
    newer = shm_file(cleanup)
    assert getattr(find(live(), Kind.POSIX_SHM, newer), "in_use", None) is False


def test_live_take_asks_nothing_when_unreadable_processes_are_ignored(
        cleanup: Cleanup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged as if every process were seen (as when all are), /proc's word decides alone."""
    orphan = shm_file(cleanup)
    monkeypatch.setenv(IGNORE_UNREADABLE_ENV, "1")
    live = LiveTake()
    o = find(live(), Kind.POSIX_SHM, orphan)
    assert getattr(o, "in_use", None) is None and live.cache.memo.probes.asked == 0
    assert o.leak is not None and o.leak.status == "leak"


def test_live_take_re_asks_a_changed_file_and_spreads_the_probes(spawn: Spawn,
                                                               cleanup: Cleanup) -> None:
    names = [shm_file(cleanup) for _ in range(3)]
    hidden = spawn(lambda: None)
    live = LiveTake(hide={hidden.pid})
    probes = live.cache.memo.probes
    probes.budget = 1
    answers = []
    for _ in range(3 + 40):  # other suites' unused files compete for the same budget
        snap = live()
        answers = [getattr(find(snap, Kind.POSIX_SHM, n), "in_use", None) for n in names]
        if answers == [False] * 3:
            break
    assert answers == [False] * 3
    assert probes.asked <= 1
    # A file whose ctime moved (chmod) is a changed file: asked again at once.
    probes.budget = 200
    os.chmod(f"/dev/shm{names[0]}", 0o640)
    snap = live()
    o = find(snap, Kind.POSIX_SHM, names[0])
    assert o.mode == "0640" and getattr(o, "in_use", None) is False
    assert ("shm", getattr(o, "dev", None), getattr(o, "inode", None), o.ctime) in \
        probes.answers


# --------------------------------------------------------------------------- the scan cache


def _seen(pid: int, fds: tuple[FdUse, ...] = (), maps: tuple[MapUse, ...] = ()) -> Seen:
    return Seen(stamp=b"s", threads=1, status=None, fds=fds, maps=maps, notes=(),
                process=Process(pid=pid, ppid=1, comm="x", cmdline="x", user="root", uid=0))


def test_a_removal_forgets_only_the_processes_that_referred_to_it() -> None:
    cache = ScanCache(clock=Clock())
    file_item, mq_item, shm_item = ("file", 5, 7), ("mq", "/q"), ("shm", 42)
    held = frozenset({file_item, mq_item, shm_item})
    cache.begin("kinds", held)
    cache.seen = {
        1: _seen(1, fds=(FdUse(1, 3, "/dev/shm/x", "rw", 5, 7),)),
        2: _seen(2, fds=(FdUse(2, 3, "/q", "r", mqueue=True),)),
        3: _seen(3, maps=(MapUse(3, "/SYSV00000001", "rw-s", 1, 42, shmid=42),)),
        4: _seen(4, fds=(FdUse(4, 3, "pipe:[9]", "r"),)),
    }
    cache.begin("kinds", held | {("file", 5, 8)})  # a new object: nothing to forget
    assert set(cache.seen) == {1, 2, 3, 4}
    cache.begin("kinds", held - {file_item})
    assert set(cache.seen) == {2, 3, 4}
    cache.begin("kinds", frozenset({shm_item}))
    assert set(cache.seen) == {3, 4}
    cache.begin("other kinds", frozenset({shm_item}))
    assert cache.seen == {}


def test_an_unchanged_file_is_the_same_instance_and_a_resize_shows(cleanup: Cleanup,
                                                                   spawn: Spawn) -> None:
    name = shm_file(cleanup)
    keep: list[int] = []
    spawn(lambda: keep.append(os.open(f"/dev/shm{name}", os.O_RDONLY)) or None)  # no verdict
    live = LiveTake()
    first = find(live(), Kind.POSIX_SHM, name)
    assert find(live(), Kind.POSIX_SHM, name) is first
    os.truncate(f"/dev/shm{name}", 8192)
    grown = find(live(), Kind.POSIX_SHM, name)
    assert isinstance(grown, PosixShm) and grown.size == 8192 and grown is not first


# --------------------------------------------------------------------------- SysV rows, semctl


def _mine(live: LiveTake, kind: Kind, ident: str) -> IpcObject:
    return find(live(), kind, ident)


def test_sysv_rows_reused_until_they_change(cleanup: Cleanup) -> None:
    seg = sysv_ipc.SharedMemory(unique_key(), sysv_ipc.IPC_CREX, 0o600, size=4096)
    cleanup(seg.remove)
    seg.detach()
    live = LiveTake()
    first = _mine(live, Kind.SYSV_SHM, str(seg.id))
    assert _mine(live, Kind.SYSV_SHM, str(seg.id)) is first
    seg.attach()  # nattch, atime, lpid move: the row changed
    cleanup(seg.detach)
    attached = _mine(live, Kind.SYSV_SHM, str(seg.id))
    assert isinstance(attached, SysvShm) and attached.nattch == 1 and attached is not first
    assert os.getpid() in attached.pids
    newer = sysv_ipc.SharedMemory(unique_key(), sysv_ipc.IPC_CREX, 0o600, size=8192)
    cleanup(newer.remove)
    newer.detach()
    made = _mine(live, Kind.SYSV_SHM, str(newer.id))  # a new segment, at the next poll
    assert made.size == 8192


def test_a_changed_semaphore_value_is_seen_at_the_next_poll(cleanup: Cleanup) -> None:
    sem = sysv_ipc.Semaphore(unique_key(), sysv_ipc.IPC_CREX, 0o600, initial_value=1)
    cleanup(sem.remove)
    live = LiveTake()
    ident = str(sem.id)

    def values() -> object:
        return getattr(_mine(live, Kind.SYSV_SEM, ident), "values", None)

    assert values() == (1,)
    for step in range(2, 6):  # changes within one second of each other: otime cannot tell
        sem.release()  # semop
        assert values() == (step,)
    sem.value = 9  # SETVAL: ctime
    assert values() == (9,)
    sem.value = 3
    assert values() == (3,)
    # Settled (times older than the read): the same instance, no semctl.
    old = _mine(live, Kind.SYSV_SEM, ident)
    with mock.patch.object(sysv, "_settled", lambda *t, read_at: True):
        assert _mine(live, Kind.SYSV_SEM, ident) is old
        sem.release()  # and yet a semop shows: it moved the row's otime, or
        time.sleep(1.1)  # (the same second as the last: let the second turn)
        sem.release()
        assert getattr(_mine(live, Kind.SYSV_SEM, ident), "values", None) == (5,)


def test_semaphore_waiters_come_and_go(cleanup: Cleanup,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    sem = sysv_ipc.Semaphore(unique_key(), sysv_ipc.IPC_CREX, 0o600, initial_value=0)
    cleanup(sem.remove)
    live = LiveTake()
    ident = str(sem.id)
    assert getattr(_mine(live, Kind.SYSV_SEM, ident), "ncnt", None) == (0,)
    monkeypatch.setattr(sysv, "SEM_RECHECK", 0.2)  # a waiter moves no time the row shows
    blocked = wait_for_a_waiter(live, sem, cleanup)
    monkeypatch.setattr(sysv, "SEM_RECHECK", 3600.0)
    blocked.kill()  # the waiter leaves: a set that had waiters is always asked again
    assert getattr(_mine(live, Kind.SYSV_SEM, ident), "ncnt", None) == (0,)


def wait_for_a_waiter(live: LiveTake, sem: sysv_ipc.Semaphore, cleanup: Cleanup) -> _Blocked:
    """A child blocked on ``sem``, once ``live`` shows it waiting (within 30 s)."""
    blocked = _Blocked(sem.key)
    cleanup(blocked.kill)
    deadline = time.monotonic() + 30
    while getattr(_mine(live, Kind.SYSV_SEM, str(sem.id)), "ncnt", None) != (1,):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return blocked


class _Blocked:
    """A child blocked in semop on the first semaphore of a set."""

    def __init__(self, key: int) -> None:
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            try:
                sysv_ipc.Semaphore(key).acquire()
            finally:
                os._exit(0)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def test_a_queues_capacity_set_is_seen(cleanup: Cleanup) -> None:
    q = sysv_ipc.MessageQueue(unique_key(), sysv_ipc.IPC_CREX, 0o600)
    cleanup(q.remove)
    live = LiveTake()
    before = _mine(live, Kind.SYSV_MSG, str(q.id)).size
    q.max_size = (before or 16384) // 2  # IPC_SET, in the same second as the read
    assert _mine(live, Kind.SYSV_MSG, str(q.id)).size == (before or 16384) // 2


def test_sysv_rows_of_a_fixture_tree(tmp_path: Path) -> None:
    """The row memo on a fixture file: a row whose text changed is parsed again; the others
    are the objects of the previous poll; a new header is parsed by its own columns."""
    memo = PollMemo()
    table = tmp_path / "sysvipc" / "shm"
    table.parent.mkdir()
    head = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  "
            "cuid  cgid      atime      dtime      ctime                   rss                  "
            "swap\n")
    row = "{key:>10} {id:>10} {perms:>5} {size:>21} 100 101 {n:>6} 0 0 0 0 0 0 1700000000 {rss} 0\n"
    table.write_text(head + row.format(key=1, id=5, perms=600, size=4096, n=0, rss=0)
                     + row.format(key=2, id=6, perms=600, size=4096, n=1, rss=4096))
    memo.begin()
    a = sysv.read_shm(tmp_path, memo=memo)
    memo.begin()
    table.write_text(head + row.format(key=1, id=5, perms=600, size=4096, n=0, rss=0)
                     + row.format(key=2, id=6, perms=600, size=4096, n=2, rss=8192))
    b = sysv.read_shm(tmp_path, memo=memo)
    assert b[0] is a[0] and b[1] is not a[1]
    assert (b[1].nattch, b[1].rss) == (2, 8192)
    assert b == sysv.read_shm(tmp_path)
    memo.begin()
    table.write_text(head.replace("rss", "xyz") + row.format(key=1, id=5, perms=600,
                                                             size=4096, n=0, rss=0))
    c = sysv.read_shm(tmp_path, memo=memo)
    assert c[0] is not a[0] and c[0].rss is None  # no rss column any more


# --------------------------------------------------------------------------- /dev/shm, mqueue


def test_a_posix_semaphore_value_is_seen_at_the_next_poll(cleanup: Cleanup) -> None:
    name = f"/{unique_name()}"
    sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, initial_value=1)
    cleanup(lambda: posix_ipc.unlink_semaphore(name))  # sem.unlink() refuses once closed
    cleanup(sem.close)
    live = LiveTake()
    assert getattr(_mine(live, Kind.POSIX_SEM, name), "value", None) == 1
    sem.release()  # writes the mapped word: no stat field moves
    assert getattr(_mine(live, Kind.POSIX_SEM, name), "value", None) == 2


def test_posix_queue_messages_are_seen_at_the_next_poll(cleanup: Cleanup) -> None:
    name = f"/{unique_name()}"
    q = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=4, max_message_size=16)
    cleanup(q.unlink)
    cleanup(q.close)
    live = LiveTake()
    first = _mine(live, Kind.POSIX_MQ, name)
    assert getattr(first, "messages", None) == 0
    for n in (1, 2, 3):  # within one jiffy or one second of each other
        q.send(b"x")
        assert getattr(_mine(live, Kind.POSIX_MQ, name), "messages", None) == n
    q.receive()
    assert getattr(_mine(live, Kind.POSIX_MQ, name), "messages", None) == 2


def test_dev_shm_and_mqueue_listings_of_a_fixture_tree(tmp_path: Path) -> None:
    memo = PollMemo()
    shm = tmp_path / "shm"
    shm.mkdir()
    (shm / "a").write_bytes(b"\0" * 10)
    (shm / "b").write_bytes(b"\0" * 20)
    memo.begin()
    first = posix.read_dev_shm(tmp_path, memo=memo)
    memo.begin()
    (shm / "b").write_bytes(b"\0" * 30)
    (shm / "c").write_bytes(b"")
    second = posix.read_dev_shm(tmp_path, memo=memo)
    by_id = {o.id: o for o in second}
    assert by_id["/a"] is next(o for o in first if o.id == "/a")
    assert by_id["/b"].size == 30 and "/c" in by_id
    assert sorted(second, key=lambda o: o.id) == sorted(posix.read_dev_shm(tmp_path),
                                                       key=lambda o: o.id)
    mq = tmp_path / "mqueue"
    mq.mkdir()
    qfile = mq / "q"
    qfile.write_text("QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n")
    old = time.time() - 10
    os.utime(qfile, (old, old))
    memo.begin()
    q1 = posix.read_mqueue_dir(mq, live=False, memo=memo)
    memo.begin()
    q2 = posix.read_mqueue_dir(mq, live=False, memo=memo)
    assert q2[0] is q1[0]
    qfile.write_text("QSIZE:5          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n")
    memo.begin()
    q3 = posix.read_mqueue_dir(mq, live=False, memo=memo)
    assert q3[0].bytes == 5


# --------------------------------------------------------------------------- pipes, verdicts


def test_a_pipe_written_between_polls_is_measured_again(spawn: Spawn) -> None:
    """A pipe whose holders did not run keeps its Pipe; one whose holder wrote is read."""
    r, w = os.pipe()

    def hold_and_write() -> None:
        signal.signal(signal.SIGUSR1, lambda *_: os.write(w, b"hello"))

    child = spawn(hold_and_write)
    os.close(r)
    os.close(w)
    live = LiveTake()
    ident = next(o.id for o in live().of_kind(Kind.PIPE)
                 if {(u.pid, u.fd) for u in o.users} == {(child.pid, r), (child.pid, w)})
    for _ in range(40):  # until the child's poll-to-poll state is settled (read, then reused)
        before = find(live(), Kind.PIPE, ident)
        if find(live(), Kind.PIPE, ident) is before:
            break
    assert getattr(before, "bytes", None) == 0
    os.kill(child.pid, signal.SIGUSR1)  # it runs and writes 5 bytes
    deadline = time.monotonic() + 20
    while getattr(find(live(), Kind.PIPE, ident), "bytes", None) != 5:
        assert time.monotonic() < deadline


def test_a_verdict_follows_its_creators_death(spawn: Spawn, cleanup: Cleanup) -> None:
    """The segment's row does not change when its creator dies; its verdict must."""
    key = unique_key()

    def create() -> bytes:
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, 0o600, size=4096)
        seg.detach()
        return str(seg.id).encode()

    creator = spawn(create)
    ident = creator.report.decode()
    cleanup(lambda: sysv_ipc.remove_shared_memory(int(ident)))
    live = LiveTake()
    first = find(live(), Kind.SYSV_SHM, ident)
    assert first.leak is None and find(live(), Kind.SYSV_SHM, ident) is first
    pid = creator.pid
    creator.stop()  # killed and reaped
    leaked = find(live(), Kind.SYSV_SHM, ident)
    assert leaked.leak is not None and leaked.leak.status == "leak"
    assert f"creator {pid} is gone" in leaked.leak.reason


# --------------------------------------------------------------------------- other namespaces


@pytest.mark.skipif(os.geteuid() != 0, reason="building namespaces needs root")
def test_a_namespace_is_entered_again_only_when_a_member_ran(
        spawn: Spawn, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a helper read inside another IPC namespace is kept while its members sleep; a
    segment a member makes is listed at the next poll."""
    import threading

    from test_namespaces import ns_of, private_namespaces

    from ipctop import nsenter

    cmd_r, cmd_w = os.pipe()
    ack_r, ack_w = os.pipe()
    key = unique_key()

    def member() -> None:
        private_namespaces()

        def serve() -> None:
            while os.read(cmd_r, 1):
                seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, 0o600, size=4096)
                seg.detach()
                os.write(ack_w, str(seg.id).encode())

        threading.Thread(target=serve, daemon=True).start()

    inside = spawn(member)
    ns = ns_of(inside.pid, "ipc")
    entered: list[int] = []
    real = nsenter.run_inside

    def counting(pid: int, body: Callable[[], object], **kw: object) -> object:
        if kw.get("expect_ipc") == ns:
            entered.append(pid)
        return real(pid, body, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(nsenter, "run_inside", counting)
    live = LiveTake()
    live()
    assert entered
    for _ in range(40):  # until a poll finds every member asleep
        before = len(entered)
        live()
        if len(entered) == before:
            break
    assert len(entered) == before
    os.write(cmd_w, b"s")  # the member runs and makes a segment inside
    shmid = os.read(ack_r, 32).decode()
    snap = live()
    assert len(entered) == before + 1
    made = [o for o in snap.objects if o.kind is Kind.SYSV_SHM and o.id == shmid
            and o.ipc_ns == ns]
    assert len(made) == 1 and made[0].ns_pid == inside.pid
    for fd in (cmd_r, cmd_w, ack_r, ack_w):
        os.close(fd)
