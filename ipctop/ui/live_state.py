"""What the TUI remembers between polls, without Textual: the objects by row key, the rows to
mark as new or fading, queue depth history, and which events inotify already announced.

It also keeps the events log worth reading. Short-lived objects (the pipes of every shell
pipeline, a socket that connects and closes) would add a "created" and a "removed" line each poll:
a creation is therefore logged one poll late, once the object is seen a second time, and an object
seen by one poll only is counted as short-lived instead of logged (``keep_short_lived`` logs them
as they come). A leak verdict that only restates itself (still a leak, a new idle time in its
reason) is not logged again.

Each poll is proportional to what changed. The live collector says which kinds changed
(``LiveTake.changed``) and hands out every other kind as the very same instances: those kinds
keep their keyed mapping and are not looked at. In a kind that changed, the same instance still
means an unchanged object, so the objects created, removed and changed (``touched``) are told
apart with ``is``, and only those are compared field by field, have their queue depth recorded,
or are redrawn by the table. Queue depth
history is kept as the changes only (a poll number and a value each time the depth moves), so an
idle queue costs one entry however long it lives.

Kept apart from app.py so the bookkeeping is a plain, testable function of successive snapshots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from ipctop.collect.poll_memo import kind_runs
from ipctop.events import (
    CHANGED,
    CREATED,
    REMOVED,
    Event,
    ObjectKey,
    changed_fields,
    describe_changes,
    diff_keyed,
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
    prefix = _PREFIX[kind]
    return prefix + ident if where is None else f"{prefix}{ident}@{where}"


_PREFIX = {kind: f"{kind.value}:" for kind in Kind}
"""Kind -> "kind:" (an enum's value is a slow attribute, and every object is keyed each poll)."""


_NONE: Mapping[str, IpcObject] = {}


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
        self.touched: set[str] = set()
        """Row keys whose row may look different after the latest poll: objects created,
        changed or removed by it, and last poll's new and fading ones (their marks go)."""
        self.removed: set[str] = set()
        """Row keys of objects gone in the latest poll (the ghosts' keys)."""
        self.leaks: set[str] = set()
        """Row keys of the objects whose verdict is "leak"."""
        self._depths: dict[str, list[tuple[int, float]]] = {}
        """Row key -> (poll, depth) each time the depth changed, the latest HISTORY polls' worth
        (and the value before them)."""
        self.announced: set[tuple[str, ObjectKey]] = set()
        """(action, key) inotify already logged; the next poll does not log them again."""
        self.keep_short_lived = False
        """Log objects seen by one poll only (off: they are counted in ``short_lived``)."""
        self.short_lived = 0
        """Objects seen by one poll only and not logged."""
        self._kinds: dict[Kind, dict[str, IpcObject]] = {}
        """Kind -> row key -> object in the latest snapshot: a kind the collector says did not
        change keeps its mapping, and is not looked at."""
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

    def update(self, snap: Snapshot, changed: Collection[Kind] | None = None) -> list[Event]:
        """Take in a new snapshot; return the events to log. ``changed``: the kinds whose
        objects may differ from the previous snapshot's (``LiveTake.changed``); every other
        kind's objects must be the previous snapshot's very instances, in the same order, and
        are not looked at. None: every kind is looked at."""
        old_objects = self.objects
        first = self.snapshot is None
        old_kinds = self._kinds
        kinds = self._key_kinds(snap, None if first else changed)
        objects: dict[str, IpcObject] = {}
        groups: list[tuple[Mapping[str, IpcObject], Mapping[str, IpcObject]]]
        if kinds is None:  # not sorted by kind (a test's collector)
            self._kinds = {}
            objects = {row_key(o.kind, o.id, o.where): o for o in snap.objects}
        else:
            self._kinds = kinds
            for keyed in kinds.values():
                objects.update(keyed)  # in C: 16,000 keys cost well under a millisecond
        if kinds is None or (old_objects and not old_kinds):
            groups = [(objects, old_objects)]  # every object looked at
        else:
            # In the snapshot's order, then the kinds gone (the log's order is stable).
            groups = [(keyed, old_kinds.get(kind, _NONE)) for kind, keyed in kinds.items()]
            groups += [(_NONE, keyed) for kind, keyed in old_kinds.items() if kind not in kinds]
        self.objects = objects
        self.snapshot = snap
        self.polls += 1
        added: list[str] = []
        changed_keys: list[str] = []
        removed: list[str] = []
        for new, old in groups:
            if new is old:
                continue  # handed on whole: nothing in it changed
            fresh = 0
            for key, obj in new.items():
                was = old.get(key)
                if was is None:
                    added.append(key)
                    fresh += 1
                elif was is not obj:
                    changed_keys.append(key)
            if len(old) + fresh != len(new):
                removed += [key for key in old if key not in new]
        touched = {*added, *changed_keys, *removed, *self.ghosts, *self.fresh}
        if first:
            touched = set(objects)
        self.touched = touched
        self.removed = set(removed)
        self.ghosts = {} if first else {key: old_objects[key] for key in removed}
        self.fresh = set() if first else set(added)
        found = [] if first else diff_keyed(old_objects, objects, snap.taken_at,
                                            (removed, added, changed_keys))
        events = [ev for ev in found if (ev.action, ev.key) not in self.announced
                  and loggable(ev)]
        self.announced.clear()
        events = self._quiet(events, old_objects)
        for key in removed:
            self._depths.pop(key, None)
            self.leaks.discard(key)
        for key in (objects if first else (*added, *changed_keys)):
            obj = objects[key]
            if obj.leak is not None and obj.leak.status == "leak":
                self.leaks.add(key)
            else:
                self.leaks.discard(key)
            value = depth(obj) if obj.kind in DEPTH_KINDS else None
            if value is not None:
                self._record_depth(key, value)
        return events

    def _key_kinds(self, snap: Snapshot, changed: Collection[Kind] | None
                   ) -> dict[Kind, dict[str, IpcObject]] | None:
        """Kind -> row key -> object, or None when the objects are not sorted by kind. A kind
        not in ``changed`` keeps the previous poll's mapping when its objects are, as
        promised, the previous ones (the same count, the same first instance: a cheap check
        that catches a collector breaking the promise in the common ways); every other kind
        is keyed again."""
        runs = kind_runs(snap.objects)
        if len(runs) != len({kind for kind, _run in runs}):
            return None
        kinds: dict[Kind, dict[str, IpcObject]] = {}
        for kind, run in runs:
            old = self._kinds.get(kind)
            if changed is not None and kind not in changed and old is not None and \
                    len(old) == len(run) and next(iter(old.values())) is run[0]:
                kinds[kind] = old
            else:
                kinds[kind] = {row_key(o.kind, o.id, o.where): o for o in run}
        return kinds

    def _record_depth(self, key: str, value: float) -> None:
        changes = self._depths.setdefault(key, [])
        if changes and changes[-1][1] == value:
            return
        changes.append((self.polls, value))
        start = self.polls - HISTORY + 1
        while len(changes) > 1 and changes[1][0] <= start:
            del changes[0]  # the value before the window is the next entry's or older

    def depths(self, key: str) -> list[float]:
        """Queue depth at each of the latest HISTORY polls that saw the object, oldest first."""
        changes = self._depths.get(key)
        if not changes or key not in self.objects:
            return []
        start = max(changes[0][0], self.polls - HISTORY + 1)
        out: list[float] = []
        index = 0
        for poll in range(start, self.polls + 1):
            while index + 1 < len(changes) and changes[index + 1][0] <= poll:
                index += 1
            out.append(changes[index][1])
        return out


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
