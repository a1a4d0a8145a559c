"""Which columns each kind shows, shared by `ipctop snapshot`'s tables and the TUI's.

A Column turns an object into a sortable raw value and a display string, so the command line and
the TUI agree on what a column means. No Textual here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ipctop.fmt import human_age, human_bytes, short_time
from ipctop.kinds import SysvSem, SysvShm
from ipctop.model import SYSV_KINDS, IpcObject, Kind


@dataclass(frozen=True)
class Column:
    key: str
    """Stable identifier, used for sorting and as the TUI column key."""
    title: str
    get: Callable[[IpcObject], Any]
    """Raw value (sortable; None sorts first)."""
    show: Callable[[Any, float], str] = lambda v, now: "-" if v is None else str(v)
    """Raw value and "now" -> display text."""
    right: bool = False
    timed: bool = False
    """The text depends on "now" (an age), not only on the object."""
    help: str = ""
    """What the column shows, for ``--list-columns``."""
    unit: str = ""
    """"bytes" for sizes (printed as whole numbers with ``--bytes``), "time" for a point in time
    (epoch seconds; ``--time-format`` picks how), else ""."""
    trunc: bool = False
    """Free text (a command line, a list of users) that a table may cut to fit the terminal;
    identifiers are never cut."""
    priority: int | None = None
    """How soon the command line's tables hide the column when cutting is not enough to fit
    the terminal (0: never); None: the TUI's priority for its key (ipctop.ui.column_fit)."""
    min_width: int = 0
    """Free text cut shorter than this says nothing (a reason cut to "no proc…"): the table
    hides less important columns rather than cut it below this."""

    @property
    def name(self) -> str:
        """The command line's name for the column: its header in the CLI tables and the word
        ``-o`` takes, e.g. "USED-BY" (the title without spaces, as util-linux names columns)."""
        return self.title.replace(" ", "-")

    def text(self, obj: IpcObject, now: float | None = None) -> str:
        return self.show(self.get(obj), time.time() if now is None else now)

    def sort_key(self, obj: IpcObject) -> tuple[int, Any]:
        value = self.get(obj)
        if value is None:
            return (0, 0)
        if isinstance(value, str) and value.isdigit():
            return (1, int(value))
        return (1 if isinstance(value, (int, float)) else 2, value)


def _bytes(v: Any, now: float) -> str:
    return human_bytes(v)


def _age(v: Any, now: float) -> str:
    return human_age(v, now)


def _when(v: Any, now: float) -> str:
    return short_time(v, now)


def _age_column(key: str, title: str, get: Callable[[IpcObject], Any], help: str) -> Column:
    """A time shown as its age: "3m"."""
    return Column(key, title, get, _age, right=True, timed=True, help=help)


def _bytes_column(key: str, title: str, get: Callable[[IpcObject], Any], help: str) -> Column:
    """A size: "4.0K", or 4096 with ``--bytes``."""
    return Column(key, title, get, _bytes, right=True, help=help, unit="bytes")


def _number(key: str, title: str, help: str) -> Column:
    """A kind-specific whole number (a count, a pid), right-aligned."""
    return Column(key, title, _attr(key), right=True, help=help)


def users_text(obj: IpcObject, limit: int = 3) -> str:
    """"1234/python,88/redis +2": the first few users' pid/comm, de-duplicated by pid."""
    return obj.holders_text(limit, ",", " +{n}") or "-"


def _readers_writers(obj: IpcObject) -> str:
    return f"{len(obj.pids_with_access('r'))}/{len(obj.pids_with_access('w'))}"


def _leak_text(obj: IpcObject) -> str:
    if obj.leak is None:
        return ""
    return {"leak": "LEAK", "pending_removal": "rmid", "unknown": "?"}.get(obj.leak.status, "?")


def _attr(name: str) -> Callable[[IpcObject], Any]:
    return lambda o: getattr(o, name, None)


ID = Column("id", "ID", lambda o: o.id, right=True, help="SysV id (what ipcrm -m/-q/-s takes)")
KEY = Column("key", "KEY", lambda o: o.key, help="SysV key, 0x%08x (0x00000000: IPC_PRIVATE)")
NAME = Column("name", "NAME", lambda o: o.name,
              help="POSIX /name, socket path or @abstract name")
