"""UNIX sockets: real socket pairs, listeners and abstract names against /proc/net/unix and
sock_diag; fixture files for the parser; synthetic netlink replies for the decoder."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_proc import unix_line, write_unix

from ipctop.collect import sockets
from ipctop.errors import ParseError
from ipctop.kinds import UnixSocket

_counter = itertools.count()


@pytest.fixture
def socks() -> Iterator[list[socket.socket]]:
    """Sockets to close after the test, whatever happens."""
    made: list[socket.socket] = []
    yield made
    for s in made:
        with contextlib.suppress(OSError):
            s.close()


def _ino(s: socket.socket) -> int:
    return os.fstat(s.fileno()).st_ino


def _all() -> dict[str, UnixSocket]:
    return {s.id: s for s in sockets.read_unix()}


def _abstract() -> str:
    return f"\0ipctop-test-{os.getpid()}-{next(_counter)}-{random.randrange(1 << 30):x}"


@pytest.mark.parametrize(
    ("stype", "label"),
    [(socket.SOCK_STREAM, "stream"), (socket.SOCK_DGRAM, "dgram"),
     (socket.SOCK_SEQPACKET, "seqpacket")],
)
def test_socketpair_peers_point_at_each_other(
    socks: list[socket.socket], stype: int, label: str
) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, stype)
    socks += [a, b]
    a.send(b"hello")
    a.send(b"worlds!")
    got = _all()
    sa, sb = got[str(_ino(a))], got[str(_ino(b))]
    assert sa.peer == _ino(b) and sb.peer == _ino(a)
    assert sa.type == sb.type == label
    assert sa.state == sb.state == "connected"
    assert sa.name is None and sb.name is None
    assert sa.bytes == 0
    # stream: every byte queued; dgram/seqpacket: the kernel reports the next datagram's length
    # for dgram, and the sum for seqpacket.
    expected = {"stream": 12, "seqpacket": 12, "dgram": 5}[label]
    assert sb.bytes == expected
    assert sa.owner is None and sa.uid is None


def test_listener_backlog_and_accept(socks: list[socket.socket]) -> None:
    addr = _abstract()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    socks.append(listener)
    listener.bind(addr)
    listener.listen(4)
    idle = _all()[str(_ino(listener))]
    assert idle.state == "listen" and idle.name == "@" + addr[1:]
    assert idle.bytes == 0 and idle.peer is None

    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    socks.append(client)
    client.connect(addr)
    waiting = _all()
    assert waiting[str(_ino(listener))].bytes == 1  # one connection not yet accepted
    c = waiting[str(_ino(client))]
    assert c.state == "connected" and c.peer is None  # the other end has no inode yet
    assert "0" not in waiting

    server, _ = listener.accept()
    socks.append(server)
    done = _all()
    assert done[str(_ino(client))].peer == _ino(server)
    assert done[str(_ino(server))].peer == _ino(client)
    assert done[str(_ino(server))].name == "@" + addr[1:]  # accepted sockets show the address
    assert done[str(_ino(listener))].bytes == 0


def test_path_bound_and_unconnected(socks: list[socket.socket], tmp_path: Path) -> None:
    path = tmp_path / "a socket path"
    bound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    socks.append(bound)
    bound.bind(str(path))
    loose = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    socks.append(loose)
    got = _all()
    b, lo = got[str(_ino(bound))], got[str(_ino(loose))]
    assert b.name == str(path) and b.state == "unconnected" and b.type == "dgram"
    assert lo.name is None and lo.state == "unconnected" and lo.peer is None


def test_diag_peers_agrees_with_read_unix(socks: list[socket.socket]) -> None:
    a, b = socket.socketpair()
    socks += [a, b]
    peers = sockets.diag_peers()
    assert peers[_ino(a)] == (_ino(b), 0)
    assert peers[_ino(b)] == (_ino(a), 0)
    listed = {int(s.id) for s in sockets.read_unix(live=False)}
    assert {_ino(a), _ino(b)} <= listed
    offline = {s.id: s for s in sockets.read_unix(live=False)}[str(_ino(a))]
    assert offline.peer is None and offline.bytes is None


def test_netlink_failure_leaves_fields_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise PermissionError("netlink refused")

    monkeypatch.setattr(sockets._socket, "socket", refuse)
    assert sockets.diag_peers() == {}
    write_unix(tmp_path, [unix_line(inode=42, st=3)])
    (s,) = sockets.read_unix(tmp_path, live=True)
    assert s.id == "42" and s.peer is None and s.bytes is None


# --- fixture /proc/net/unix ------------------------------------------------------------------

def test_fixture_unix(tmp_path: Path) -> None:
    write_unix(tmp_path, [
        unix_line(inode=1001, flags=0x10000, stype=1, st=1, path="/run/my app/ctl.sock"),
        unix_line(inode=1002, stype=2, st=3, path="@abstract@with@nuls"),
        unix_line(inode=1003, stype=5, st=1),
        unix_line(inode=1004, stype=3, st=4),
        unix_line(inode=0, stype=1, st=2, path="@pending"),
        unix_line(inode=1005, stype=1, st=3, path=" leading space"),
    ])
    got = {s.id: s for s in sockets.read_unix(tmp_path, live=False)}
    assert list(got) == ["1001", "1002", "1003", "1004", "1005"]
    assert (got["1001"].state, got["1001"].type, got["1001"].name) == (
        "listen", "stream", "/run/my app/ctl.sock")
    assert (got["1002"].state, got["1002"].type, got["1002"].name) == (
        "connected", "dgram", "@abstract@with@nuls")
    assert (got["1003"].state, got["1003"].type, got["1003"].name) == (
        "unconnected", "seqpacket", None)
    assert got["1004"].type == "unknown" and got["1004"].state == "unconnected"
    assert got["1005"].name == " leading space"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0000000000000000: 00000002 00000000", "expected at least 7 fields, got 3"),
        (unix_line(inode=7).replace(" 0001 ", " 00zz "), "not hex: 00000000 00zz 01"),
        (unix_line(inode=7).replace("    7", " seven"), "inode: not a number: 'seven'"),
    ],
)
def test_fixture_unix_malformed(tmp_path: Path, bad: str, message: str) -> None:
    path = write_unix(tmp_path, [unix_line(inode=5), bad])
    with pytest.raises(ParseError) as err:
        sockets.read_unix(tmp_path, live=False)
    assert str(err.value).startswith(f"{path}:3: ") and message in str(err.value)


def test_fixture_unix_header_and_missing(tmp_path: Path) -> None:
    assert sockets.read_unix(tmp_path, live=False) == []
    path = tmp_path / "net" / "unix"
    path.parent.mkdir(parents=True)
    path.write_text(unix_line(inode=5) + "\n")
    with pytest.raises(ParseError, match=r"unix:1: missing header"):
        sockets.read_unix(tmp_path, live=False)


# --- netlink decoding ------------------------------------------------------------------------

def _rta(rtype: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), rtype) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _nlmsg(mtype: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, 2, 1, 0) + body


def _diag_msg(inode: int, *attrs: bytes) -> bytes:
    body = struct.pack("=BBBBIII", socket.AF_UNIX, 1, 1, 0, inode, 0, 0) + b"".join(attrs)
    return _nlmsg(sockets.SOCK_DIAG_BY_FAMILY, body)


def test_parse_diag_records_and_done() -> None:
    data = (
        _diag_msg(10, _rta(0, b"@x\0"), _rta(sockets.UNIX_DIAG_PEER, struct.pack("=I", 11)),
                  _rta(sockets.UNIX_DIAG_RQLEN, struct.pack("=II", 7, 0)))
        + _diag_msg(12, _rta(sockets.UNIX_DIAG_RQLEN, struct.pack("=II", 3, 128)))
        + _diag_msg(13, _rta(sockets.UNIX_DIAG_PEER, struct.pack("=I", 0)))
    )
    out: dict[int, tuple[int | None, int | None]] = {}
    assert sockets.parse_diag(data, out) is False  # more parts to come
    assert out == {10: (11, 7), 12: (None, 3), 13: (None, None)}
    assert sockets.parse_diag(_nlmsg(sockets.NLMSG_DONE, struct.pack("=i", 0)), out) is True


def test_parse_diag_errors() -> None:
    with pytest.raises(OSError, match="refused"):
        sockets.parse_diag(_nlmsg(sockets.NLMSG_ERROR, struct.pack("=i", -22) + b"\0" * 16), {})
    with pytest.raises(OSError, match="truncated"):
        sockets.parse_diag(_diag_msg(10)[:-4], {})
