"""Removing leaks safely: re-check each one against a fresh look just before removing it.

A listing is old by the time someone acts on it: a process may have attached the segment, opened
the queue or sent to it since. So for each object, :func:`reclaim_one` takes a fresh snapshot of
just that kind, judges it with the same rules, and removes the object only if it is still the same
object (same id and key, same file, no activity since it was listed), still judged a leak, and
still matches the filter and minimum age it was chosen by. Otherwise it is skipped, saying why.

The CLI (`ipctop leaks --clean`) and the TUI's reclaim action both use this module; no Textual,
no printing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from ipctop.errors import IpcError, NotFound
from ipctop.leaks import (
    LEAK,
    age,
    find_leaks,
    ident,
    is_removable,
    judge,
    matches,
    since,
)
from ipctop.liveness import Alive
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.safepath import InUse

REMOVED = "removed"
SKIPPED = "skipped"
FAILED = "failed"

Take = Callable[[Collection[Kind]], Snapshot]
"""kinds -> a fresh, unjudged snapshot of those kinds."""
Remove = Callable[[Kind, str], str]
"""(kind, id) -> what removing it did ("destroyed now"; the caller names the object);
raises IpcError on failure."""


@dataclass(frozen=True)
class Outcome:
    """What became of one object `--clean` set out to remove."""

    kind: Kind
    id: str
    label: str
    """How a person names it ("/psm_1234", "32769 (key 0x0000abcd)")."""
    result: str
    """"removed", "skipped" (changed, back in use, gone already) or "failed"."""
    message: str
    """What happened, without the object's name (the label says it): "destroyed now",
    "gone already"."""
    reclaim_bytes: int = 0
    """Bytes freed (only for "removed")."""

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "id": self.id, "name": self.label,
                "result": self.result, "message": self.message,
                "reclaim_bytes": self.reclaim_bytes}


def plan(objects: Iterable[IpcObject]) -> list[IpcObject]:
    """The objects `--clean` would remove: those judged "leak" whose kind can be removed."""
    return [o for o in objects if is_removable(o)]


def candidates(
    snap: Snapshot,
    *,
    min_age: float | None = None,
    filter_text: str | None = None,
    now: float | None = None,
) -> list[IpcObject]:
    """The removable leaks of a judged snapshot, narrowed by filter and minimum age."""
    return plan(find_leaks(snap, min_age=min_age, filter_text=filter_text, statuses=(LEAK,),
                           now=now))


def _default_take(kinds: Collection[Kind]) -> Snapshot:
    from ipctop.snapshot import take

    return take(kinds=kinds)


def _default_remove(kind: Kind, ident_: str) -> str:
    from ipctop.actions import remove_object

    # Only objects just re-judged a leak get here: no process holds them (saves a snapshot).
    # The re-check is already old when the removal comes: only_if_unused asks the kernel once
    # more at the last moment (a write lease on the file, nattch with the segment's mode at 0).
    return remove_object(kind, ident_, holders=0, only_if_unused=True).consequence


def _same_object(old: IpcObject, new: IpcObject) -> bool:
    """The same kernel object, not a new one that got the same id or name."""
    if old.kind is not new.kind or old.id != new.id or old.key != new.key:
        return False
    for attr in ("dev", "inode"):
        a, b = getattr(old, attr, None), getattr(new, attr, None)
        if a is not None and b is not None and a != b:
            return False
    return True


def recheck(
    old: IpcObject,
    fresh: Snapshot,
    *,
    filter_text: str | None = None,
    min_age: float | None = None,
) -> str | None:
    """Why ``old`` must not be removed now, judged on ``fresh`` (a judged snapshot); None if it
    may be removed."""
    new = next((o for o in fresh.objects if o.identity == old.identity), None)
    if new is None:
        return "gone already"
    if not _same_object(old, new):
        return "a different object now has that id or name"
    if since(new) != since(old):
        return "used or changed since it was listed"
    if not matches(new, filter_text):
        return "no longer matches the filter"
    if new.leak is None or new.leak.status != LEAK:
        if new.users:
            holders = ", ".join(sorted({f"{u.pid}/{u.comm}" for u in new.users}))
            return f"back in use by {holders}"
        if new.leak is not None:
            return f"no longer judged a leak: {new.leak.reason}"
        return "back in use"
    if min_age:
        a = age(new, fresh.taken_at)
        if a is None or a < min_age:
            return "younger than the minimum age"
    return None


def reclaim_one(
    obj: IpcObject,
    *,
    filter_text: str | None = None,
    min_age: float | None = None,
    ignore_unreadable: bool = False,
    take: Take | None = None,
    remove: Remove | None = None,
    alive: Alive | None = None,
) -> Outcome:
    """Re-take a snapshot of ``obj``'s kind, re-judge, and remove ``obj`` if still a leak."""
    label = ident(obj)
    if not is_removable(obj):
        return Outcome(obj.kind, obj.id, label, SKIPPED, "not a removable leak")
    if not matches(obj, filter_text):
        return Outcome(obj.kind, obj.id, label, SKIPPED, "does not match the filter")
    take_fn = take or _default_take
    remove_fn = remove or _default_remove
    try:
        fresh = judge(take_fn({obj.kind}), alive=alive, ignore_unreadable=ignore_unreadable)
    except (IpcError, OSError) as err:
        return Outcome(obj.kind, obj.id, label, FAILED, f"could not re-check it: {err}")
    why = recheck(obj, fresh, filter_text=filter_text, min_age=min_age)
    if why is not None:
        return Outcome(obj.kind, obj.id, label, SKIPPED, why)
    new = next(o for o in fresh.objects if o.identity == obj.identity)
    freed = new.leak.reclaim_bytes if new.leak is not None else 0
    try:
        message = remove_fn(obj.kind, obj.id)
    except NotFound:
        return Outcome(obj.kind, obj.id, label, SKIPPED, "gone already")
    except InUse as err:
        return Outcome(obj.kind, obj.id, label, SKIPPED, f"came into use at the last moment: {err}")
    except (IpcError, OSError) as err:
        return Outcome(obj.kind, obj.id, label, FAILED, str(err))
    return Outcome(obj.kind, obj.id, label, REMOVED, message, freed)


def reclaim(
    objects: Iterable[IpcObject],
    *,
    filter_text: str | None = None,
    min_age: float | None = None,
    ignore_unreadable: bool = False,
    take: Take | None = None,
    remove: Remove | None = None,
    alive: Alive | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """:func:`reclaim_one` for each object, in order; ``on_outcome`` hears each as it happens."""
    out: list[Outcome] = []
    for obj in objects:
        outcome = reclaim_one(obj, filter_text=filter_text, min_age=min_age,
                              ignore_unreadable=ignore_unreadable, take=take, remove=remove,
                              alive=alive)
        out.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return out
