"""What the TUI remembers between polls, without Textual: the objects by row key, the rows to
mark as new or fading, queue depth history, and which events inotify already announced.

Kept apart from app.py so the bookkeeping is a plain, testable function of successive snapshots.
"""

from __future__ import annotations

from collections import deque

from ipctop.events import CHANGED, CREATED, REMOVED, Event, ObjectKey, diff
from ipctop.model import IpcObject, Kind, Snapshot

HISTORY = 60
"""Polls of queue depth kept for the sparkline."""

NOISE: dict[Kind, frozenset[str]] = {
    Kind.PIPE: frozenset({"users"}),
    Kind.UNIX_SOCKET: frozenset({"users"}),
    Kind.SHARED_MAPPING: frozenset({"users"}),
    Kind.POSIX_MQ: frozenset({"ctime"}),
    Kind.ANON_SHM: frozenset({"users", "rss", "swap", "rss_pid", "allocated"}),
    Kind.MEMFD: frozenset({"users", "allocated"}),
    Kind.EVENTFD: frozenset({"users", "count"}),
    Kind.INET_SOCKET: frozenset({"users", "bytes", "send_bytes"}),
}
"""Per kind, changes not worth a line in the log on their own: who holds a pipe, socket or
mapped file changes with every fork; reading /dev/mqueue/NAME (as each poll does) moves its
ctime; memory in use, an eventfd's counter and a TCP connection's queues move all the time."""
DEPTH_KINDS = (Kind.SYSV_MSG, Kind.POSIX_MQ, Kind.PIPE, Kind.FIFO, Kind.UNIX_SOCKET,
               Kind.INET_SOCKET)


def row_key(kind: Kind, ident: str, where: int | None = None) -> str:
    """The table's row key for an object: "kind:id", and "@namespace" for an object outside
    ipctop's own namespaces (ids repeat across namespaces)."""
    return f"{kind.value}:{ident}" if where is None else f"{kind.value}:{ident}@{where}"


def depth(obj: IpcObject) -> float | None:
    """Messages queued, or else bytes queued; None when unknown."""
    value = getattr(obj, "messages", None)
    if value is None:
        value = getattr(obj, "bytes", None)
    return None if value is None else float(value)


def loggable(ev: Event) -> bool:
    """False for a change made only of NOISE fields."""
    noise = NOISE.get(ev.kind)
    return not (ev.action == CHANGED and noise is not None and set(ev.fields) <= noise)


class LiveState:
    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.polls = 0
        self.objects: dict[str, IpcObject] = {}
        """Row key -> object in the latest snapshot."""
        self.ghosts: dict[str, IpcObject] = {}
        """Objects gone in the latest poll, shown dimmed for one poll."""
        self.fresh: set[str] = set()
        """Row keys new in the latest poll."""
        self.history: dict[str, deque[float]] = {}
        self.announced: set[tuple[str, ObjectKey]] = set()
        """(action, key) inotify already logged; the next poll does not log them again."""

    def announce(self, action: str, key: ObjectKey) -> None:
        self.announced.add((action, key))

    def update(self, snap: Snapshot) -> list[Event]:
        """Take in a new snapshot; return the events to log."""
        old_objects = self.objects
        found = diff(self.snapshot, snap)
        self.snapshot = snap
        self.polls += 1
        self.objects = {row_key(o.kind, o.id, o.where): o for o in snap.objects}
        self.ghosts = {}
        self.fresh = set()
        for ev in found:
            key = row_key(ev.kind, ev.id, ev.where)
            if ev.action == REMOVED and key in old_objects:
                self.ghosts[key] = old_objects[key]
            elif ev.action == CREATED:
                self.fresh.add(key)
        events = [ev for ev in found if (ev.action, ev.key) not in self.announced
                  and loggable(ev)]
        self.announced.clear()
        for key, obj in self.objects.items():
            value = depth(obj) if obj.kind in DEPTH_KINDS else None
            if value is not None:
                self.history.setdefault(key, deque(maxlen=HISTORY)).append(value)
        for key in [k for k in self.history if k not in self.objects]:
            del self.history[key]
        return events
