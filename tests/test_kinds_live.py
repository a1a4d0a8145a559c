"""anon_shm, memfd, eventfd, inet_socket and shared_mapping with real processes: each case is
built with fork and the real system calls, and the snapshot must name the object, its size or
count or queue, its peer and exactly the processes that use it."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import mmap
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Spawn, unique_name
from test_snapshot import find
from test_snapshot import users_of as users

from ipctop.kinds import AnonShm, Eventfd, InetSocket, Memfd
from ipctop.model import Kind, Snapshot
from ipctop.snapshot import LiveTake, take

ME = os.getpid()
ROOT = os.geteuid() == 0
_keep: list[object] = []
"""Objects a forked child keeps alive until it is killed."""

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def shmem_inode(address: int) -> int:
    """The inode column of our own maps line that covers ``address``."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, _, _, _, inode = line.split()[:5]
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end:
            return int(inode)
    raise AssertionError(f"{address:x} is not mapped")


# --------------------------------------------------------------------------- anon_shm


def test_anon_shm_inherited_across_fork(spawn: Spawn) -> None:
    size = 5 * mmap.PAGESIZE
    m = mmap.mmap(-1, size, mmap.MAP_SHARED)
    try:
        m[0:1] = b"a"
        m[mmap.PAGESIZE : mmap.PAGESIZE + 1] = b"b"  # two pages in memory

        def body() -> bytes:
            m[0:1] = b"c"  # the child faults both pages in too
            m[mmap.PAGESIZE : mmap.PAGESIZE + 1] = b"d"
            return b""

        child = spawn(body)
        inode = shmem_inode(ctypes.addressof(ctypes.c_char.from_buffer(m)))
        obj = find(take(kinds={Kind.ANON_SHM}), Kind.ANON_SHM, str(inode))
        assert isinstance(obj, AnonShm)
        assert (obj.inode, obj.name, obj.size, obj.hugetlb) == (inode, None, size, False)
        assert users(obj) == {(ME, None, "rw", "map"), (child.pid, None, "rw", "map")}
        assert obj.rss_pid in (ME, child.pid)
        assert (obj.rss, obj.swap) == (2 * mmap.PAGESIZE, 0)
        assert obj.allocated == (2 * mmap.PAGESIZE if ROOT else None)  # pages touched
        child.stop()
        obj = find(take(kinds={Kind.ANON_SHM}), Kind.ANON_SHM, str(inode))
        assert users(obj) == {(ME, None, "rw", "map")}
    finally:
        with contextlib.suppress(BufferError):
            m.close()


# --------------------------------------------------------------------------- memfd


def fstat_ino(fd: int) -> int | None:
    try:
        return os.fstat(fd).st_ino
    except OSError:
        return None


def test_memfd_held_by_fd_and_map(spawn: Spawn) -> None:
    name = unique_name()
    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, 10000)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)

        def body() -> bytes:
            _keep.append(mmap.mmap(fd, 10000, mmap.MAP_SHARED))  # keeps a dup of fd
            ino = os.fstat(fd).st_ino
            held = [n for n in range(min(os.sysconf("SC_OPEN_MAX"), 4096))
                    if n != fd and fstat_ino(n) == ino]
            return str(held.pop()).encode()

        child = spawn(body)
        dup = int(child.report)
        obj = find(take(kinds={Kind.MEMFD}), Kind.MEMFD, str(os.fstat(fd).st_ino))
        assert isinstance(obj, Memfd)
        assert (obj.name, obj.size, obj.deleted, obj.seals) == (name, 10000, True,
                                                                ("shrink", "grow"))
        assert (obj.uid, obj.mode) == (os.geteuid(), "0777")
        assert obj.allocated == 0  # sized but never written: no pages
        assert users(obj) == {(ME, fd, "rw", "fd"), (child.pid, fd, "rw", "fd"),
                              (child.pid, dup, "rw", "fd"), (child.pid, None, "rw", "map")}
    finally:
        os.close(fd)


