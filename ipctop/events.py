"""What changed between two snapshots: objects created, removed, or changed and in which fields.

A pure function of two Snapshots, so the TUI's events log, a future exporter and the tests agree on
what "changed" means. Objects are matched by (kind, id). The users of an object count as changed
when the set of pids using it changes; the order in which a scan found them does not matter.
No Textual and no I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ipctop.fmt import human_bytes
from ipctop.model import IpcObject, Kind, Snapshot

CREATED = "created"
REMOVED = "removed"
CHANGED = "changed"

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
    at = new.taken_at
    before = {object_key(o): o for o in old.objects}
    after = {object_key(o): o for o in new.objects}
    events: list[Event] = []
    for key, obj in before.items():
        if key not in after:
            events.append(Event(at, REMOVED, obj.kind, obj.id, obj.name, where=obj.where))
    for key, obj in after.items():
        if key not in before:
            events.append(Event(at, CREATED, obj.kind, obj.id, obj.name, where=obj.where))
    for key, obj in after.items():
        prev = before.get(key)
        if prev is None or prev is obj or prev == obj:
            continue
        changes = changed_fields(prev, obj)
        if changes:
            events.append(Event(at, CHANGED, obj.kind, obj.id, obj.name,
                                fields=tuple(c[0] for c in changes),
                                detail=describe_changes(changes), where=obj.where))
    return events
