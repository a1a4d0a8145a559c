"""anon_shm, memfd, eventfd, inet_socket and shared_mapping on fixture /proc trees: the parsers,
the scan of eventfd and memfd fds, and the joins, with nothing read from the real machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_collect_procs import fdinfo, make_pid, make_proc
from test_snapshot import find
from test_snapshot import users_of as users

from ipctop.collect import inet, procfs, shmem
from ipctop.collect.procs import scan
from ipctop.errors import ParseError
from ipctop.kinds import AnonShm, Eventfd, InetSocket, Memfd
from ipctop.model import Kind
from ipctop.snapshot import take

EVENTFD_INFO = (
    "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n"
    "eventfd-count:               ff\neventfd-id: 12\neventfd-semaphore: 1\n"
)


# --------------------------------------------------------------------------- parsers


def test_parse_fdinfo_eventfd() -> None:
    info = procfs.parse_fdinfo_eventfd(EVENTFD_INFO.encode(), "f")
    assert (info.ident, info.count, info.semaphore) == (12, 255, True)
    old = procfs.parse_fdinfo_eventfd(b"pos:\t0\nflags:\t02\neventfd-count: 3\n", "f")
    assert (old.ident, old.count, old.semaphore) == (None, 3, None)
    with pytest.raises(ParseError, match=r"/proc/3/fdinfo/4:\d+: bad eventfd-id"):
        procfs.parse_fdinfo_eventfd(b"flags:\t02\neventfd-id: x1\n", "/proc/3/fdinfo/4")


def test_parse_fdinfo_ino() -> None:
    assert procfs.parse_fdinfo_ino(fdinfo(0o2).encode()) == 123
    assert procfs.parse_fdinfo_ino(b"pos:\t0\nflags:\t02\n") is None


def test_parse_smaps_only_the_wanted_blocks() -> None:
    data = (
        b"7f0000000000-7f0000003000 rw-s 00000000 00:01 94   /dev/zero (deleted)\n"
        b"Size:                 12 kB\nRss:                   8 kB\nSwap:                  4 kB\n"
        b"VmFlags: rd wr sh mr mw me ms sd\n"
        b"7f0000003000-7f0000004000 rw-p 00000000 00:00 0\n"
        b"Size:                  4 kB\nRss:                   4 kB\nSwap:                  0 kB\n"
        b"VmFlags: rd wr mr mw me ac sd\n"
    )
    got = shmem.parse_smaps(data, [(0x7F0000000000, 0x7F0000003000), (1, 2)])
    assert got == {(0x7F0000000000, 0x7F0000003000): (8192, 4096)}


def test_parse_proc_net_tcp_and_tcp6(tmp_path: Path) -> None:
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  " \
        "timeout inode\n"
    v4 = head + (
        "   0: 0100007F:1538 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0"
        "        0 5001 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:9C40 0100007F:1538 01 00000007:00000000 00:00000000 00000000  1000"
        "        0 5002 1 0000000000000000 20 4 30 10 -1\n"
    )
    path = tmp_path / "tcp"
    entries = inet.parse_proc_net(v4, path, "tcp", "ipv4")
    assert [(e.state, inet.address_text(e.local), inet.address_text(e.remote), e.rqueue,
             e.wqueue, e.inode) for e in entries] == [
        (10, "127.0.0.1:5432", "0.0.0.0:0", 3, 0, 5001),
        (1, "127.0.0.1:40000", "127.0.0.1:5432", 0, 7, 5002),
    ]
    v6 = head + (
        "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 6001 1 0 100 0 0 10 0\n"
        "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:A000 01 "
        "00000000:00000000 00:00000000 00000000     0        0 6002 1 0 100 0 0 10 0\n"
    )
    six = inet.parse_proc_net(v6, tmp_path / "tcp6", "tcp", "ipv6")
    assert [inet.address_text(e.local) for e in six] == ["[::1]:8080", "[::ffff:127.0.0.1]:8080"]
    with pytest.raises(ParseError, match=r"tcp:2: bad address"):
        inet.parse_proc_net(head + v4.splitlines()[1].replace("0100007F:1538", "01007F:") + "\n",
                            path, "tcp", "ipv4")
    with pytest.raises(ParseError, match="missing header"):
        inet.parse_proc_net("garbage\n", path, "tcp", "ipv4")


def entry(proto: str, state: int, local: str, remote: str, inode: int, rq: int = 0,
          family: str = "ipv4") -> inet.InetEntry:
    def addr(text: str) -> tuple[bytes, int]:
        host, _, port = text.rpartition(":")
        fam = inet.FAMILIES["ipv6" if ":" in host else "ipv4"]
        import _socket

        return _socket.inet_pton(fam, host.strip("[]")), int(port)

    return inet.InetEntry(proto, family, state, addr(local), addr(remote), rq, 0, inode)


def test_local_pairs_match_ends_listeners_and_skip_the_rest() -> None:
    entries = [
        entry("tcp", 10, "0.0.0.0:5432", "0.0.0.0:0", 1),              # wildcard listener
        entry("tcp", 1, "127.0.0.1:40000", "127.0.0.1:5432", 2),       # client
        entry("tcp", 1, "127.0.0.1:5432", "127.0.0.1:40000", 3, 9),    # accepted end
        entry("tcp", 10, "127.0.0.1:6000", "0.0.0.0:0", 4),            # listener, no client
        entry("tcp", 1, "10.0.0.5:50000", "93.184.216.34:443", 5),     # to another machine
        entry("tcp", 1, "127.0.0.1:41000", "127.0.0.1:7000", 6),       # waits in the queue
        entry("tcp", 1, "127.0.0.1:7000", "127.0.0.1:41000", 0),       # ...not accepted yet
        entry("tcp", 10, "127.0.0.1:7000", "0.0.0.0:0", 7),
        entry("tcp", 6, "127.0.0.1:40001", "127.0.0.1:5432", 0),       # time-wait: no inode
        entry("udp", 7, "127.0.0.1:5353", "0.0.0.0:0", 8),             # UDP server
        entry("udp", 1, "127.0.0.1:45000", "127.0.0.1:5353", 9),       # its connected client
        entry("udp", 1, "[::ffff:127.0.0.1]:9000", "[::ffff:127.0.0.1]:9001", 10,
              family="ipv6"),                                           # mapped pair, one v6
        entry("udp", 1, "127.0.0.1:9001", "127.0.0.1:9000", 11),
    ]
    got = {e.inode: peer for e, peer in inet.local_pairs(entries)}
    assert got == {1: None, 2: 3, 3: 2, 6: None, 7: None, 8: None, 9: 8, 10: 11, 11: 10}


def test_read_inet_falls_back_to_proc_net_files(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    (proc / "net").mkdir()
    (proc / "net" / "udp").write_text(
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode ref pointer drops\n"
        "  1: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0"
        "        0 7001 2 0000000000000000 0\n")
    got = inet.read_inet(proc, live=False)
    assert [(e.proto, e.family, e.inode, inet.address_text(e.local)) for e in got] == [
        ("udp", "ipv4", 7001, "127.0.0.1:5353")]


# --------------------------------------------------------------------------- scan and join


ANON = (
    "7f0000000000-7f0000003000 rw-s 00000000 00:01 94                 /dev/zero (deleted)\n"
    "7f0000003000-7f0000004000 rw-s 00000000 00:01 95                 [anon_shmem:zone]\n"
    "7f0000004000-7f0000006000 rw-s 00000000 00:01 96                 /memfd:buf (deleted)\n"
    "7f0000006000-7f0000007000 r--s 00000000 fd:01 4242               /srv/one.db\n"
    "7f0000007000-7f0000008000 rw-s 00001000 fd:01 4343               /srv/both.db\n"
)


def kinds_tree(tmp_path: Path) -> Path:
    """Two processes sharing an anonymous segment, a named one, a memfd (100 by fd and map, 200
    by fd), an eventfd and a file; 100 alone maps /srv/one.db and holds a second eventfd."""
    proc = make_proc(tmp_path / "proc")
    memfd_info = fdinfo(0o2).replace("ino:\t123", "ino:\t96")
    second = EVENTFD_INFO.replace("eventfd-id: 12", "eventfd-id: 13")
    make_pid(proc, 100, maps=ANON,
             fds={3: "/memfd:buf (deleted)", 4: "anon_inode:[eventfd]",
                  5: "anon_inode:[eventfd]"},
             fdinfo={3: memfd_info, 4: EVENTFD_INFO, 5: second})
    make_pid(proc, 200, maps="".join(ANON.splitlines(keepends=True)[i] for i in (0, 1, 4)),
             fds={7: "/memfd:buf (deleted)", 8: "anon_inode:[eventfd]"},
             fdinfo={7: fdinfo(0o0).replace("ino:\t123", "ino:\t96"), 8: EVENTFD_INFO})
    os.symlink("100", proc / "self")
    return proc


def test_scan_reads_eventfd_and_memfd_fds(tmp_path: Path) -> None:
    result = scan(kinds_tree(tmp_path), live=False)
    by_fd = {(f.pid, f.fd): f for f in result.fds}
    assert by_fd[(100, 3)].ino == 96 and by_fd[(100, 3)].access == "rw"
    assert by_fd[(200, 7)].access == "r"
    info = by_fd[(100, 4)].eventfd
    assert info is not None and (info.ident, info.count, info.semaphore) == (12, 255, True)


def test_join_of_every_new_kind_on_a_fixture_tree(tmp_path: Path) -> None:
    proc = kinds_tree(tmp_path)
    snap = take(proc, tmp_path / "dev", live=False, kinds={
        Kind.ANON_SHM, Kind.MEMFD, Kind.EVENTFD, Kind.SHARED_MAPPING})
    anon = find(snap, Kind.ANON_SHM, "94")
    assert isinstance(anon, AnonShm)
    assert (anon.name, anon.size, anon.inode, anon.dev) == (None, 0x3000, 94, os.makedev(0, 1))
    assert users(anon) == {(100, None, "rw", "map"), (200, None, "rw", "map")}
    named = find(snap, Kind.ANON_SHM, "95")
    assert (named.name, named.size) == ("zone", 0x1000)
    memfd = find(snap, Kind.MEMFD, "96")
    assert isinstance(memfd, Memfd)
    assert (memfd.name, memfd.size, memfd.deleted, memfd.seals) == ("buf", 0x2000, True, None)
    assert users(memfd) == {(100, 3, "rw", "fd"), (100, None, "rw", "map"), (200, 7, "r", "fd")}
    ev = find(snap, Kind.EVENTFD, "12")
    assert isinstance(ev, Eventfd)
    assert (ev.count, ev.semaphore) == (255, True)
    assert users(ev) == {(100, 4, "rw", "fd"), (200, 8, "rw", "fd")}
    # One holder: an eventfd of its own, not IPC.
    assert [o.id for o in snap.of_kind(Kind.EVENTFD)] == ["12"]
    # Shared mappings: the file both map; not the one only 100 maps, not memory kinds.
    assert [o.id for o in snap.of_kind(Kind.SHARED_MAPPING)] == ["/srv/both.db"]


def test_join_inet_on_fixture_files(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    (proc / "net").mkdir()
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  " \
        "timeout inode\n"
    (proc / "net" / "tcp").write_text(head + "".join(
        f"   {i}: {local} {remote} {st} 00000000:{rq:08X} 00:00000000 00000000     0        0 "
        f"{ino} 1 0 20 4 30 10 -1\n"
        for i, (local, remote, st, rq, ino) in enumerate([
            ("0100007F:1538", "00000000:0000", "0A", 0, 5001),
            ("0100007F:9C40", "0100007F:1538", "01", 0, 5002),
            ("0100007F:1538", "0100007F:9C40", "01", 12, 5003),
        ])))
    make_pid(proc, 100, maps="", fds={3: "socket:[5001]", 4: "socket:[5003]"})
    make_pid(proc, 200, maps="", fds={5: "socket:[5002]"})
    os.symlink("100", proc / "self")
    snap = take(proc, tmp_path / "dev", live=False, kinds={Kind.INET_SOCKET})
    accepted = find(snap, Kind.INET_SOCKET, "5003")
    assert isinstance(accepted, InetSocket)
    assert (accepted.proto, accepted.family, accepted.state, accepted.local, accepted.remote,
            accepted.peer, accepted.bytes) == (
        "tcp", "ipv4", "established", "127.0.0.1:5432", "127.0.0.1:40000", 5002, 12)
    assert users(accepted) == {(100, 4, None, "fd")}
    client = find(snap, Kind.INET_SOCKET, "5002")
    assert (client.peer, users(client)) == (5003, {(200, 5, None, "fd")})  # type: ignore[attr-defined]
    listener = find(snap, Kind.INET_SOCKET, "5001")
    assert (listener.state, listener.remote, users(listener)) == (  # type: ignore[attr-defined]
        "listen", None, {(100, 3, None, "fd")})