def test_memfd_only_mapped_is_sized_through_map_files() -> None:
    name = unique_name()
    fd = os.memfd_create(name)
    os.ftruncate(fd, 10000)
    ino = os.fstat(fd).st_ino
    addr = libc.mmap(None, 10000, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value)
    os.close(fd)  # now only the mapping holds it
    try:
        obj = find(take(kinds={Kind.MEMFD}), Kind.MEMFD, str(ino))
        assert isinstance(obj, Memfd)
        assert users(obj) == {(ME, None, "r", "map")}
        # Root reads the file's own size through /proc/PID/map_files; others see pages mapped.
        assert obj.size == (10000 if ROOT else 3 * mmap.PAGESIZE)
        assert obj.seals == (("seal",) if ROOT else None)  # no MFD_ALLOW_SEALING
    finally:
        libc.munmap(addr, 10000)


# --------------------------------------------------------------------------- eventfd


def eventfd_id(fd: int) -> str:
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("eventfd-id:"):
            return line.split()[1]
    pytest.skip("this kernel's fdinfo has no eventfd-id")


def test_eventfd_shared_across_fork(spawn: Spawn) -> None:
    shared = os.eventfd(5, os.EFD_SEMAPHORE | os.EFD_CLOEXEC)
    try:
        child = spawn(lambda: None)
        own = os.eventfd(1)  # made after the fork: only this process holds it
        try:
            snap = take(kinds={Kind.EVENTFD})
            obj = find(snap, Kind.EVENTFD, eventfd_id(shared))
            assert isinstance(obj, Eventfd)
            assert (obj.count, obj.semaphore) == (5, True)
            assert users(obj) == {(ME, shared, "rw", "fd"), (child.pid, shared, "rw", "fd")}
            assert eventfd_id(own) not in {o.id for o in snap.objects}
            os.eventfd_write(shared, 3)
            obj = find(take(kinds={Kind.EVENTFD}), Kind.EVENTFD, eventfd_id(shared))
            assert obj.count == 8  # type: ignore[attr-defined]
            child.stop()
            assert eventfd_id(shared) not in {o.id for o in take(kinds={Kind.EVENTFD}).objects}
        finally:
            os.close(own)
    finally:
        os.close(shared)


def test_live_take_picks_up_new_kinds_as_processes_change(spawn: Spawn) -> None:
    live = LiveTake()
    live()
    live()
    shared = os.eventfd(2)
    try:
        child = spawn(lambda: None)
        ident = eventfd_id(shared)
        snap = live()
        assert users(find(snap, Kind.EVENTFD, ident)) == {(ME, shared, "rw", "fd"),
                                                          (child.pid, shared, "rw", "fd")}
        os.eventfd_write(shared, 5)
        assert find(live(), Kind.EVENTFD, ident).count == 7  # type: ignore[attr-defined]
        child.stop()
        assert ident not in {o.id for o in live().of_kind(Kind.EVENTFD)}
    finally:
        os.close(shared)


# --------------------------------------------------------------------------- inet_socket


@pytest.fixture(params=["127.0.0.1", "::1"], ids=["ipv4", "ipv6"])
def loopback(request: pytest.FixtureRequest) -> str:
    host: str = request.param
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
    except OSError:
        pytest.skip(f"no {host} here")
    return host


def inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def wait_for(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_tcp_loopback_connection_accepted_in_another_process(spawn: Spawn, loopback: str
                                                             ) -> None:
    family = socket.AF_INET6 if ":" in loopback else socket.AF_INET
    srv = socket.socket(family)
    srv.bind((loopback, 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname()[:2])
    cli.sendall(b"x" * 7)  # the other process never reads these

    def body() -> bytes:
        cli.close()
        conn, _ = srv.accept()
        conn.sendall(b"y" * 10)
        _keep.append(conn)
        return f"{conn.fileno()} {inode(conn)} {srv.fileno()}".encode()

    try:
        child = spawn(body)
        conn_fd, conn_ino, srv_fd = (int(x) for x in child.report.split())
        srv.close()
        proto = "ipv6" if family == socket.AF_INET6 else "ipv4"
        wait_for(lambda: find(take(kinds={Kind.INET_SOCKET}), Kind.INET_SOCKET,
                              str(inode(cli))).bytes == 10)  # type: ignore[attr-defined]
        snap = take(kinds={Kind.INET_SOCKET})
        client = find(snap, Kind.INET_SOCKET, str(inode(cli)))
        accepted = find(snap, Kind.INET_SOCKET, str(conn_ino))
        listener = find(snap, Kind.INET_SOCKET, str(inode_of_listener(snap, child.pid, srv_fd)))
        assert isinstance(client, InetSocket) and isinstance(accepted, InetSocket)
        assert isinstance(listener, InetSocket)
        assert (client.proto, client.family, client.state, client.peer, client.bytes) == (
            "tcp", proto, "established", conn_ino, 10)
        assert (accepted.peer, accepted.bytes, accepted.send_bytes) == (inode(cli), 7, 0)
        assert client.remote == accepted.local and accepted.remote == client.local
        assert users(client) == {(ME, cli.fileno(), None, "fd")}
        assert users(accepted) == {(child.pid, conn_fd, None, "fd")}
        assert (listener.state, listener.remote, listener.peer) == ("listen", None, None)
        assert listener.local == accepted.local
        assert users(listener) == {(child.pid, srv_fd, None, "fd")}
    finally:
        cli.close()
        srv.close()


def inode_of_listener(snap: Snapshot, pid: int, fd: int) -> int:
    for o in snap.of_kind(Kind.INET_SOCKET):
        if (pid, fd) in {(u.pid, u.fd) for u in o.users}:
            return int(o.id)
    raise AssertionError(f"no listener held by {pid} fd {fd}")


def test_udp_connected_pair(spawn: Spawn, loopback: str) -> None:
    family = socket.AF_INET6 if ":" in loopback else socket.AF_INET
    a = socket.socket(family, socket.SOCK_DGRAM)
    b = socket.socket(family, socket.SOCK_DGRAM)
    try:
        a.bind((loopback, 0))
        b.bind((loopback, 0))
        a.connect(b.getsockname())
        b.connect(a.getsockname())
        child = spawn(lambda: None)  # holds both, as the parent does
        a.send(b"hello")
        snap = take(kinds={Kind.INET_SOCKET})
        ea = find(snap, Kind.INET_SOCKET, str(inode(a)))
        eb = find(snap, Kind.INET_SOCKET, str(inode(b)))
        assert isinstance(ea, InetSocket) and isinstance(eb, InetSocket)
        assert (ea.proto, ea.state, ea.peer, eb.peer) == ("udp", "connected", inode(b), inode(a))
        assert eb.bytes is not None and eb.bytes >= 5  # UDP counts buffer memory, not payload
        assert ea.bytes == 0
        assert users(ea) == {(ME, a.fileno(), None, "fd"), (child.pid, a.fileno(), None, "fd")}
    finally:
        a.close()
        b.close()


def test_udp_client_of_an_unconnected_server(loopback: str) -> None:
    family = socket.AF_INET6 if ":" in loopback else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as server, \
            socket.socket(family, socket.SOCK_DGRAM) as client, \
            socket.socket(family, socket.SOCK_DGRAM) as alone:
        server.bind((loopback, 0))
        alone.bind((loopback, 0))
        client.connect(server.getsockname())
        snap = take(kinds={Kind.INET_SOCKET})
        c = find(snap, Kind.INET_SOCKET, str(inode(client)))
        s = find(snap, Kind.INET_SOCKET, str(inode(server)))
        assert (c.peer, s.peer, s.state) == (inode(server), None, "unconnected")  # type: ignore[attr-defined]
        assert str(inode(alone)) not in {o.id for o in snap.objects}  # nobody talks to it


def test_listener_without_local_client_is_not_listed() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        snap = take(kinds={Kind.INET_SOCKET})
        assert str(inode(srv)) not in {o.id for o in snap.objects}


# --------------------------------------------------------------------------- shared_mapping


@pytest.fixture
def data_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\0" * 8192)
    yield path


def test_file_mapped_shared_by_one_process_is_not_listed(spawn: Spawn, data_file: Path) -> None:
    with open(data_file, "r+b") as f:
        m = mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED)
    try:
        ino = os.stat(data_file).st_ino
        snap = take(kinds={Kind.SHARED_MAPPING})
        assert not [o for o in snap.objects if getattr(o, "inode", None) == ino]

        def body() -> bytes:
            with open(data_file, "rb") as f:
                _keep.append(mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED, mmap.PROT_READ))
            return b""

        child = spawn(body)  # inherits the first mapping and maps the file again, read-only
        obj = find(take(kinds={Kind.SHARED_MAPPING}), Kind.SHARED_MAPPING, str(data_file))
        assert users(obj) == {(ME, None, "rw", "map"), (child.pid, None, "rw", "map")}
    finally:
        m.close()


