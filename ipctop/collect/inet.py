"""TCP and UDP between processes on this machine: loopback, or any local address.

A TCP or UDP socket is IPC when the other end is a process on this machine. The kernel's
sock_diag interface (NETLINK_SOCK_DIAG with ``inet_diag_req_v2``, what ``ss -tuan`` uses) dumps
every socket of our network namespace with its addresses, state, queues and inode, without
privileges; /proc/net/{tcp,tcp6,udp,udp6} say the same in text and are the fallback (a kernel
without the inet_diag or udp_diag modules).

The two ends of a connection are matched by their address pairs: the other end of a socket
local=A remote=B is the socket local=B remote=A. An IPv4 address seen through an IPv6 socket
(``::ffff:127.0.0.1``, a dual-stack listener's accepted connections) is matched as the IPv4
address. A listener (TCP LISTEN, or a UDP socket bound but not connected) is listed when a
local socket is connected to it: for TCP, a socket with the listener's port and address (or any
address, for a wildcard listener) whose other end is here; for UDP, a socket connected to the
listener's port on its address or, for a wildcard listener, on an address of this machine.
Sockets without an inode (TIME_WAIT, connections not accepted yet) are never listed, but they
count as the other end: a client whose connection waits in a local listener's queue is listed
with ``peer`` None.
"""

from __future__ import annotations

import _socket  # the C module: `socket` costs ~10 ms of imports (enums, selectors)
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ipctop.collect import sockets
from ipctop.collect.common import PROC
from ipctop.collect.sockets import (
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    SOCK_DIAG_BY_FAMILY,
)
from ipctop.errors import ParseError
from ipctop.kinds import InetSocket
from ipctop.model import IpcObject

if TYPE_CHECKING:
    from ipctop.join import Join

IPPROTO_TCP = 6
IPPROTO_UDP = 17
PROTOCOLS = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP}
FAMILIES = {"ipv4": _socket.AF_INET, "ipv6": _socket.AF_INET6}

TCP_ESTABLISHED = 1
TCP_CLOSE = 7
TCP_LISTEN = 10
TCP_STATES = {
    1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait-1", 5: "fin-wait-2",
    6: "time-wait", 7: "close", 8: "close-wait", 9: "last-ack", 10: "listen", 11: "closing",
    12: "new-syn-recv",
}
"""The kernel's TCP states (include/net/tcp_states.h), named as ``ss`` names them."""

_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI48s")
"""inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid (all zeros)."""
_MSG = struct.Struct("=BBBB2s2s16s16s12sIIIII")
"""inet_diag_msg: family, state, timer, retrans, sockid (sport, dport: big-endian; src, dst:
16 bytes each; interface and cookie), expires, rqueue, wqueue, uid, inode."""
_NLMSG_HEAD = struct.Struct("=IH")
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"


@dataclass(frozen=True, slots=True)
class InetEntry:
    """One TCP or UDP socket as sock_diag or /proc/net reports it."""

    proto: str
    family: str
    state: int
    local: tuple[bytes, int]
    """(address bytes: 4 for IPv4, 16 for IPv6; port)."""
    remote: tuple[bytes, int]
    rqueue: int
    wqueue: int
    inode: int


def address_text(addr: tuple[bytes, int]) -> str:
    """"127.0.0.1:5432" or "[::1]:5432"."""
    raw, port = addr
    if len(raw) == 4:
        return f"{_socket.inet_ntop(_socket.AF_INET, raw)}:{port}"
    return f"[{_socket.inet_ntop(_socket.AF_INET6, raw)}]:{port}"


def _norm(raw: bytes) -> bytes:
    """An IPv4-mapped IPv6 address as its IPv4 address, so both sides compare alike."""
    return raw[12:] if len(raw) == 16 and raw.startswith(_V4_MAPPED) else raw


def _wildcard(raw: bytes) -> bool:
    return not raw.strip(b"\0") or raw == _V4_MAPPED + b"\0\0\0\0"


