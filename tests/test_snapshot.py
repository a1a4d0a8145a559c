"""snapshot.take: real IPC objects held by forked children, joined with the users /proc shows.

Every object is created by the test under a unique name or key and removed in a finally; the
assertions look only at those objects (other engineers' tests run on this machine at once).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import posix_ipc
import pytest
import sysv_ipc
from conftest import Spawn, run_and_exit, unique_key, unique_name
from fixtures_proc import shm_line, write_sysvipc

from ipctop.collect import pipes, posix
from ipctop.kinds import Fifo, Pipe, PosixMq, PosixSem, PosixShm, SharedMapping, SysvShm, UnixSocket
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.snapshot import natural_key, take

ME = os.getpid()
_keep: list[object] = []
"""Objects a forked child keeps alive until it is killed."""


def find(snap: Snapshot, kind: Kind, ident: str) -> IpcObject:
    found = [o for o in snap.objects if o.kind is kind and o.id == ident]
    assert len(found) == 1, f"{kind} {ident}: {len(found)} objects"
    return found[0]


def users_of(obj: IpcObject) -> set[tuple[int, int | None, str | None, str]]:
    return {(u.pid, u.fd, u.access, u.via) for u in obj.users}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


# --------------------------------------------------------------------------- pipes and FIFOs


def test_pipe_users_bytes_and_capacity(spawn: Spawn) -> None:
    r, w = os.pipe()
    try:
        def body() -> bytes:
            os.close(w)
            _keep.append(r)
            return b""

        child = spawn(body)
        os.close(r)
        os.write(w, b"hello")
        before = fd_count()
        snap = take(kinds={Kind.PIPE})
        assert fd_count() == before  # the FIONREAD opens were closed
        pipe = find(snap, Kind.PIPE, str(os.fstat(w).st_ino))
        assert isinstance(pipe, Pipe)
        assert users_of(pipe) == {(child.pid, r, "r", "fd"), (ME, w, "w", "fd")}
        assert pipe.bytes == 5
        assert pipe.capacity == _pipe_size(w)
        comms = {u.pid: u.comm for u in pipe.users}
        assert comms[ME] == snap.process(ME).comm  # type: ignore[union-attr]
        assert {ME, child.pid} <= {p.pid for p in snap.processes}
    finally:
        os.close(w)


def _pipe_size(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, pipes.F_GETPIPE_SZ)


def test_pipe_without_reader_is_not_opened(spawn: Spawn) -> None:
    r, w = os.pipe()
    os.close(r)
    try:
        snap = take(kinds={Kind.PIPE})
        pipe = find(snap, Kind.PIPE, str(os.fstat(w).st_ino))
        assert users_of(pipe) == {(ME, w, "w", "fd")}
        assert isinstance(pipe, Pipe) and pipe.bytes is None and pipe.capacity is None
    finally:
        os.close(w)


def test_fifo_reader_and_writer(tmp_path: Path, spawn: Spawn) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path, 0o640)

    def body() -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        return str(fd).encode()

    child = spawn(body)
    rfd = int(child.report)
    w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(w, b"abc")
        snap = take(kinds={Kind.FIFO})
        fifo = find(snap, Kind.FIFO, str(path))
        assert isinstance(fifo, Fifo)
        st = os.stat(path)
        assert (fifo.path, fifo.dev, fifo.inode, fifo.mode, fifo.uid) == (
            str(path), st.st_dev, st.st_ino, "0640", st.st_uid)
        assert users_of(fifo) == {(child.pid, rfd, "r", "fd"), (ME, w, "w", "fd")}
        assert fifo.bytes == 3
        assert fifo.capacity == _pipe_size(w)
    finally:
        os.close(w)


# --------------------------------------------------------------------------- sockets


def test_unix_socketpair_and_listener_users_and_peers(tmp_path: Path, spawn: Spawn) -> None:
    a, b = socket.socketpair()
    socks = [a, b]
    try:
        def body() -> bytes:
            a.close()
            _keep.append(b)
            return b""

        child = spawn(body)
        # Made after the fork, so only this process holds them.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        socks += [listener, client]
        path = str(tmp_path / "sock")
        listener.bind(path)
        listener.listen()
        client.connect(path)
        conn, _ = listener.accept()
        socks.append(conn)
        snap = take(kinds={Kind.UNIX_SOCKET})
        ino = {s: os.fstat(s.fileno()).st_ino for s in socks}
        sa = find(snap, Kind.UNIX_SOCKET, str(ino[a]))
        sb = find(snap, Kind.UNIX_SOCKET, str(ino[b]))
        assert isinstance(sa, UnixSocket) and isinstance(sb, UnixSocket)
        assert users_of(sa) == {(ME, a.fileno(), None, "fd")}
        # b is held by both: the parent's fd and the child's inherited copy.
        assert users_of(sb) == {(ME, b.fileno(), None, "fd"), (child.pid, b.fileno(), None, "fd")}
        assert (sa.peer, sb.peer) == (ino[b], ino[a])
        lst = find(snap, Kind.UNIX_SOCKET, str(ino[listener]))
        assert isinstance(lst, UnixSocket) and lst.state == "listen" and lst.name == path
        assert users_of(lst) == {(ME, listener.fileno(), None, "fd")}
        cl = find(snap, Kind.UNIX_SOCKET, str(ino[client]))
        assert isinstance(cl, UnixSocket) and cl.peer == ino[conn]
        assert users_of(cl) == {(ME, client.fileno(), None, "fd")}
        assert users_of(find(snap, Kind.UNIX_SOCKET, str(ino[conn]))) == {
            (ME, conn.fileno(), None, "fd")}
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------- shared mappings


def test_shared_file_mapped_in_two_processes(tmp_path: Path, spawn: Spawn) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\0" * 8192)
    fd = os.open(path, os.O_RDWR)
    mine = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    try:
        def body() -> bytes:
            mine.close()  # the child drops the inherited map and maps read-only itself
            f = os.open(path, os.O_RDONLY)
            _keep.append(mmap.mmap(f, 4096, mmap.MAP_SHARED, mmap.PROT_READ))
            os.close(f)
            return b""

        child = spawn(body)
        snap = take(kinds={Kind.SHARED_MAPPING})
        obj = find(snap, Kind.SHARED_MAPPING, str(path))
        st = os.stat(path)
        assert isinstance(obj, SharedMapping)
        assert (obj.dev, obj.inode, obj.size, obj.deleted) == (st.st_dev, st.st_ino, 8192, False)
        assert users_of(obj) == {(ME, None, "rw", "map"), (child.pid, None, "r", "map")}
        # Device maps and SysV segments are not shared mappings.
        assert not [o for o in snap.objects if o.id.startswith(("/dev/zero", "/SYSV"))]
    finally:
        mine.close()


def test_memfd_mapping_is_a_memfd_not_a_shared_mapping(spawn: Spawn) -> None:
    name = unique_name()
    fd = os.memfd_create(name)
    os.ftruncate(fd, 4096)
    m = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        snap = take(kinds={Kind.SHARED_MAPPING, Kind.MEMFD})
        assert not [o for o in snap.of_kind(Kind.SHARED_MAPPING) if name in o.id]
        obj = find(snap, Kind.MEMFD, str(os.fstat(fd).st_ino))
        assert obj.name == name
    finally:
        m.close()
        os.close(fd)


# --------------------------------------------------------------------------- SysV shm


@pytest.fixture
def sysv_segment() -> Iterator[sysv_ipc.SharedMemory]:
    """A new segment, attached by this process; detached and removed at the end."""
    seg = None
    for _ in range(20):
        try:
            seg = sysv_ipc.SharedMemory(unique_key(), sysv_ipc.IPC_CREX, mode=0o600, size=8192)
            break
        except sysv_ipc.ExistentialError:
            continue
    assert seg is not None
    try:
        yield seg
    finally:
        with contextlib.suppress(sysv_ipc.Error):
            seg.detach()
        with contextlib.suppress(sysv_ipc.Error):
            seg.remove()


def test_sysv_segment_inherited_by_fork(sysv_segment: sysv_ipc.SharedMemory,
                                        spawn: Spawn) -> None:
    child = spawn(lambda: None)
    snap = take(kinds={Kind.SYSV_SHM})
    obj = find(snap, Kind.SYSV_SHM, str(sysv_segment.id))
    assert isinstance(obj, SysvShm)
    assert obj.key == f"0x{sysv_segment.key:08x}"
    assert obj.nattch == 2
    assert users_of(obj) == {(ME, None, "rw", "map"), (child.pid, None, "rw", "map")}
    assert [u.comm for u in obj.users] == [snap.process(u.pid).comm  # type: ignore[union-attr]
                                           for u in obj.users]


def test_sysv_creator_named_while_alive_and_not_after(spawn: Spawn) -> None:
    """The creator's command is shown while cpid runs; once it exits the field is None."""
    key = unique_key()

    def body() -> bytes:
        seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)
        seg.detach()
        return str(seg.id).encode()

    child = spawn(body)
    shmid = child.report.decode()
    try:
        obj = find(take(kinds={Kind.SYSV_SHM}), Kind.SYSV_SHM, shmid)
        assert isinstance(obj, SysvShm) and obj.cpid == child.pid and obj.nattch == 0
        with open(f"/proc/{child.pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode().strip()
        assert obj.creator == cmdline
        child.stop()
        obj = find(take(kinds={Kind.SYSV_SHM}), Kind.SYSV_SHM, shmid)
        assert isinstance(obj, SysvShm) and obj.creator is None
    finally:
        sysv_ipc.remove_shared_memory(int(shmid))


def test_sysv_segment_removed_while_attached(sysv_segment: sysv_ipc.SharedMemory,
                                             spawn: Spawn) -> None:
    child = spawn(lambda: None)
    sysv_segment.detach()
    sysv_segment.remove()  # IPC_RMID: stays while the child is attached
    snap = take(kinds={Kind.SYSV_SHM})
    obj = find(snap, Kind.SYSV_SHM, str(sysv_segment.id))
    assert isinstance(obj, SysvShm)
    assert obj.dest and obj.nattch == 1
    assert users_of(obj) == {(child.pid, None, "rw", "map")}
    child.stop()
    snap = take(kinds={Kind.SYSV_SHM})
    assert str(sysv_segment.id) not in {o.id for o in snap.objects}


def test_sysv_users_only_from_our_ipc_namespace(tmp_path: Path) -> None:
    """A fixture /proc: the same shmid mapped in another IPC namespace is another segment."""
    from test_collect_procs import make_pid, make_proc

    proc = make_proc(tmp_path / "proc")
    write_sysvipc(proc, "shm", [shm_line(key=0x1234, shmid=32790, nattch=1)])
    line = "7f0000000000-7f0000001000 rw-s 00000000 00:01 32790  /SYSV00001234 (deleted)\n"
    make_pid(proc, 100, ipc_ns=4026531839, maps=line)
    make_pid(proc, 200, ipc_ns=4026532999, maps=line)
    os.symlink("100", proc / "self")
    snap = take(proc, tmp_path / "dev", kinds={Kind.SYSV_SHM}, live=False)
    obj = find(snap, Kind.SYSV_SHM, "32790")
    assert users_of(obj) == {(100, None, "rw", "map")}
    assert [p.pid for p in snap.processes] == [100]


# --------------------------------------------------------------------------- POSIX shm / sem / mq


def test_posix_shm_mapped_by_child_and_open_in_parent(spawn: Spawn) -> None:
    name = "/" + unique_name()
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=4096)
    try:
        def body() -> bytes:
            m = mmap.mmap(shm.fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            os.close(shm.fd)
            _keep.append(m)
            return b""

        child = spawn(body)
        snap = take(kinds={Kind.POSIX_SHM})
        obj = find(snap, Kind.POSIX_SHM, name)
        assert isinstance(obj, PosixShm)
        users = users_of(obj)
        assert (ME, shm.fd, "rw", "fd") in users
        assert (child.pid, None, "rw", "map") in users
        # Python's mmap keeps a dup of the fd in the child: a real fd user too.
        assert {(u[0], u[3]) for u in users} == {(ME, "fd"), (child.pid, "map"), (child.pid, "fd")}
        assert [o for o in snap.objects if o.kind is Kind.SHARED_MAPPING] == []
    finally:
        shm.close_fd()
        shm.unlink()


def test_posix_sem_users_by_dev_and_inode(spawn: Spawn) -> None:
    name = "/" + unique_name()
    sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, mode=0o600, initial_value=3)
    try:
        def body() -> bytes:
            sem.close()
            _keep.append(posix_ipc.Semaphore(name))  # opens by name: maps sem.NAME
            return b""

        child = spawn(body)
        snap = take(kinds={Kind.POSIX_SEM, Kind.SHARED_MAPPING})
        obj = find(snap, Kind.POSIX_SEM, name)
        assert isinstance(obj, PosixSem)
        assert obj.value == 3
        # The creator maps a temp name ("sem.XXXXXX (deleted)") of the same inode.
        my_maps = Path("/proc/self/maps").read_text()
        assert f"/dev/shm/sem.{name[1:]}" not in my_maps
        assert users_of(obj) == {(ME, None, "rw", "map"), (child.pid, None, "rw", "map")}
        # The temp name is not mistaken for an unlinked mapping.
        assert not [o for o in snap.of_kind(Kind.SHARED_MAPPING)
                    if isinstance(o, SharedMapping) and o.inode == obj.inode]
    finally:
        sem.unlink()
        sem.close()


