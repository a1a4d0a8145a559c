"""What changed between two snapshots: objects created, removed, or changed and in which fields.

A pure function of two Snapshots, so the TUI's events log, a future exporter and the tests agree on
what "changed" means. Objects are matched by (kind, id). The users of an object count as changed
when the set of pids using it changes; the order in which a scan found them does not matter.
No Textual and no I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ipctop.fmt import human_bytes
from ipctop.model import IpcObject, Kind, Snapshot

CREATED = "created"
REMOVED = "removed"
CHANGED = "changed"

K = TypeVar("K", bound=Hashable)

ObjectKey = tuple[Kind, str, int | None]
"""How an object is recognised across snapshots: its kind, its id and, outside ipctop's own
namespaces, its namespace (``IpcObject.identity``)."""

_BYTE_FIELDS = frozenset({"size", "bytes", "rss", "swap", "capacity", "send_bytes",
                          "allocated"})
_TIME_FIELDS = frozenset({"ctime", "atime", "dtime", "stime", "rtime", "otime", "mtime"})


def object_key(obj: IpcObject) -> ObjectKey:
    return obj.identity


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the events log."""

    at: float
    """Epoch seconds: the new snapshot's taken_at, or when inotify reported it."""
    action: str
    """CREATED, REMOVED or CHANGED."""
    kind: Kind
    id: str
    name: str | None = None
    fields: tuple[str, ...] = ()
    """For CHANGED: the names of the fields that changed ("users" for the set of pids)."""
    detail: str = ""
    """A short human summary, e.g. "messages 3→5, users 1→2"."""
    source: str = "poll"
    """"poll" or "inotify"."""
    where: int | None = None
    """The object's namespace when it is not ipctop's own (``IpcObject.where``)."""

    @property
    def key(self) -> ObjectKey:
        return (self.kind, self.id, self.where)

    @property
    def label(self) -> str:
        """The object as a person names it: "/name" or "SysV shm 32768"."""
        return self.name or f"{self.kind.label} {self.id}"


def _short(field_name: str, value: Any) -> str:
    if value is None:
        return "-"
    if field_name in _BYTE_FIELDS and isinstance(value, int):
        return human_bytes(value)
    if isinstance(value, tuple):
        shown = ",".join(str(v) for v in value[:6])
        return f"[{shown}{',...' if len(value) > 6 else ''}]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def changed_fields(old: IpcObject, new: IpcObject) -> list[tuple[str, Any, Any]]:
    """(field, old value, new value) for every field that differs; users compared as pid sets."""
    out: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(new):
        if f.name == "users":
            before, after = old.pids, new.pids
            if before != after:
                out.append(("users", len(before), len(after)))
            continue
        a = getattr(old, f.name, None)
        b = getattr(new, f.name, None)
        if a != b:
            out.append((f.name, a, b))
    return out


def describe_changes(changes: Iterable[tuple[str, Any, Any]]) -> str:
    parts = []
    for name, a, b in changes:
        if name in _TIME_FIELDS:
            parts.append(name)
        elif name == "leak":
            parts.append("leak " + ("cleared" if b is None else f"marked: {b.reason}"))
        else:
            parts.append(f"{name} {_short(name, a)}→{_short(name, b)}")
    return ", ".join(parts)


def diff(old: Snapshot | None, new: Snapshot) -> list[Event]:
    """Events that turn ``old`` into ``new``: removed first, then created, then changed.

    With no previous snapshot there is nothing to compare, so no events.
    """
    if old is None:
        return []
    return diff_keyed({object_key(o): o for o in old.objects},
                      {object_key(o): o for o in new.objects}, new.taken_at)


def diff_keyed(before: Mapping[K, IpcObject], after: Mapping[K, IpcObject], at: float,
               keys: tuple[Iterable[K], Iterable[K], Iterable[K]] | None = None) -> list[Event]:
    """``diff`` of two mappings that key each object the same way (by ``object_key`` or by
    anything derived from it, such as the TUI's row keys), so a caller that keeps them across
    polls builds nothing twice. ``keys``: (removed, created, changed) when the caller knows
    them already (changed: the common keys whose objects may differ; the others are taken as
    unchanged); None: found here by comparing every key."""
    if keys is None:
        keys = ([key for key in before if key not in after],
                [key for key in after if key not in before], after)
    removed, created, changed = keys
    events: list[Event] = []
    for key in removed:
        obj = before[key]
        events.append(Event(at, REMOVED, obj.kind, obj.id, obj.name, where=obj.where))
    for key in created:
        obj = after[key]
        events.append(Event(at, CREATED, obj.kind, obj.id, obj.name, where=obj.where))
    for key in changed:
        obj = after[key]
        prev = before.get(key)
        if prev is None or prev is obj or prev == obj:
            continue
        changes = changed_fields(prev, obj)
        if changes:
            events.append(Event(at, CHANGED, obj.kind, obj.id, obj.name,
                                fields=tuple(c[0] for c in changes),
                                detail=describe_changes(changes), where=obj.where))
    return events