def _loopback(raw: bytes) -> bool:
    raw = _norm(raw)
    return raw[0] == 127 if len(raw) == 4 else raw == b"\0" * 15 + b"\1"


# --------------------------------------------------------------------------- sock_diag


def _request(family: int, protocol: int, seq: int) -> bytes:
    req = _REQ.pack(family, protocol, 0, 0, 0xFFFFFFFF, b"\0" * 48)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(req), SOCK_DIAG_BY_FAMILY,
                          NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + req


def parse_diag(data: bytes, proto: str, out: list[InetEntry]) -> bool:
    """Add the inet_diag_msg records of one netlink reply to ``out``; True once the dump is
    done. OSError on an NLMSG_ERROR record or a record that does not fit."""
    off = 0
    end = len(data)
    while off + _NLMSGHDR.size <= end:
        length, mtype = _NLMSG_HEAD.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > end:
            raise OSError("truncated netlink message")
        if mtype == SOCK_DIAG_BY_FAMILY:
            if length < _NLMSGHDR.size + _MSG.size:
                raise OSError("short inet_diag_msg")
            (family, state, _, _, sport, dport, src, dst, _, _, rqueue, wqueue, _, inode
             ) = _MSG.unpack_from(data, off + _NLMSGHDR.size)
            size = 4 if family == _socket.AF_INET else 16
            out.append(InetEntry(
                proto, "ipv4" if family == _socket.AF_INET else "ipv6", state,
                (src[:size], int.from_bytes(sport, "big")),
                (dst[:size], int.from_bytes(dport, "big")),
                rqueue, wqueue, inode,
            ))
        elif mtype == NLMSG_DONE:
            return True
        elif mtype == NLMSG_ERROR:
            raise OSError("sock_diag refused the request")
        off += (length + 3) & ~3
    return False


def diag_dump(proto: str, family: str) -> list[InetEntry]:
    """Every socket of one protocol and family through sock_diag; OSError when the kernel
    cannot say (no inet_diag/udp_diag, a refusal, a timeout)."""
    out: list[InetEntry] = []
    sockets.diag_dump(_request(FAMILIES[family], PROTOCOLS[proto], 1),
                      lambda data: parse_diag(data, proto, out))
    return out


# --------------------------------------------------------------------------- /proc/net


def _hex_address(text: str, path: Path, lineno: int) -> tuple[bytes, int]:
    """"0100007F:0016" -> (b"\\x7f\\0\\0\\x01", 22): each 32-bit word in the kernel's
    byte order (little-endian here), the port in hex."""
    addr, _, port = text.partition(":")
    try:
        words = bytes.fromhex(addr)
        if len(words) not in (4, 16) or not port:
            raise ValueError
        raw = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
        return raw, int(port, 16)
    except ValueError:
        raise ParseError(path, lineno, f"bad address {text!r}") from None


def parse_proc_net(data: str, path: Path, proto: str, family: str) -> list[InetEntry]:
    """The sockets of one /proc/net/{tcp,tcp6,udp,udp6} file."""
    lines = data.split("\n")
    if not lines[0].lstrip().startswith("sl"):
        raise ParseError(path, 1, "missing header line (sl local_address rem_address ...)")
    out: list[InetEntry] = []
    for lineno, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 10:
            raise ParseError(path, lineno, f"expected at least 10 fields, got {len(parts)}")
        tx, _, rx = parts[4].partition(":")
        try:
            state, wqueue, rqueue, inode = int(parts[3], 16), int(tx, 16), int(rx, 16), \
                int(parts[9])
        except ValueError:
            raise ParseError(path, lineno, f"bad st, queues or inode in {line.strip()!r}") \
                from None
        out.append(InetEntry(proto, family, state, _hex_address(parts[1], path, lineno),
                             _hex_address(parts[2], path, lineno), rqueue, wqueue, inode))
    return out


_FILES = (("tcp", "ipv4", "tcp"), ("tcp", "ipv6", "tcp6"), ("udp", "ipv4", "udp"),
          ("udp", "ipv6", "udp6"))