OWNER = Column("owner", "OWNER", lambda o: o.owner, help="owner's user name (or uid)")
UID = Column("uid", "UID", lambda o: o.uid, right=True, help="owner's user id")
MODE = Column("mode", "MODE", lambda o: o.mode, help="permission bits, octal")
SIZE = _bytes_column("size", "SIZE", lambda o: o.size, "bytes the object occupies or can hold")
NUSERS = Column("nusers", "PROCS", lambda o: len(o.pids), right=True,
                help="processes using it (open fd or mapping)")
USERS = Column("users", "USED BY", users_text, trunc=True,
               help="the first processes using it, as pid/command")
AGE = _age_column("age", "CHANGED", lambda o: o.ctime, "time since its last status change")
CTIME = Column("ctime", "CTIME", lambda o: o.ctime, _when, right=True, timed=True,
               help="time of the last status change (SysV: creation or IPC_SET; files: ctime; "
               "a POSIX queue's moves with every read of its file: LAST OP is its last send "
               "or receive)",
               unit="time")
LEAK = Column("leak", "LEAK", _leak_text,
              help="leak verdict: LEAK, rmid (pending removal) or ? (unknown)")
_KIND_ORDER = list(Kind)
KIND = Column("kind", "KIND", lambda o: _KIND_ORDER.index(o.kind),
              lambda v, now: _KIND_ORDER[v].label, help="kind of object")
"""Sorts in the order of Kind (SysV first, as `ipctop snapshot` prints), shows the label."""
KIND_WORD = Column("kind", "KIND", lambda o: o.kind.word,
                   help="kind, as commands take it (sysv-shm, posix-mq, ...)")
"""The kind as typed on the command line, for tables a script reads (``-o KIND,...``)."""


CONTAINER = Column("container", "CONTAINER", _attr("place"), priority=1,
                   help="for an object of another namespace: its container, or the namespace "
                   "inode when nothing names one (\"-\": ipctop's own)")
NS_PID = Column("ns_pid", "NS-PID", _attr("ns_pid"), right=True,
                help="for an object of another namespace: a process in it (what --ns PID takes)")
QBYTES = _bytes_column("bytes", "QUEUED", _attr("bytes"), "bytes queued, waiting to be read")


class Connections(int):
    """A listening socket's queue, in a column of bytes: connections, not bytes. The kernel
    reports a listener's accept queue (and a TCP listener's backlog limit) in the fields that
    hold bytes for every other socket, as ``ss`` prints them under Recv-Q and Send-Q."""


def listening(o: IpcObject) -> bool:
    """A listening socket (UNIX or TCP; a UDP socket never listens: its queue is bytes of
    datagrams)."""
    return getattr(o, "state", None) == "listen"


def listener_field_text(name: str, value: int) -> str | None:
    """A listening socket's ``bytes`` or ``send_bytes`` field for people, in connections (the
    detail pane); None for any other field."""
    if name == "bytes":
        return f"{value} connection{'' if value == 1 else 's'} waiting to be accepted"
    if name == "send_bytes":
        return f"backlog of {value} connection{'' if value == 1 else 's'}"
    return None


def _listener(get: Callable[[IpcObject], Any]) -> Callable[[IpcObject], Any]:
    """``get``, as :class:`Connections` when the object is a listening socket."""

    def value(o: IpcObject) -> Any:
        v = get(o)
        return Connections(v) if v is not None and listening(o) else v

    return value


def _socket_queue(v: Any, now: float) -> str:
    """"1.2K" of bytes, or "2 conn" waiting in a listener's queue."""
    return f"{int(v)} conn" if isinstance(v, Connections) else human_bytes(v)


def _backlog(v: Any, now: float) -> str:
    """"4.0K" of bytes, or "max 4096" connections: a TCP listener's backlog limit."""
    return f"max {int(v)}" if isinstance(v, Connections) else human_bytes(v)


SOCKET_QUEUED = Column("bytes", "QUEUED", _listener(_attr("bytes")), _socket_queue, right=True,
                       unit="bytes", help="bytes queued, waiting to be read (a listener: "
                       "connections waiting to be accepted, \"2 conn\")")
SENDQ = Column("send_bytes", "SENDQ", _listener(_attr("send_bytes")), _backlog, right=True,
               unit="bytes", help="send queue: bytes not acknowledged (a TCP listener: its "
               "backlog limit, \"max 4096\")")
RW = Column("rw", "R/W", _readers_writers, right=True,
            help="processes holding it for reading / for writing")
INODE = Column("inode", "INODE", lambda o: int(o.id), right=True, help="inode number")
PATH = Column("path", "PATH", lambda o: o.id, help="path of the file")
CAPACITY = _bytes_column("capacity", "CAPACITY", _attr("capacity"),
                         "buffer size (F_GETPIPE_SZ)")
