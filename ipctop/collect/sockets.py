"""UNIX domain sockets: /proc/net/unix for the list, sock_diag netlink for peers and queues.

/proc/net/unix names every socket of our network namespace with its type, state and bound name,
but not the other end of a connection. The kernel's sock_diag interface (NETLINK_SOCK_DIAG, the
one ``ss -x`` uses) gives, for every socket in one dump and without privileges, the inode of its
peer and its receive queue. It is spoken here with the ``socket`` module alone.

The two reads are not atomic: a socket that appears in one and not the other simply keeps None
for the netlink fields.
"""

from __future__ import annotations

import _socket  # the C module: `socket` costs ~10 ms of imports (enums, selectors)
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ipctop.collect.common import PROC
from ipctop.errors import ParseError
from ipctop.kinds import UnixSocket
from ipctop.model import IpcObject, evolve

if TYPE_CHECKING:
    from ipctop.join import Join

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3

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
_NLMSG_HEAD = struct.Struct("=IH")
"""nlmsg_len and nlmsg_type: all the parser needs of a header."""
_RTATTR_U32 = struct.Struct("=HHI")
"""An rtattr header and the first u32 of its payload (UNIX_DIAG_PEER; RQLEN's rqueue)."""
_U32 = struct.Struct("=I")
_INODE_AT = _NLMSGHDR.size + 4
_MSG_MIN = _NLMSGHDR.size + _UNIX_DIAG_MSG.size
_RECV_SIZE = 65536
"""The kernel fills at most 32 KiB per dump reply; a larger buffer never truncates one."""
_TIMEOUT = 2.0
_NO_PEER: tuple[None, None] = (None, None)


def _diag_request(seq: int) -> bytes:
    req = _UNIX_DIAG_REQ.pack(
        _socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0,
        UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN, 0xFFFFFFFF, 0xFFFFFFFF,
    )
    hdr = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return hdr + req


def parse_diag(data: bytes, out: dict[int, tuple[int | None, int | None]]) -> bool:
    """Add the unix_diag_msg records of one netlink reply to ``out``; True once the dump is done.

    Raises OSError on an NLMSG_ERROR record or a record that does not fit. Written for speed (a
    desktop has thousands of sockets): one unpack per header and per attribute.
    """
    header = _NLMSG_HEAD.unpack_from
    u32 = _U32.unpack_from
    attribute = _RTATTR_U32.unpack_from
    off = 0
    end = len(data)
    while off + _NLMSGHDR.size <= end:
        length, mtype = header(data, off)
        stop = off + length
        if length < _NLMSGHDR.size or stop > end:
            raise OSError("truncated netlink message")
        if mtype == SOCK_DIAG_BY_FAMILY:
            if length < _MSG_MIN:
                raise OSError("short unix_diag_msg")
            inode = u32(data, off + _INODE_AT)[0]
            peer: int | None = None
            rqueue: int | None = None
            at = off + _MSG_MIN
            while at + _RTATTR_U32.size <= stop:
                rta_len, rta_type, value = attribute(data, at)
                if rta_len < _RTATTR_U32.size:
                    if rta_len < 4:
                        break
                elif rta_type == UNIX_DIAG_PEER:
                    # 0: the peer is a connection not yet accepted, which has no inode yet.
                    peer = value or None
                elif rta_type == UNIX_DIAG_RQLEN:
                    rqueue = value
                at += (rta_len + 3) & ~3
            out[inode] = (peer, rqueue)
        elif mtype == NLMSG_DONE:
            return True
        elif mtype == NLMSG_ERROR:
            raise OSError("sock_diag refused the request")
        off += (length + 3) & ~3
    return False


def diag_peers() -> dict[int, tuple[int | None, int | None]]:
    """inode -> (peer inode or None, receive queue) for every UNIX socket, via sock_diag.

    The receive queue is bytes waiting (for a datagram socket: the size of the next datagram);
    for a listening socket it is the number of connections waiting to be accepted. Any failure
    (no netlink, a refusal, a timeout) gives {}: the fields then stay None, nothing raises.
    """
    out: dict[int, tuple[int | None, int | None]] = {}
    try:
        diag_dump(_diag_request(1), lambda data: parse_diag(data, out))
    except OSError:
        return {}
    return out


def diag_dump(request: bytes, parse: Callable[[bytes], bool]) -> None:
    """Send one sock_diag dump ``request`` and hand each reply to ``parse`` until it says the
    dump is done. OSError on any failure (no netlink, a refusal, a timeout, a malformed reply).
    The UNIX and the TCP/UDP (collect/inet.py) collectors share it."""
    nl = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        nl.settimeout(_TIMEOUT)
        nl.sendto(request, (0, 0))
        while True:
            data = nl.recv(_RECV_SIZE)
            if not data:
                raise OSError("sock_diag: empty reply")
            try:
                if parse(data):
                    return
            except struct.error as err:
                raise OSError(f"sock_diag: {err}") from None
    finally:
        nl.close()


def _classify(path: Path, lineno: int, flags: str, stype: str, st: str) -> tuple[str, str]:
    """(type, state) from the hex Flags, Type and St columns."""
    try:
        flag_bits, type_num, st_num = int(flags, 16), int(stype, 16), int(st, 16)
    except ValueError:
        raise ParseError(path, lineno, f"not hex: {flags} {stype} {st}") from None
    if flag_bits & SO_ACCEPTCON:
        state = "listen"
    elif st_num == 3:  # SS_CONNECTED
        state = "connected"
    else:
        state = "unconnected"
    return TYPES.get(type_num, "unknown"), state


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
    classes: dict[tuple[str, str, str], tuple[str, str]] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        parts = line.split(None, 6)
        if len(parts) != 7:
            if not parts:
                continue
            raise ParseError(path, lineno, f"expected at least 7 fields, got {len(parts)}")
        inode_text, _, name = parts[6].partition(" ")
        try:
            inode = int(inode_text)
        except ValueError:
            raise ParseError(path, lineno, f"inode: not a number: {inode_text!r}") from None
        if inode == 0:
            # A connection queued on a listener and not yet accepted: no inode, no fd, nobody
            # uses it yet; the listener's backlog (its ``bytes``) counts it.
            continue
        cols = (parts[3], parts[4], parts[5])
        cls = classes.get(cols)
        if cls is None:
            cls = classes[cols] = _classify(path, lineno, *cols)
        peer, rqueue = peers.get(inode, _NO_PEER)
        out.append(UnixSocket(
            id=str(inode),
            name=name or None,
            type=cls[0],
            state=cls[1],
            peer=peer,
            bytes=rqueue,
        ))
    return out


def join_unix(join: Join, socks: list[UnixSocket]) -> list[IpcObject]:
    """Holders of each socket: fds linking to "socket:[INODE]" (access is not read for sockets)."""
    out: list[IpcObject] = []
    for s in socks:
        try:
            ino = int(s.id)
        except ValueError:
            out.append(s)
            continue
        out.append(evolve(s, users=join.fd_users(join.socks_by_ino.get(ino, ()), access=False)))
    return out
