"""The leak rules on real kernel objects: each leak produced for real (a child that creates and
exits, a SIGKILLed holder, a segment removed while a live process holds it) beside objects that
look alike but are in use, each judged on a fresh snapshot.

Processes ipctop cannot read make objects judged by their users "unknown" (never a leak). On this
machine even root cannot read pid 1, so the tests of those kinds judge with
``ignore_unreadable=True`` and one test checks the strict default on the same real object.
Every test creates uniquely named objects, asserts only about those, and removes them at the end,
also on failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import signal
from collections.abc import Callable
from pathlib import Path

import posix_ipc
import sysv_ipc
from conftest import Cleanup, Spawn, run_and_exit, unique_key, unique_name

from ipctop.kinds import Pipe
from ipctop.leaks import LEAK, NOBODY_HOLDS, PENDING, UNKNOWN, judge
from ipctop.model import IpcObject, Kind, Snapshot, evolve
from ipctop.snapshot import take


def judged(kind: Kind, *, ignore_unreadable: bool = True) -> Snapshot:
    return judge(take(kinds={kind}), ignore_unreadable=ignore_unreadable)


def find(snap: Snapshot, kind: Kind, ident: str) -> IpcObject:
    for o in snap.objects:
        if o.kind is kind and o.id == ident:
            return o
    raise AssertionError(f"{kind.value} {ident} not in the snapshot")


def status(obj: IpcObject) -> str | None:
    return None if obj.leak is None else obj.leak.status


# ------------------------------------------------------------------------------ SysV shm


def _rm_shm(shmid: int) -> None:
    sysv_ipc.remove_shared_memory(shmid)


def test_sysv_shm_creator_exited_is_a_leak(cleanup: Cleanup) -> None:
    key = unique_key()

    def body() -> bytes:
        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=65536)
        m.write(b"x" * 65536)
        m.detach()
        return str(m.id).encode()

    shmid = int(run_and_exit(body))
    cleanup(lambda: _rm_shm(shmid))
    o = find(judged(Kind.SYSV_SHM, ignore_unreadable=False), Kind.SYSV_SHM, str(shmid))
    assert status(o) == LEAK
    assert o.leak is not None and "creator" in o.leak.reason and "gone" in o.leak.reason
    assert o.leak.reclaim_bytes >= 65536  # touched: resident (or swapped)


def test_sysv_shm_creator_alive_or_attached_is_not_a_leak(spawn: Spawn,
                                                          cleanup: Cleanup) -> None:
    k1, k2 = unique_key(), unique_key()

    def detached_but_alive() -> bytes:
        m = sysv_ipc.SharedMemory(k1, sysv_ipc.IPC_CREX, size=4096)
        m.detach()
        return str(m.id).encode()

    def attached() -> bytes:
        m = sysv_ipc.SharedMemory(k2, sysv_ipc.IPC_CREX, size=4096)
        return str(m.id).encode()

    id1 = int(spawn(detached_but_alive).report)
    cleanup(lambda: _rm_shm(id1))
    holder = spawn(attached)
    id2 = int(holder.report)
    cleanup(lambda: _rm_shm(id2))
    snap = judged(Kind.SYSV_SHM, ignore_unreadable=False)
    assert status(find(snap, Kind.SYSV_SHM, str(id1))) is None
    attached_obj = find(snap, Kind.SYSV_SHM, str(id2))
    assert holder.pid in attached_obj.pids
    assert status(attached_obj) is None


def test_sysv_shm_sigkilled_holder_leaves_a_leak(spawn: Spawn, cleanup: Cleanup) -> None:
    key = unique_key()

    def body() -> bytes:
        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=8192)
        m.write(b"y" * 8192)
        return str(m.id).encode()

    child = spawn(body)
    shmid = int(child.report)
    cleanup(lambda: _rm_shm(shmid))
    assert status(find(judged(Kind.SYSV_SHM), Kind.SYSV_SHM, str(shmid))) is None
    child.stop()  # SIGKILL
    o = find(judged(Kind.SYSV_SHM), Kind.SYSV_SHM, str(shmid))
    assert status(o) == LEAK


def test_dest_segment_held_by_live_process_is_pending_removal(spawn: Spawn) -> None:
    key = unique_key()

    def body() -> bytes:
        m = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        m.remove()  # IPC_RMID while attached: the common idiom
        return str(m.id).encode()

    child = spawn(body)
    shmid = str(int(child.report))
    o = find(judged(Kind.SYSV_SHM), Kind.SYSV_SHM, shmid)
    assert status(o) == PENDING
    assert o.leak is not None and f"{child.pid}/" in o.leak.reason
    child.stop()  # the kernel frees it now
    assert all(x.id != shmid for x in take(kinds={Kind.SYSV_SHM}).objects)


# ------------------------------------------------------------------------------ SysV msg, sem


def gone_and_live(spawn: Spawn, cleanup: Cleanup, make: Callable[[int], Callable[[], bytes]],
                  remove: Callable[[int], object]) -> tuple[int, int]:
    """The SysV ids of two objects made by ``make(key)()``: one in a child that exited, one in a
    child still alive; both removed with ``remove(id)`` at teardown."""
    gone = int(run_and_exit(make(unique_key())))
    cleanup(lambda: remove(gone))
    live = int(spawn(make(unique_key())).report)
    cleanup(lambda: remove(live))
    return gone, live


def test_sysv_msg_with_messages_and_sender_gone_is_a_leak(spawn: Spawn,
                                                         cleanup: Cleanup) -> None:
    def send(key: int) -> Callable[[], bytes]:
        def body() -> bytes:
            q = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX)
            q.send(b"hello")
            q.send(b"world!")
            return str(q.id).encode()
        return body

    gone, live = gone_and_live(spawn, cleanup, send, sysv_ipc.remove_message_queue)
    snap = judged(Kind.SYSV_MSG, ignore_unreadable=False)
    leaked = find(snap, Kind.SYSV_MSG, str(gone))
    assert status(leaked) == LEAK
    assert leaked.leak is not None and leaked.leak.reclaim_bytes == 11
    assert "never read" in leaked.leak.reason
    assert status(find(snap, Kind.SYSV_MSG, str(live))) is None


def test_sysv_sem_last_operator_gone_is_a_leak(spawn: Spawn, cleanup: Cleanup) -> None:
    def make(key: int) -> Callable[[], bytes]:
        def body() -> bytes:
            s = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, initial_value=0)
            s.release()  # a semop: the kernel records this pid as the last operator
            return str(s.id).encode()
        return body

    gone, live = gone_and_live(spawn, cleanup, make, sysv_ipc.remove_semaphore)
    snap = judged(Kind.SYSV_SEM, ignore_unreadable=False)
    assert status(find(snap, Kind.SYSV_SEM, str(gone))) == LEAK
    assert status(find(snap, Kind.SYSV_SEM, str(live))) is None


# ------------------------------------------------------------------------------ POSIX


def test_posix_shm_creator_exited_is_a_leak_held_one_is_not(spawn: Spawn,
                                                          cleanup: Cleanup) -> None:
    gone, held = f"/{unique_name()}", f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(gone))
    cleanup(lambda: posix_ipc.unlink_shared_memory(held))

    def create(name: str, keep: bool) -> Callable[[], None]:
        def body() -> None:
            m = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=3 * 4096)
            if not keep:
                m.close_fd()
        return body

    run_and_exit(create(gone, keep=False))
    holder = spawn(create(held, keep=True))
    snap = judged(Kind.POSIX_SHM)
    o = find(snap, Kind.POSIX_SHM, gone)
    assert status(o) == LEAK and o.leak is not None and o.leak.reclaim_bytes == 3 * 4096
    h = find(snap, Kind.POSIX_SHM, held)
    assert holder.pid in h.pids and status(h) is None


def test_posix_shm_orphan_is_a_leak_while_a_process_is_unreadable(spawn: Spawn,
                                                                  cleanup: Cleanup) -> None:
    """The kernel's lease probe decides where /proc is blind: an orphan is a leak, and a file
    only a hidden process maps is in use (not a leak, not unknown)."""
    import mmap

    orphan, hidden_use = f"/{unique_name()}", f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(orphan))
    cleanup(lambda: posix_ipc.unlink_shared_memory(hidden_use))
    posix_ipc.SharedMemory(orphan, posix_ipc.O_CREX, size=4096).close_fd()

    def maps_only() -> None:
        m = posix_ipc.SharedMemory(hidden_use, posix_ipc.O_CREX, size=4096)
        _keep.append(mmap.mmap(m.fd, 4096))
        m.close_fd()  # held by the mapping only

    hidden = spawn(maps_only)
    snap = take(kinds={Kind.POSIX_SHM}, hide={hidden.pid})  # judged strictly
    assert snap.unreadable.count >= 1
    assert f"/proc/{hidden.pid}/fd: hidden" in snap.unreadable.sample
    o = find(snap, Kind.POSIX_SHM, orphan)
    assert status(o) == LEAK and o.leak is not None and NOBODY_HOLDS in o.leak.evidence
    assert o.in_use is False  # type: ignore[attr-defined]
    h = find(snap, Kind.POSIX_SHM, hidden_use)
    assert h.users == () and h.in_use is True  # type: ignore[attr-defined]
    assert status(h) is None
    # Seen without the seam, the holder is a user: the same verdict, from /proc this time.
    seen = find(take(kinds={Kind.POSIX_SHM}), Kind.POSIX_SHM, hidden_use)
    assert hidden.pid in seen.pids and status(seen) is None
    # Where the kernel could not be asked, the strict verdict stays unknown and says why.
    unasked = dataclasses.replace(snap, objects=tuple(
        evolve(x, in_use=None, in_use_why="cannot open it: Permission denied")
        if x.id == orphan else x for x in snap.objects))
    u = find(judge(unasked), Kind.POSIX_SHM, orphan)
    assert status(u) == UNKNOWN and u.leak is not None
    assert "the kernel would not say (cannot open it: Permission denied)" in u.leak.reason


def test_posix_mq_orphan_with_messages_is_a_leak_while_a_process_is_unreadable(
        spawn: Spawn, cleanup: Cleanup) -> None:
    orphan, held = f"/{unique_name()}", f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_message_queue(orphan))
    cleanup(lambda: posix_ipc.unlink_message_queue(held))

    def make(name: str) -> posix_ipc.MessageQueue:
        q = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=2, max_message_size=16)
        q.send(b"stale")
        return q

    make(orphan).close()

    def holds() -> None:
        _keep.append(make(held))

    holder = spawn(holds)
    snap = take(kinds={Kind.POSIX_MQ}, hide={holder.pid})
    o = find(snap, Kind.POSIX_MQ, orphan)
    assert status(o) == LEAK and o.leak is not None and NOBODY_HOLDS in o.leak.evidence
    h = find(snap, Kind.POSIX_MQ, held)
    assert h.users == () and h.in_use is True  # type: ignore[attr-defined]
    assert status(h) is None


def test_posix_shm_mapped_by_sigkilled_holder_is_a_leak(spawn: Spawn, cleanup: Cleanup) -> None:
    import mmap

    name = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))

    def body() -> None:
        m = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096)
        mem = mmap.mmap(m.fd, 4096)
        m.close_fd()  # held by the mapping only
        mem.write(b"z" * 16)
        _keep.append(mem)

    child = spawn(body)
    before = find(judged(Kind.POSIX_SHM), Kind.POSIX_SHM, name)
    assert child.pid in before.pids and status(before) is None
    child.stop()
    assert status(find(judged(Kind.POSIX_SHM), Kind.POSIX_SHM, name)) == LEAK


_keep: list[object] = []


def test_posix_sem_unused_is_a_leak_open_one_is_not(spawn: Spawn, cleanup: Cleanup) -> None:
    gone, held = f"/{unique_name()}", f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_semaphore(gone))
    cleanup(lambda: posix_ipc.unlink_semaphore(held))

    def create(name: str, keep: bool) -> Callable[[], None]:
        def body() -> None:
            s = posix_ipc.Semaphore(name, posix_ipc.O_CREX, initial_value=1)
            if keep:
                _keep.append(s)
            else:
                s.close()
        return body

    run_and_exit(create(gone, keep=False))
    holder = spawn(create(held, keep=True))
    snap = judged(Kind.POSIX_SEM)
    assert status(find(snap, Kind.POSIX_SEM, gone)) == LEAK
    h = find(snap, Kind.POSIX_SEM, held)
    assert holder.pid in h.pids and status(h) is None


def test_posix_mq_with_messages_no_holder_is_a_leak(spawn: Spawn, cleanup: Cleanup) -> None:
    full, empty, held = (f"/{unique_name()}" for _ in range(3))
    for n in (full, empty, held):
        cleanup(lambda n=n: posix_ipc.unlink_message_queue(n))  # type: ignore[misc]

    def create(name: str, messages: int, keep: bool) -> Callable[[], None]:
        def body() -> None:
            q = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=4,
                                       max_message_size=64)
            for i in range(messages):
                q.send(f"m{i}".encode())
            if keep:
                _keep.append(q)
            else:
                q.close()
        return body

    run_and_exit(create(full, 3, keep=False))
    run_and_exit(create(empty, 0, keep=False))
    holder = spawn(create(held, 2, keep=True))
    snap = judged(Kind.POSIX_MQ)
    o = find(snap, Kind.POSIX_MQ, full)
    assert status(o) == LEAK and o.leak is not None and "3 messages" in o.leak.reason
    assert o.leak.reclaim_bytes == 6  # QSIZE: "m0" "m1" "m2"
    assert status(find(snap, Kind.POSIX_MQ, empty)) is None
    h = find(snap, Kind.POSIX_MQ, held)
    assert holder.pid in h.pids and status(h) is None


# ------------------------------------------------------------------------------ pipes, FIFOs


def test_pipe_writer_without_reader_is_a_leak_with_reader_is_not() -> None:
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.close(r1)  # w1: a writer nobody can read
        snap = judged(Kind.PIPE)
        lonely = find(snap, Kind.PIPE, str(os.fstat(w1).st_ino))
        assert status(lonely) == LEAK and os.getpid() in lonely.pids
        assert status(find(snap, Kind.PIPE, str(os.fstat(w2).st_ino))) is None
    finally:
        for fd in (w1, r2, w2):
            os.close(fd)


def _fill(fd: int) -> int:
    """Write into a pipe until it is full; return the bytes written."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    total = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            total += os.write(fd, b"\0" * 4096)
    return total