MSGS = _number("messages", "MSGS", "messages queued")


def _shm_status(o: IpcObject) -> str:
    assert isinstance(o, SysvShm)
    flags = [f for f, on in (("dest", o.dest), ("locked", o.locked)) if on]
    return ",".join(flags) or "-"


def _values(o: IpcObject) -> str | None:
    assert isinstance(o, SysvSem)
    if o.values is None:
        return None
    shown = ",".join(str(v) for v in o.values[:8])
    return shown + ("..." if len(o.values) > 8 else "")


def _seals(o: IpcObject) -> str | None:
    seals = getattr(o, "seals", None)
    return None if seals is None else ",".join(seals) or "none"


def _yes_no(v: Any, now: float) -> str:
    return "-" if v is None else "yes" if v else "no"


def _proto(o: IpcObject) -> str:
    """"tcp", "udp6": the protocol, and the family as ``ss`` and /proc/net name files."""
    proto = getattr(o, "proto", "?")
    return proto + ("6" if getattr(o, "family", None) == "ipv6" else "")


COLUMNS: dict[Kind | None, tuple[Column, ...]] = {
    None: (KIND, Column("ident", "ID/NAME", lambda o: o.name or o.id,
                        help="id, name or path"), OWNER, SIZE, NUSERS, USERS, LEAK),
    Kind.SYSV_SHM: (ID, KEY, OWNER, MODE, SIZE,
                    _number("nattch", "NATTCH", "processes attached (the kernel's count)"),
                    _number("cpid", "CPID", "pid of the creator"),
                    _number("lpid", "LPID", "pid of the last attach or detach"),
                    Column("status", "STATUS", _shm_status,
                           help="dest (removed, still attached) and locked (SHM_LOCK)"),
                    _age_column("atime", "ATTACHED", _attr("atime"), "time since the last attach"),
                    Column("creator", "CREATOR", _attr("creator"), trunc=True,
                           help="command line of the creator, while it runs"),
                    USERS, LEAK),
    Kind.SYSV_MSG: (ID, KEY, OWNER, MODE, MSGS, QBYTES,
                    _number("lspid", "LSPID", "pid of the last sender"),
                    _number("lrpid", "LRPID", "pid of the last receiver"),
                    _age_column("stime", "SENT", _attr("stime"), "time since the last send"),
                    LEAK),
    Kind.SYSV_SEM: (ID, KEY, OWNER, MODE, _number("nsems", "NSEMS", "semaphores in the set"),
                    Column("values", "VALUES", _values, trunc=True,
                           help="the semaphores' values (the first 8)"),
                    _age_column("otime", "LAST OP", _attr("otime"),
                                "time since the last semop"),
                    LEAK),
    Kind.POSIX_SHM: (NAME, OWNER, MODE, SIZE, NUSERS, AGE, USERS, LEAK),
    Kind.POSIX_MQ: (NAME, OWNER, MODE, MSGS,
                    _number("maxmsg", "MAXMSG", "most messages the queue holds"),
                    _bytes_column("msgsize", "MSGSIZE", _attr("msgsize"),
                                  "largest message the queue takes"),
                    QBYTES, NUSERS, USERS, LEAK),
    Kind.POSIX_SEM: (NAME, OWNER, MODE, _number("value", "VALUE", "the semaphore's value"),
                     NUSERS, AGE, USERS, LEAK),
    Kind.PIPE: (INODE, QBYTES, CAPACITY, RW, USERS, LEAK),
    Kind.FIFO: (PATH, OWNER, MODE, QBYTES, CAPACITY, RW, USERS, LEAK),
    Kind.UNIX_SOCKET: (INODE, NAME,
                       Column("type", "TYPE", _attr("type"), help="stream, dgram or seqpacket"),
                       Column("state", "STATE", _attr("state"),
                              help="listen, connected or unconnected"),
                       _number("peer", "PEER", "inode of the other end"), SOCKET_QUEUED, USERS),
    Kind.SHARED_MAPPING: (PATH, SIZE, NUSERS, RW, USERS),
    Kind.ANON_SHM: (INODE, Column("name", "NAME", lambda o: o.name,
                           help="[anon_shmem:NAME] name (PR_SET_VMA_ANON_NAME), if any"), SIZE,
                    _bytes_column("rss", "RSS", _attr("rss"),
                                  "bytes in memory (smaps of one holder: rss_pid)"),
                    _bytes_column("swap", "SWAP", _attr("swap"), "bytes swapped out"),
                    NUSERS, USERS),
    Kind.MEMFD: (INODE, Column("name", "NAME", lambda o: o.name,
                               help="the name given to memfd_create"), OWNER, SIZE,
                 Column("seals", "SEALS", _seals,
                        help="F_GET_SEALS: seal, shrink, grow, write, future_write, exec"),
                 NUSERS, USERS),
    Kind.EVENTFD: (Column("id", "EVENTFD", lambda o: o.id, right=True,
                          help="eventfd-id from fdinfo"),
                   _number("count", "COUNT", "the counter's value"),
                   Column("semaphore", "SEM", _attr("semaphore"), _yes_no,
                          help="created with EFD_SEMAPHORE"),
                   NUSERS, USERS),
    Kind.INET_SOCKET: (INODE, Column("proto", "PROTO", _proto, help="tcp, udp, tcp6 or udp6"),
                       Column("state", "STATE", _attr("state"),
                              help="TCP state (established, listen...), UDP connected or not"),
                       Column("local", "LOCAL", _attr("local"), help="local address:port"),
                       Column("remote", "REMOTE", _attr("remote"),
                              help="address:port connected to"),
                       _number("peer", "PEER", "inode of the other end, on this machine"),
                       SOCKET_QUEUED, SENDQ, USERS),
}
"""Columns per kind; the key None is the "All" overview."""

