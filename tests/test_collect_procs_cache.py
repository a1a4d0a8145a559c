"""collect.procs.ScanCache and snapshot.LiveTake: the TUI's incremental scan.

A process is read again only if it may have changed. Each test makes a process change in one of
the ways that matter (it runs and opens a pipe; a second thread does; it is sent a blocked
signal; someone else removes the /dev/shm file it maps; it exits; its pid is reused) and checks
the cached scan sees the change as a fresh scan does, while an idle process is reused. Fixture
trees stand in for what a live test cannot arrange (a reused pid, a process in D state).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sysv_ipc
from conftest import unique_key, unique_name
from test_collect_procs import MAPS, fdinfo, make_pid, make_proc, stat_text, status_text

from ipctop.collect.procs import ProcScan, ScanCache, scan
from ipctop.model import Kind, Snapshot, User
from ipctop.snapshot import LiveTake, take


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached(proc: Path, cache: ScanCache, *, live: bool = False) -> ProcScan:
    cache.begin()
    return scan(proc, live=live, cache=cache)


def same(a: ProcScan, b: ProcScan, pids: set[int] | None = None) -> None:
    """The two scans agree on ``pids`` (all when None): processes, fds, maps, in order."""
    keep = (lambda pid: True) if pids is None else (lambda pid: pid in pids)
    assert {k: v for k, v in a.processes.items() if keep(k)} == \
        {k: v for k, v in b.processes.items() if keep(k)}
    assert [f for f in a.fds if keep(f.pid)] == [f for f in b.fds if keep(f.pid)]
    assert [m for m in a.maps if keep(m.pid)] == [m for m in b.maps if keep(m.pid)]


# --------------------------------------------------------------------------- fixture trees


def make(proc: Path, pid: int, sched: str = "1000 20 3\n", **kwargs: Any) -> Path:
    """A fixture /proc/PID (see test_collect_procs.make_pid) with a schedstat."""
    pid_dir = make_pid(proc, pid, **kwargs)
    (pid_dir / "schedstat").write_text(sched)
    return pid_dir


def test_unchanged_processes_are_reused(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make(proc, 100, fds={3: "pipe:[7]"}, fdinfo={3: fdinfo(0)})
    make(proc, 200, fds={4: "socket:[8]"})
    cache = ScanCache(clock=Clock())
    first = cached(proc, cache)
    assert (cache.read, cache.reused) == (2, 0)
    second = cached(proc, cache)
    assert (cache.read, cache.reused) == (0, 2)
    same(first, second)
    same(second, scan(proc, live=False))


def test_process_that_ran_is_read_again(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    pid_dir = make(proc, 100, fds={3: "pipe:[7]"}, fdinfo={3: fdinfo(0)})
    make(proc, 200)
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    (pid_dir / "schedstat").write_text("1900 20 4\n")  # it ran: and opened a pipe
    os.symlink("pipe:[9]", pid_dir / "fd" / "5")
    (pid_dir / "fdinfo" / "5").write_text(fdinfo(1))
    result = cached(proc, cache)
    assert (cache.read, cache.reused) == (1, 1)
    assert sorted(f.target for f in result.fds if f.pid == 100) == ["pipe:[7]", "pipe:[9]"]
    same(result, scan(proc, live=False))


def test_status_is_compared_where_a_signal_can_wait(tmp_path: Path) -> None:
    """A process that blocks a signal is not woken by it: its status decides. One that does not
    block any would run to take it, so its schedstat is enough (the status change here is one
    the kernel would not make without it running, to show that it is not looked at)."""
    proc = make_proc(tmp_path / "proc")
    make(proc, 100, status=status_text(sigblk=1 << 9))
    make(proc, 200)
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    (proc / "100" / "status").write_text(status_text(sigblk=1 << 9, shdpnd=1 << 9))
    (proc / "200" / "status").write_text(status_text(shdpnd=1 << 9))
    result = cached(proc, cache)
    assert (cache.read, cache.reused) == (1, 1)
    assert result.processes[100].signals.pending == ("SIGUSR1",)
    assert result.processes[200].signals.pending == ()


@pytest.mark.parametrize("state", ["D", "T"])
def test_status_is_compared_for_a_process_that_cannot_take_a_signal_now(
    tmp_path: Path, state: str,
) -> None:
    proc = make_proc(tmp_path / "proc")
    make(proc, 100, stat=stat_text(100, state=state))
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    (proc / "100" / "status").write_text(status_text(shdpnd=1 << 14))
    result = cached(proc, cache)
    assert result.processes[100].signals.pending == ("SIGTERM",)


def test_reused_pid_is_read_again(tmp_path: Path) -> None:
    """Same pid, same schedstat text, but another /proc/PID: another process."""
    proc = make_proc(tmp_path / "proc")
    make(proc, 100, fds={3: "pipe:[7]"}, fdinfo={3: fdinfo(0)})
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    shutil.rmtree(proc / "100")
    (proc / "placeholder").mkdir()  # keep the old inode numbers from being handed out again
    (proc / "placeholder" / "schedstat").write_text("")
    make(proc, 100, fds={3: "pipe:[99]"}, fdinfo={3: fdinfo(0)})
    result = cached(proc, cache)
    assert (cache.read, cache.reused) == (1, 0)
    assert [f.target for f in result.fds] == ["pipe:[99]"]


def test_gone_process_is_dropped(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make(proc, 100, fds={3: "pipe:[7]"}, fdinfo={3: fdinfo(0)})
    make(proc, 200)
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    shutil.rmtree(proc / "100")
    result = cached(proc, cache)
    assert sorted(result.processes) == [200] and result.fds == ()
    assert sorted(cache.seen) == [200]


def test_what_could_not_be_read_is_reported_again(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make(proc, 100)
    make(proc, 300, maps=MAPS.replace("00:19 777", "0019 777"))
    cache = ScanCache(clock=Clock())
    first = cached(proc, cache)
    second = cached(proc, cache)
    assert cache.reused == 2
    assert first.unreadable == second.unreadable
    assert second.unreadable.count == 1 and second.unreadable.sample[0].startswith(
        f"{proc}/300/maps:3:")


def test_no_schedstat_means_read_every_time(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 100)
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    cached(proc, cache)
    assert (cache.read, cache.reused) == (1, 0)


def test_every_thread_decides_for_a_multithreaded_process(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    pid_dir = make(proc, 100, status=status_text().replace("Threads:\t1", "Threads:\t2"),
                   fds={3: "pipe:[7]"}, fdinfo={3: fdinfo(0)})
    for tid, text in ((100, "5 6 7\n"), (101, "1 2 3\n")):
        (pid_dir / "task" / str(tid)).mkdir(parents=True)
        (pid_dir / "task" / str(tid) / "schedstat").write_text(text)
    cache = ScanCache(clock=Clock())
    cached(proc, cache)
    cached(proc, cache)
    assert cache.reused == 1
    (pid_dir / "task" / "101" / "schedstat").write_text("9 2 4\n")  # thread 101 ran
    os.symlink("pipe:[8]", pid_dir / "fd" / "4")
    (pid_dir / "fdinfo" / "4").write_text(fdinfo(1))
    result = cached(proc, cache)
    assert (cache.read, cache.reused) == (1, 0)
    assert sorted(f.target for f in result.fds) == ["pipe:[7]", "pipe:[8]"]
    shutil.rmtree(pid_dir / "task")  # unreadable threads: never reused
    cached(proc, cache)
    cached(proc, cache)
    assert cache.read == 1


def test_full_scan_every_interval_and_on_new_identity(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make(proc, 100)
    clock = Clock()
    cache = ScanCache(full_every=60.0, clock=clock)
    cached(proc, cache)
    clock.now += 59
    cached(proc, cache)
    assert cache.reused == 1
    clock.now += 2
    cached(proc, cache)
    assert (cache.read, cache.reused) == (1, 0)
    cache.begin(("another", "set of objects"))
    scan(proc, live=False, cache=cache)
    assert (cache.read, cache.reused) == (1, 0)


# --------------------------------------------------------------------------- real processes


class Commanded:
    """A forked child that does what it is told, between polls, in its main thread or a second
    one: "p" opens a pipe (and keeps it), "k" blocks SIGUSR1, "m" maps a file shared."""

    def __init__(self, *, in_thread: bool, path: str | None = None) -> None:
        self.cmd_r, self.cmd_w = os.pipe()
        self.ack_r, self.ack_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(self.cmd_w)
                os.close(self.ack_r)
                if in_thread:
                    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
                    threading.Thread(target=self._serve, args=(path,), daemon=True).start()
                    threading.Event().wait()  # the main thread sleeps from here on
                else:
                    self._serve(path)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(self.cmd_r)
        os.close(self.ack_w)
        assert os.read(self.ack_r, 1) == b"+"
        self.wait_asleep()

    def _serve(self, path: str | None) -> None:  # pragma: no cover - the child
        keep: list[object] = []
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        os.write(self.ack_w, b"+")
        while command := os.read(self.cmd_r, 1):
            if command == b"p":
                keep.append(os.pipe())
            elif command == b"m" and path is not None:
                fd = os.open(path, os.O_RDWR)
                keep.append(mmap.mmap(fd, 4096, mmap.MAP_SHARED))
                os.close(fd)
            os.write(self.ack_w, b"+")
        os._exit(0)

    def do(self, command: bytes) -> None:
        os.write(self.cmd_w, command)
        assert os.read(self.ack_r, 1) == b"+"
        self.wait_asleep()

    def wait_asleep(self) -> None:
        """Wait until every thread of the child sleeps (waits for the next command). Having
        answered, it still runs for a moment, longer on a busy machine: a scan then reads
        state R, and the next one S, a real change between the two scans (a cached scan
        compared with a fresh one differed by it)."""
        deadline = time.monotonic() + 10
        while True:
            states = set()
            for tid in os.listdir(f"/proc/{self.pid}/task"):
                with contextlib.suppress(FileNotFoundError), \
                        open(f"/proc/{self.pid}/task/{tid}/stat") as stat:
                    states.add(stat.read().rpartition(")")[2].split()[0])
            if states == {"S"}:
                return
            assert time.monotonic() < deadline, f"child {self.pid} still {states} after 10 s"
            time.sleep(0.001)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.cmd_w)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.ack_r)


@pytest.fixture
def commanded() -> Iterator[Callable[..., Commanded]]:
    children: list[Commanded] = []

    def start(*, in_thread: bool = False, path: str | None = None) -> Commanded:
        children.append(Commanded(in_thread=in_thread, path=path))
        return children[-1]

    yield start
    for child in children:
        child.stop()


def pipes_of(result: ProcScan, pid: int) -> int:
    return sum(1 for f in result.fds if f.pid == pid and f.target.startswith("pipe:["))


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "second-thread"])
def test_live_process_that_opens_a_pipe_is_read_again(
    commanded: Callable[..., Commanded], in_thread: bool,
) -> None:
    child = commanded(in_thread=in_thread)
    idle = commanded()
    cache = ScanCache()
    cache.begin()
    first = scan(cache=cache)
    before = pipes_of(first, child.pid)
    idle_entry, child_entry = cache.seen[idle.pid], cache.seen[child.pid]
    cache.begin()
    scan(cache=cache)
    assert cache.seen[idle.pid] is idle_entry and cache.seen[child.pid] is child_entry
    child.do(b"p")
    cache.begin()
    result = scan(cache=cache)
    assert pipes_of(result, child.pid) == before + 2
    same(result, scan(), {child.pid, idle.pid})


def test_blocked_signal_sent_to_a_sleeping_process_shows(
    commanded: Callable[..., Commanded],
) -> None:
    child = commanded()
    cache = ScanCache()
    cache.begin()
    assert scan(cache=cache).processes[child.pid].signals.pending == ()
    os.kill(child.pid, signal.SIGUSR1)  # blocked: it stays pending, the child does not run
    cache.begin()
    result = scan(cache=cache)
    assert result.processes[child.pid].signals.pending == ("SIGUSR1",)
    assert "SIGUSR1" in result.processes[child.pid].signals.blocked


def test_live_take_sees_dev_shm_file_removed_under_a_sleeping_process(
    commanded: Callable[..., Commanded],
) -> None:
    name = unique_name()
    path = f"/dev/shm/{name}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.ftruncate(fd, 4096)
    os.close(fd)
    try:
        child = commanded(path=path)
        child.do(b"m")
        other = commanded(path=path)  # a shared mapping is listed once two processes map it
        other.do(b"m")
        live = LiveTake()
        kinds = {Kind.POSIX_SHM, Kind.SHARED_MAPPING}
        first = live()
        shm = [o for o in first.of_kind(Kind.POSIX_SHM) if o.id == f"/{name}"]
        # mmap keeps a dup of its fd
        assert {u.pid for u in shm[0].users} == {child.pid, other.pid}
        for _ in range(60):  # other suites creating /dev/shm files or SysV ids meanwhile
            live()           # make the cache start afresh: poll until it reuses
            if live.cache.reused:
                break
            time.sleep(0.05)
        assert live.cache.reused > 0
        os.unlink(path)
        after = live()
        assert not [o for o in after.of_kind(Kind.POSIX_SHM) if o.id == f"/{name}"]
        gone = [o for o in after.of_kind(Kind.SHARED_MAPPING) if o.id == path]
        assert len(gone) == 1 and getattr(gone[0], "deleted", None) is True
        assert {u.pid for u in gone[0].users} == {child.pid, other.pid}
        fresh = [o for o in take(kinds=kinds).objects if o.id == path]
        assert fresh == [o for o in after.objects if o.id == path and o.kind in kinds]
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def test_live_take_hands_out_the_same_instance_for_an_unchanged_object() -> None:
    queue = sysv_ipc.MessageQueue(unique_key(), sysv_ipc.IPC_CREX, 0o600, max_message_size=64)
    try:
        live = LiveTake()
        ident = str(queue.id)

        def mine() -> object:
            return next(o for o in live().of_kind(Kind.SYSV_MSG) if o.id == ident)

        first = mine()
        assert mine() is first
        queue.send(b"x")
        changed = mine()
        assert changed is not first and getattr(changed, "messages", None) == 1
    finally:
        queue.remove()


def test_live_take_joins_like_take_after_a_change(commanded: Callable[..., Commanded]) -> None:
    """Users remembered from the previous poll must give way when a holder changed."""
    child = commanded()
    live = LiveTake()
    kinds = {Kind.PIPE}

    def pipes_of_child(snap: Snapshot) -> dict[str, tuple[User, ...]]:
        return {o.id: o.users for o in snap.of_kind(Kind.PIPE)
                if any(u.pid == child.pid for u in o.users)}

    live()
    before = pipes_of_child(live())
    child.do(b"p")
    after = pipes_of_child(live())
    assert len(after) == len(before) + 1
    assert after == pipes_of_child(take(kinds=kinds))
