"""What the TUI remembers between polls, without Textual: the objects by row key, the rows to
mark as new or fading, queue depth history, and which events inotify already announced.

It also keeps the events log worth reading. Short-lived objects (the pipes of every shell
pipeline, a socket that connects and closes) would add a "created" and a "removed" line each poll:
a creation is therefore logged one poll late, once the object is seen a second time, and an object
seen by one poll only is counted as short-lived instead of logged (``keep_short_lived`` logs them
as they come). A leak verdict that only restates itself (still a leak, a new idle time in its
reason) is not logged again.

Kept apart from app.py so the bookkeeping is a plain, testable function of successive snapshots.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from ipctop.events import (
    CHANGED,
    CREATED,
    REMOVED,
    Event,
    ObjectKey,
    changed_fields,
    describe_changes,
    diff,
)
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
        self.keep_short_lived = False
        """Log objects seen by one poll only (off: they are counted in ``short_lived``)."""
        self.short_lived = 0
        """Objects seen by one poll only and not logged."""
        self._held: dict[str, Event] = {}
        """Row key -> its "created" event, held until the next poll sees the object again."""

    def announce(self, action: str, key: ObjectKey) -> None:
        self.announced.add((action, key))

    def _quiet(self, events: list[Event], old: dict[str, IpcObject]) -> list[Event]:
        """Hold creations one poll, drop objects that lived one poll, and leak verdicts that
        only restate themselves."""
        held, self._held = self._held, {}
        out = [ev for key, ev in held.items() if key in self.objects]  # seen again: log it
        for ev in events:
            key = row_key(ev.kind, ev.id)
            if ev.action == CREATED and not self.keep_short_lived:
                self._held[key] = ev
            elif ev.action == REMOVED and key in held:
                self.short_lived += 1  # created and gone between two polls' sight of it
            elif ev.action == CHANGED and "leak" in ev.fields:
                quieter = _without_restated_leak(ev, old.get(key), self.objects.get(key))
                if quieter is not None:
                    out.append(quieter)
            else:
                out.append(ev)
        return out

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
        events = self._quiet(events, old_objects)
        for key, obj in self.objects.items():
            value = depth(obj) if obj.kind in DEPTH_KINDS else None
            if value is not None:
                self.history.setdefault(key, deque(maxlen=HISTORY)).append(value)
        for key in [k for k in self.history if k not in self.objects]:
            del self.history[key]
        return events


def _without_restated_leak(ev: Event, old: IpcObject | None, new: IpcObject | None
                           ) -> Event | None:
    """``ev`` without its leak part when the verdict kept its status (a leak still a leak, with
    a new idle time in its reason); None when nothing else changed."""
    if old is None or new is None or old.leak is None or new.leak is None \
            or old.leak.status != new.leak.status:
        return ev
    rest = [c for c in changed_fields(old, new) if c[0] != "leak"]
    if not rest:
        return None
    return dataclasses.replace(ev, fields=tuple(c[0] for c in rest),
                               detail=describe_changes(rest))