def test_full_pipe_with_stopped_reader_is_a_leak_running_reader_is_not(spawn: Spawn) -> None:
    pipes = [os.pipe(), os.pipe()]
    children = []
    for r, w in pipes:
        def body(w: int = w) -> None:
            os.close(w)  # the child keeps only the read end
        children.append(spawn(body))
        os.close(r)
    try:
        for _r, w in pipes:
            assert _fill(w) > 0
        stopped = children[0]
        os.kill(stopped.pid, signal.SIGSTOP)
        os.waitpid(stopped.pid, os.WUNTRACED)  # returns once it is stopped
        snap = judged(Kind.PIPE)
        full_stopped = find(snap, Kind.PIPE, str(os.fstat(pipes[0][1]).st_ino))
        assert isinstance(full_stopped, Pipe)
        assert full_stopped.capacity and full_stopped.bytes == full_stopped.capacity
        assert status(full_stopped) == LEAK
        assert full_stopped.leak is not None and f"{stopped.pid}/" in full_stopped.leak.reason
        full_running = find(snap, Kind.PIPE, str(os.fstat(pipes[1][1]).st_ino))
        assert isinstance(full_running, Pipe)
        assert full_running.bytes == full_running.capacity
        assert status(full_running) is None
    finally:
        for _r, w in pipes:
            os.close(w)


def test_fifo_writer_without_reader_is_a_leak(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    wfd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        with_reader = find(judged(Kind.FIFO), Kind.FIFO, str(path))
        assert status(with_reader) is None
        os.close(rfd)
        rfd = -1
        alone = find(judged(Kind.FIFO), Kind.FIFO, str(path))
        assert status(alone) == LEAK and alone.leak is not None
        assert alone.leak.reason.startswith("FIFO written by")
    finally:
        os.close(wfd)
        if rfd >= 0:
            os.close(rfd)


def test_proc_alive_start_times_zombies_and_gone() -> None:
    import time

    from ipctop.liveness import proc_alive

    alive = proc_alive()
    me = alive(os.getpid())
    assert me is not None and 0 < me <= time.time() + 1
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        # Not reaped yet: a zombie, or gone once reaped; either way it holds nothing.
        while True:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        assert alive(pid) is None
    finally:
        os.waitpid(pid, 0)
    assert alive(pid) is None
    assert alive(0) is None and alive(-1) is None