@pytest.fixture
def queue() -> Iterator[posix_ipc.MessageQueue]:
    q = posix_ipc.MessageQueue("/" + unique_name(), posix_ipc.O_CREX, mode=0o600,
                               max_messages=4, max_message_size=64)
    try:
        yield q
    finally:
        q.close()
        q.unlink()


def test_posix_mq_users_via_fds(queue: posix_ipc.MessageQueue, spawn: Spawn) -> None:
    if not posix.mqueue_mounted(Path("/dev")):
        pytest.fail("/dev/mqueue is not mounted: mount -t mqueue none /dev/mqueue")
    queue.send(b"x")
    child = spawn(lambda: None)  # inherits the queue descriptor
    snap = take(kinds={Kind.POSIX_MQ})
    obj = find(snap, Kind.POSIX_MQ, queue.name)
    assert isinstance(obj, PosixMq)
    assert (obj.messages, obj.maxmsg, obj.msgsize) == (1, 4, 64)
    assert users_of(obj) == {(ME, queue.mqd, "rw", "fd"), (child.pid, queue.mqd, "rw", "fd")}
    assert snap.notices == ()


def test_posix_mq_without_mount_found_through_fds(queue: posix_ipc.MessageQueue,
                                                   tmp_path: Path) -> None:
    """A /dev without an mqueue mount: a notice with the mount command, queues still seen."""
    dev = tmp_path / "dev"
    (dev / "shm").mkdir(parents=True)
    queue.send(b"xy")
    snap = take(dev=dev, kinds={Kind.POSIX_MQ, Kind.POSIX_SHM, Kind.PIPE})
    assert any("mount -t mqueue" in n for n in snap.notices)
    obj = find(snap, Kind.POSIX_MQ, queue.name)
    assert isinstance(obj, PosixMq)
    assert (obj.messages, obj.maxmsg, obj.msgsize, obj.mode) == (1, 4, 64, "0600")
    assert users_of(obj) == {(ME, queue.mqd, "rw", "fd")}
    assert snap.of_kind(Kind.PIPE)  # everything else still listed