def read_inet(proc: Path = PROC, *, live: bool = True) -> list[InetEntry]:
    """Every TCP and UDP socket, IPv4 and IPv6: through sock_diag when ``live`` and the kernel
    answers, else from ``proc``/net/{tcp,tcp6,udp,udp6} (a missing file: no such sockets)."""
    out: list[InetEntry] = []
    for proto, family, name in _FILES:
        if live:
            try:
                out += diag_dump(proto, family)
                continue
            except OSError:
                pass  # read the file instead
        path = proc / "net" / name
        try:
            data = path.read_text(encoding="ascii", errors="replace")
        except (FileNotFoundError, PermissionError):
            continue
        out += parse_proc_net(data, path, proto, family)
    return out


# --------------------------------------------------------------------------- join


def _listens(e: InetEntry) -> bool:
    if e.proto == "tcp":
        return e.state == TCP_LISTEN
    return e.state == TCP_CLOSE and e.remote[1] == 0


def local_pairs(entries: list[InetEntry]) -> list[tuple[InetEntry, int | None]]:
    """The sockets (with an inode) to list, each with the inode of its other end (None when
    that end has no fd yet); see the module docstring for the rules."""
    key = defaultdict(list)
    for e in entries:
        key[(e.proto, _norm(e.local[0]), e.local[1], _norm(e.remote[0]), e.remote[1])].append(e)
    here = {_norm(e.local[0]) for e in entries if not _wildcard(e.local[0])}
    listeners: dict[tuple[str, int], list[InetEntry]] = defaultdict(list)
    for e in entries:
        if _listens(e):
            listeners[(e.proto, e.local[1])].append(e)

    def listener_for(e: InetEntry) -> InetEntry | None:
        """The listener ``e``'s remote address reaches, if it is here."""
        addr = _norm(e.remote[0])
        for lst in listeners.get((e.proto, e.remote[1]), ()):
            own = _norm(lst.local[0])
            if own == addr or (_wildcard(own) and (addr in here or _loopback(addr))):
                return lst
        return None

    out: list[tuple[InetEntry, int | None]] = []
    served: set[int] = set()
    for e in entries:
        if _listens(e) or e.remote[1] == 0:
            continue
        others = [o for o in key.get((e.proto, _norm(e.remote[0]), e.remote[1],
                                      _norm(e.local[0]), e.local[1]), ()) if o is not e]
        peer: int | None
        if others:
            peer = others[0].inode or None
            if e.proto == "tcp":  # the accepted end: its listener has a local client
                for lst in listeners.get(("tcp", e.local[1]), ()):
                    own = _norm(lst.local[0])
                    if _wildcard(own) or own == _norm(e.local[0]):
                        served.add(id(lst))
        else:
            reached = listener_for(e)
            if reached is None or (e.proto == "tcp" and e.state not in (TCP_ESTABLISHED, 2)):
                continue  # the other end is elsewhere
            served.add(id(reached))
            peer = (reached.inode or None) if e.proto == "udp" else None
        if e.inode:
            out.append((e, peer))
    out += [(e, None) for group in listeners.values() for e in group
            if id(e) in served and e.inode]
    return out


def join_inet(join: Join, entries: list[InetEntry]) -> list[IpcObject]:
    """An InetSocket for each socket :func:`local_pairs` lists, with its holders."""
    out: list[IpcObject] = []
    for e, peer in local_pairs(entries):
        listening = _listens(e)
        if e.proto == "tcp":
            state = TCP_STATES.get(e.state, str(e.state))
        else:
            state = "unconnected" if e.remote[1] == 0 else "connected"
        out.append(InetSocket(
            id=str(e.inode), proto=e.proto, family=e.family, state=state,
            local=address_text(e.local),
            remote=None if listening or e.remote[1] == 0 else address_text(e.remote),
            peer=peer, bytes=e.rqueue, send_bytes=e.wqueue,
            users=join.fd_users(join.socks_by_ino.get(e.inode, ()), access=False),
        ))
    return out