def test_ipv4_client_of_a_dual_stack_listener(spawn: Spawn) -> None:
    """An IPv6 listener on [::] takes an IPv4 client: the accepted end is IPv6 with the
    IPv4-mapped address, and the two ends still pair."""
    srv = socket.socket(socket.AF_INET6)
    try:
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        srv.bind(("::", 0))
    except OSError:
        srv.close()
        pytest.skip("no dual-stack IPv6 here")
    srv.listen()
    cli = socket.create_connection(("127.0.0.1", srv.getsockname()[1]))
    conn, _ = srv.accept()
    try:
        snap = take(kinds={Kind.INET_SOCKET})
        client = find(snap, Kind.INET_SOCKET, str(inode(cli)))
        accepted = find(snap, Kind.INET_SOCKET, str(inode(conn)))
        listener = find(snap, Kind.INET_SOCKET, str(inode(srv)))
        assert isinstance(client, InetSocket) and isinstance(accepted, InetSocket)
        assert (client.family, accepted.family) == ("ipv4", "ipv6")
        assert accepted.local.startswith("[::ffff:127.0.0.1]:")
        assert (client.peer, accepted.peer) == (inode(conn), inode(cli))
        assert listener.state == "listen"  # type: ignore[attr-defined]
    finally:
        for s in (cli, conn, srv):
            s.close()


def test_a_path_naming_two_mapped_files_lists_each_once(spawn: Spawn, data_file: Path) -> None:
    """A file replaced while mapped: the old one "(deleted)" and the new one share the path
    (as do the same path in a chroot and outside): two objects, each once."""
    def hold(path: Path) -> bytes:
        with open(path, "rb") as f:
            _keep.append(mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED, mmap.PROT_READ))
        return b""

    old_ino = os.stat(data_file).st_ino
    spawn(lambda: hold(data_file))
    spawn(lambda: hold(data_file))
    fresh = data_file.with_name("fresh.bin")
    fresh.write_bytes(b"\1" * 8192)
    os.rename(fresh, data_file)  # the old file is now unlinked, still mapped
    new_ino = os.stat(data_file).st_ino
    spawn(lambda: hold(data_file))
    spawn(lambda: hold(data_file))
    snap = take(kinds={Kind.SHARED_MAPPING})
    mine = [o for o in snap.objects if getattr(o, "path", None) == str(data_file)]
    assert sorted((getattr(o, "inode", None), getattr(o, "deleted", None)) for o in mine) == \
        sorted([(old_ino, True), (new_ino, False)])
    assert len({o.identity for o in mine}) == 2
    assert len({o.identity for o in snap.objects}) == len(snap.objects)