# --------------------------------------------------------------------------- signals, processes


def test_blocked_pending_sigusr1(spawn: Spawn) -> None:
    def body() -> bytes:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        return b""

    child = spawn(body)
    os.kill(child.pid, signal.SIGUSR1)  # stays pending: blocked in the child
    snap = take(kinds={Kind.SYSV_SHM})
    p = snap.process(child.pid)
    assert p is not None
    assert "SIGUSR1" in p.signals.pending
    assert "SIGUSR1" in p.signals.blocked
    assert (p.ppid, p.uid) == (ME, os.geteuid())
    assert p.state in ("S", "R")  # R only in the instant before it blocks in read()
    assert p.ipc_ns == int(os.readlink("/proc/self/ns/ipc")[5:-1])
    assert p.start_time is not None and p.start_time <= snap.taken_at + 1


def test_processes_listed_only_for_users_or_pending(spawn: Spawn) -> None:
    idle = spawn(lambda: None)
    r, w = os.pipe()
    try:
        snap = take(kinds={Kind.PIPE})
        listed = {p.pid for p in snap.processes}
        used = {u.pid for o in snap.objects for u in o.users}
        pending = {p.pid for p in snap.processes if p.signals.pending}
        assert listed == used | pending
        assert ME in listed
        # the idle child holds the spawn fixture's pipes, so it is a user too
        assert idle.pid in listed
    finally:
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------- the whole snapshot