EXTRA_COLUMNS: dict[Kind, tuple[Column, ...]] = {
    Kind.SYSV_SHM: (_bytes_column("rss", "RSS", _attr("rss"), "bytes resident in memory"),
                    _bytes_column("swap", "SWAP", _attr("swap"), "bytes swapped out"),
                    _age_column("dtime", "DETACHED", _attr("dtime"),
                                "time since the last detach"),
                    NUSERS),
    Kind.SYSV_MSG: (_age_column("rtime", "RECEIVED", _attr("rtime"),
                                "time since the last receive"),
                    _bytes_column("size", "SIZE", lambda o: o.size,
                                  "bytes the queue can hold (msg_qbytes)")),
    Kind.POSIX_SHM: (Column("path", "PATH", _attr("path"), help="the file in /dev/shm"),),
    Kind.POSIX_MQ: (_age_column("mtime", "LAST OP", _attr("mtime"),
                                "time since the last send or receive"),
                    _number("notify_pid", "NOTIFY", "pid registered for mq_notify")),
    Kind.POSIX_SEM: (Column("path", "PATH", _attr("path"), help="the file in /dev/shm"),),
    Kind.PIPE: (NUSERS,),
    Kind.FIFO: (NUSERS,),
    Kind.UNIX_SOCKET: (NUSERS,),
}
"""Columns a kind also offers on the command line (``-o``), beyond those it shows by default."""



def columns_for(kind: Kind | None) -> Sequence[Column]:
    return COLUMNS[kind]


def cli_columns(kind: Kind) -> tuple[Column, ...]:
    """The columns ``ipctop snapshot`` prints for ``kind`` by default: the TUI's, plus CTIME for
    the SysV kinds (before LEAK), as lsipc shows it."""
    cols = COLUMNS[kind]
    if kind in SYSV_KINDS:
        return (*cols[:-1], CTIME, cols[-1])
    return cols


def with_container(columns: Sequence[Column], objects: Sequence[IpcObject]) -> list[Column]:
    """``columns``, with CONTAINER after the id or name when some of ``objects``
    live in another namespace, where the same id can mean another object; as they are
    otherwise."""
    if CONTAINER in columns or all(o.ns_pid is None for o in objects):
        return list(columns)
    at = next((i + 1 for i, c in enumerate(columns) if c.key in _IDENTIFIERS), 1)
    return [*columns[:at], CONTAINER, *columns[at:]]


_IDENTIFIERS = ("id", "ident", "name", "path", "inode")


def all_columns(kind: Kind) -> tuple[Column, ...]:
    """Every column ``-o`` takes for ``kind``: the defaults, its extras, then KIND, UID, CTIME,
    CONTAINER and NS-PID."""
    out = list(cli_columns(kind))
    for extra in (*EXTRA_COLUMNS.get(kind, ()), KIND_WORD, UID, CTIME, CONTAINER, NS_PID):
        if all(c.key != extra.key for c in out):
            out.append(extra)
    return tuple(out)
