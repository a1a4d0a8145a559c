"""UNIX domain sockets: /proc/net/unix for the list, sock_diag netlink for peers and queues.

/proc/net/unix names every socket of our network namespace with its type, state and bound name,
but not the other end of a connection. The kernel's sock_diag interface (NETLINK_SOCK_DIAG, the
one ``ss -x`` uses) gives, for every socket in one dump and without privileges, the inode of its
peer and its receive queue. It is spoken here with the ``socket`` module alone.

The two reads are not atomic: a socket that appears in one and not the other simply keeps None
for the netlink fields.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from ipctop.collect.common import PROC
from ipctop.errors import ParseError
from ipctop.model import UnixSocket

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3

UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_RQLEN = 0x10
UNIX_DIAG_PEER = 2
UNIX_DIAG_RQLEN = 4

SO_ACCEPTCON = 0x10000
"""__SO_ACCEPTCON in /proc/net/unix Flags: the socket is listening."""

TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}

_NLMSGHDR = struct.Struct("=IHHII")
# unix_diag_req: family, protocol, pad, states, ino, show, cookie[2]
_UNIX_DIAG_REQ = struct.Struct("=BBHIIIII")
# unix_diag_msg: family, type, state, pad, ino, cookie[2]
_UNIX_DIAG_MSG = struct.Struct("=BBBBIII")
_RTATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_RECV_SIZE = 65536
"""The kernel fills at most 32 KiB per dump reply; a larger buffer never truncates one."""
_TIMEOUT = 2.0


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _diag_request(seq: int) -> bytes:
    req = _UNIX_DIAG_REQ.pack(
        socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0,
        UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_NAME, 0xFFFFFFFF, 0xFFFFFFFF,
    )
    hdr = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return hdr + req


def parse_diag(data: bytes, out: dict[int, tuple[int | None, int | None]]) -> bool:
    """Add the unix_diag_msg records of one netlink reply to ``out``; True once the dump is done.

    Raises OSError on an NLMSG_ERROR record or a record that does not fit.
    """
    off = 0
    end = len(data)
    while off + _NLMSGHDR.size <= end:
        length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > end:
            raise OSError("truncated netlink message")
        if mtype == NLMSG_DONE:
            return True
        if mtype == NLMSG_ERROR:
            raise OSError("sock_diag refused the request")
        if mtype == SOCK_DIAG_BY_FAMILY:
            body = off + _NLMSGHDR.size
            if body + _UNIX_DIAG_MSG.size > off + length:
                raise OSError("short unix_diag_msg")
            inode = _UNIX_DIAG_MSG.unpack_from(data, body)[4]
            peer: int | None = None
            rqueue: int | None = None
            at = body + _UNIX_DIAG_MSG.size
            stop = off + length
            while at + _RTATTR.size <= stop:
                rta_len, rta_type = _RTATTR.unpack_from(data, at)
                if rta_len < _RTATTR.size:
                    break
                payload = at + _RTATTR.size
                if rta_type == UNIX_DIAG_PEER and rta_len >= _RTATTR.size + 4:
                    # 0: the peer is a connection not yet accepted, which has no inode yet.
                    peer = _U32.unpack_from(data, payload)[0] or None
                elif rta_type == UNIX_DIAG_RQLEN and rta_len >= _RTATTR.size + 4:
                    rqueue = _U32.unpack_from(data, payload)[0]
                at += _align4(rta_len)
            out[inode] = (peer, rqueue)
        off += _align4(length)
    return False


def diag_peers() -> dict[int, tuple[int | None, int | None]]:
    """inode -> (peer inode or None, receive queue) for every UNIX socket, via sock_diag.

    The receive queue is bytes waiting (for a datagram socket: the size of the next datagram);
    for a listening socket it is the number of connections waiting to be accepted. Any failure
    (no netlink, a refusal, a timeout) gives {}: the fields then stay None, nothing raises.
    """
    out: dict[int, tuple[int | None, int | None]] = {}
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(_TIMEOUT)
            nl.sendto(_diag_request(1), (0, 0))
            while True:
                data = nl.recv(_RECV_SIZE)
                if not data:
                    return {}
                if parse_diag(data, out):
                    return out
    except (OSError, struct.error):
        return {}


def _state(flags: int, st: int) -> str:
    if flags & SO_ACCEPTCON:
        return "listen"
    if st == 3:  # SS_CONNECTED
        return "connected"
    return "unconnected"


def read_unix(proc: Path = PROC, *, live: bool = True) -> list[UnixSocket]:
    """Every UNIX socket in ``proc``/net/unix; with ``live``, peer and queue from sock_diag."""
    path = proc / "net" / "unix"
    try:
        with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
            lines = f.read().split("\n")
    except (FileNotFoundError, PermissionError):
        return []
    if not lines[0].startswith("Num"):
        raise ParseError(path, 1, "missing header line (Num RefCount Protocol ...)")
    peers = diag_peers() if live else {}
    out: list[UnixSocket] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(None, 6)
        if len(parts) != 7:
            raise ParseError(path, lineno, f"expected at least 7 fields, got {len(parts)}")
        inode_text, _, name = parts[6].partition(" ")
        try:
            flags = int(parts[3], 16)
            stype = int(parts[4], 16)
            st = int(parts[5], 16)
            inode = int(inode_text)
        except ValueError:
            raise ParseError(path, lineno, f"not a socket line: {line!r}") from None
        if inode == 0:
            # A connection queued on a listener and not yet accepted: no inode, no fd, nobody
            # uses it yet; the listener's backlog (its ``bytes``) counts it.
            continue
        peer, rqueue = peers.get(inode, (None, None))
        out.append(UnixSocket(
            id=str(inode),
            name=name or None,
            type=TYPES.get(stype, "unknown"),
            state=_state(flags, st),
            peer=peer,
            bytes=rqueue,
        ))
    return out
