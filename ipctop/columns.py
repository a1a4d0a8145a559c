"""Which columns each kind shows, shared by `ipctop snapshot`'s tables and the TUI's.

A Column turns an object into a sortable raw value and a display string, so the command line and
the TUI agree on what a column means. No Textual here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ipctop.fmt import human_age, human_bytes
from ipctop.model import (
    IpcObject,
    Kind,
    SysvSem,
    SysvShm,
)


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


def _age_column(key: str, title: str, get: Callable[[IpcObject], Any]) -> Column:
    """A time shown as its age: "3m"."""
    return Column(key, title, get, _age, right=True, timed=True)


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


ID = Column("id", "ID", lambda o: o.id, right=True)
KEY = Column("key", "KEY", lambda o: o.key)
NAME = Column("name", "NAME", lambda o: o.name)
OWNER = Column("owner", "OWNER", lambda o: o.owner)
MODE = Column("mode", "MODE", lambda o: o.mode)
SIZE = Column("size", "SIZE", lambda o: o.size, _bytes, right=True)
NUSERS = Column("nusers", "PROCS", lambda o: len(o.pids), right=True)
USERS = Column("users", "USED BY", users_text)
AGE = _age_column("age", "CHANGED", lambda o: o.ctime)
LEAK = Column("leak", "LEAK", _leak_text)
_KIND_ORDER = list(Kind)
KIND = Column("kind", "KIND", lambda o: _KIND_ORDER.index(o.kind),
              lambda v, now: _KIND_ORDER[v].label)
"""Sorts in the order of Kind (SysV first, as `ipctop snapshot` prints), shows the label."""
QBYTES = Column("bytes", "QUEUED", _attr("bytes"), _bytes, right=True)
RW = Column("rw", "R/W", _readers_writers, right=True)


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


COLUMNS: dict[Kind | None, tuple[Column, ...]] = {
    None: (KIND, Column("ident", "ID/NAME", lambda o: o.name or o.id), OWNER, SIZE, NUSERS,
           USERS, LEAK),
    Kind.SYSV_SHM: (ID, KEY, OWNER, MODE, SIZE, Column("nattch", "NATTCH", _attr("nattch"),
                    right=True), Column("cpid", "CPID", _attr("cpid"), right=True),
                    Column("lpid", "LPID", _attr("lpid"), right=True),
                    Column("status", "STATUS", _shm_status),
                    _age_column("atime", "ATTACHED", _attr("atime")),
                    Column("creator", "CREATOR", _attr("creator")), USERS, LEAK),
    Kind.SYSV_MSG: (ID, KEY, OWNER, MODE,
                    Column("messages", "MSGS", _attr("messages"),
                           right=True),
                    QBYTES, Column("lspid", "LSPID", _attr("lspid"), right=True),
                    Column("lrpid", "LRPID", _attr("lrpid"), right=True),
                    _age_column("stime", "SENT", _attr("stime")), LEAK),
    Kind.SYSV_SEM: (ID, KEY, OWNER, MODE, Column("nsems", "NSEMS", _attr("nsems"), right=True),
                    Column("values", "VALUES", _values),
                    _age_column("otime", "LAST OP", _attr("otime")), LEAK),
    Kind.POSIX_SHM: (NAME, OWNER, MODE, SIZE, NUSERS, AGE, USERS, LEAK),
    Kind.POSIX_MQ: (NAME, OWNER, MODE,
                    Column("messages", "MSGS", _attr("messages"),
                           right=True),
                    Column("maxmsg", "MAXMSG", _attr("maxmsg"), right=True),
                    Column("msgsize", "MSGSIZE", _attr("msgsize"), _bytes, right=True),
                    QBYTES, NUSERS, USERS, LEAK),
    Kind.POSIX_SEM: (NAME, OWNER, MODE,
                     Column("value", "VALUE", _attr("value"),
                            right=True), NUSERS, AGE, USERS, LEAK),
    Kind.PIPE: (Column("inode", "INODE", lambda o: int(o.id), right=True), QBYTES,
                Column("capacity", "CAPACITY", _attr("capacity"),
                       _bytes, right=True), RW, USERS, LEAK),
    Kind.FIFO: (Column("path", "PATH", lambda o: o.id), OWNER, MODE, QBYTES,
                Column("capacity", "CAPACITY", _attr("capacity"),
                       _bytes, right=True), RW, USERS, LEAK),
    Kind.UNIX_SOCKET: (Column("inode", "INODE", lambda o: int(o.id), right=True), NAME,
                       Column("type", "TYPE", _attr("type")),
                       Column("state", "STATE", _attr("state")),
                       Column("peer", "PEER", _attr("peer"),
                              right=True), QBYTES, USERS),
    Kind.SHARED_MAPPING: (Column("path", "PATH", lambda o: o.id), SIZE, NUSERS, USERS),
}
"""Columns per kind; the key None is the "All" overview."""


def columns_for(kind: Kind | None) -> Sequence[Column]:
    return COLUMNS[kind]