def test_failing_collector_becomes_notice(tmp_path: Path) -> None:
    from fixtures_proc import msg_line
    from test_collect_procs import make_proc

    proc = make_proc(tmp_path / "proc")
    write_sysvipc(proc, "shm", [shm_line(key=1, shmid=5), "garbage"])
    write_sysvipc(proc, "msg", [msg_line(key=2, msqid=7)])
    snap = take(proc, tmp_path / "dev", kinds={Kind.SYSV_SHM, Kind.SYSV_MSG}, live=False)
    assert [o.id for o in snap.objects] == ["7"]
    assert len(snap.notices) == 1
    assert snap.notices[0].startswith(f"SysV shm: {proc}/sysvipc/shm:3:")


def test_take_all_kinds_sorted_and_serialisable(spawn: Spawn) -> None:
    import json

    r, w = os.pipe()
    try:
        snap = take()
        order = list(Kind)
        keys = [(order.index(o.kind), natural_key(o.id)) for o in snap.objects]
        assert keys == sorted(keys)
        json.dumps(snap.to_dict())
        assert snap.hostname == socket.gethostname()
        assert find(snap, Kind.PIPE, str(os.fstat(r).st_ino))
    finally:
        os.close(r)
        os.close(w)


def test_natural_key() -> None:
    ids = ["10", "9", "/q10", "/q2", "100"]
    assert sorted(ids, key=natural_key) == ["9", "10", "100", "/q2", "/q10"]
    assert natural_key("4242") == ((0, 4242, ""),)  # the short way for an all-digit id
    # Characters isdigit() accepts but int() refuses are text, never a crash.
    assert natural_key("/1\u00b22") == ((1, 0, "/"), (0, 1, ""), (1, 0, "\u00b2"), (0, 2, ""))
    assert natural_key("\u2460") == ((1, 0, "\u2460"),)
    assert natural_key("/q\u0661\u0662") == ((1, 0, "/q"), (0, 12, ""))  # Arabic-Indic 12


def test_take_does_not_import_posix_ipc_or_textual() -> None:
    import subprocess
    import sys

    code = ("import sys; from ipctop.snapshot import take; take();"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'posix_ipc', 'psutil')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"



def test_as_normal_user_objects_listed_unreadable_counted(
        sysv_segment: sysv_ipc.SharedMemory) -> None:
    """Run take() as nobody: root's fds and maps are unreadable (counted), objects still listed."""
    import json

    def as_nobody() -> bytes:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        snap = take(kinds={Kind.SYSV_SHM, Kind.PIPE})
        return json.dumps({
            "ids": [o.id for o in snap.objects if o.kind is Kind.SYSV_SHM],
            "count": snap.unreadable.count,
            "sample": list(snap.unreadable.sample),
        }).encode()

    out = json.loads(run_and_exit(as_nobody))
    assert str(sysv_segment.id) in out["ids"]
    assert out["count"] >= 1  # at least this test process (root) is unreadable to nobody
    assert any("Permission denied" in s for s in out["sample"])
    assert 1 <= len(out["sample"]) <= 10
