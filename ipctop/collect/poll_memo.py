"""What the collectors of a polling program keep from one poll to the next (PollMemo).

A TUI or exporter polls a machine with thousands of objects, and between two polls almost none of
them change. Each collector keeps what it built in the previous poll with the cheap signal that
tells it is still right, and builds again only where that signal moved:

- a row of /proc/sysvipc/{shm,msg,sem}: the row's text (collect/sysv.py);
- a semaphore set's values, pids and waiter counts: its row, and its otime and ctime older
  than the previous read, and no waiter on it then or since (collect/sysv.py);
- a /dev/shm or /dev/mqueue file: its stat (collect/posix.py);
- the kernel's "is anyone holding this file" lease probe: kept per file for a while (ProbeMemo);
- the order of the objects: while the same kinds and ids come in the same order (SortMemo).

Everything kept is keyed by what the current poll saw, so an object that disappears is
forgotten at the next poll: memory stays proportional to what exists now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from itertools import groupby
from operator import attrgetter
from typing import Any, Generic, TypeVar

from ipctop.model import IpcObject, Kind, evolve
from ipctop.safepath import Probe

V = TypeVar("V")
T = TypeVar("T", bound=IpcObject)

class Kept(Generic[V]):
    """A dict kept across polls that holds only the keys the current poll used."""

    def __init__(self) -> None:
        self.previous: dict[Hashable, V] = {}
        self.current: dict[Hashable, V] = {}

    def turn(self) -> None:
        """A new poll: what the last one used is now what may be reused."""
        self.previous, self.current = self.current, {}

    def get(self, key: Hashable) -> V | None:
        hit = self.current.get(key)
        return self.previous.get(key) if hit is None else hit

    def put(self, key: Hashable, value: V) -> V:
        self.current[key] = value
        return value

    def __len__(self) -> int:
        return len(self.current)


class ProbeMemo:
    """The write-lease probes (safepath.probe) of a polling program.

    A probe costs a few system calls, and while the lease is held (two fcntl calls apart) another
    process's non-blocking open of the file fails with EAGAIN: probing every unused file at every
    poll is both slow at thousands of files and a nuisance. So a poll asks the kernel only where
    its answer can change a verdict (some processes could not be read, so /proc alone cannot say
    nobody holds the file; see leaks.py), keeps each answer for the same file (dev, inode, ctime)
    for ``max_age`` seconds, and asks at most ``budget`` files per poll, those never asked first:
    at 3,000 unused files the answers arrive over the first few polls and then cost a few probes
    per poll. Until a file is asked, its ``in_use`` stays None with the reason.

    What this gives up: a process that cannot be read may open or map a file after it was probed;
    until the answer expires the file can still be called a leak. Removal never trusts it: it
    takes the lease again at the last moment (reclaim.py).
    """

    def __init__(self, max_age: float = 60.0, budget: int = 200,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.budget = budget
        self.clock = clock
        self.answers: Kept[tuple[float, Probe]] = Kept()
        self.marked: Kept[tuple[Any, Probe, Any]] = Kept()
        self.blind = True
        """Whether this poll needs the kernel's word: set by snapshot.take (some process could
        not be read, and unreadable processes are not ignored)."""
        self.left = budget
        """Probes this poll may still make."""
        self.asked = 0
        """Probes made this poll."""
        self.waiting = 0
        """Files left unasked this poll for want of budget."""

    def mark(self, obj: T, answer: Probe) -> T:
        """``obj`` with the answer in it: the same instance as at the previous poll when both
        are (an object that the probe marks would otherwise be new at every poll)."""
        key = id(obj)
        hit = self.marked.get(key)
        if hit is None or hit[0] is not obj or hit[1] is not answer:
            hit = (obj, answer, evolve(obj, in_use=answer.in_use, in_use_why=answer.why))
        self.marked.put(key, hit)
        return hit[2]  # type: ignore[no-any-return]

    def begin(self, blind: bool) -> None:
        self.marked.turn()
        self.answers.turn()
        self.blind = blind
        self.left = self.budget
        self.asked = self.waiting = 0

    def answer(self, key: Hashable, ask: Callable[[], Probe]) -> Probe:
        """The kept answer for ``key``, or ``ask()`` while the budget lasts."""
        now = self.clock()
        kept = self.answers.get(key)
        if kept is not None and now - kept[0] < self.max_age:
            self.answers.put(key, kept)
            return kept[1]
        if self.left <= 0:
            if kept is not None:  # expired: the old answer until there is budget again
                self.answers.put(key, kept)
                return kept[1]
            self.waiting += 1
            return NOT_YET
        self.left -= 1
        self.asked += 1
        got = ask()
        self.answers.put(key, (now, got))
        return got


class SortMemo:
    """The sorted order of the previous poll's objects of each kind, and each one's sort key.

    The collectors list a kind's objects in the order they find them, which rarely changes
    between polls: when a kind's ids, in that order, are the previous poll's, its previous
    permutation is applied again (a list compare and a gather in C); only a kind whose ids
    changed is sorted again, with the keys of the ids it had at the previous poll kept. The
    kinds come out in ``kinds`` order.
    """

    def __init__(self) -> None:
        self.previous: dict[Any, tuple[list[str], list[int], dict[str, Any]]] = {}
        """Per kind: its ids in the order they came, their sorted permutation, their keys."""
        self.sorted_kinds: set[Any] = set()
        """The kinds the last call sorted again."""

    def sorted(self, objects: list[T], kinds: Iterable[Any],
               key: Callable[[str], Any]) -> list[T]:
        """``objects`` by kind (in ``kinds`` order), each kind by ``key(id)``."""
        per_kind: dict[Any, list[T]] = {}
        for o in objects:
            found = per_kind.get(o.kind)
            if found is None:
                per_kind[o.kind] = [o]
            else:
                found.append(o)
        current: dict[Any, tuple[list[str], list[int], dict[str, Any]]] = {}
        out: list[T] = []
        self.sorted_kinds = set()
        for kind in kinds:
            these = per_kind.get(kind)
            if these is None:
                continue
            ids = list(map(_ID, these))
            hit = self.previous.get(kind)
            if hit is not None and hit[0] == ids:
                current[kind] = hit
            else:
                self.sorted_kinds.add(kind)
                old = hit[2] if hit is not None else {}
                keys = {name: key(name) if (k := old.get(name)) is None else k for name in ids}
                ordered = list(map(keys.__getitem__, ids))
                current[kind] = hit = (ids, sorted(range(len(ids)), key=ordered.__getitem__),
                                       keys)
            out += map(these.__getitem__, hit[1])
        self.previous = current
        return out

    def forget(self) -> None:
        self.previous = {}


_ID = attrgetter("id")
_KIND = attrgetter("kind")


def kind_runs(objects: Iterable[T]) -> list[tuple[Kind, tuple[T, ...]]]:
    """Each run of objects of one kind, in order: each kind once when ``objects`` are sorted
    by kind, as ``take`` returns them (grouped in C, without a Python call per object)."""
    return [(kind, tuple(run)) for kind, run in groupby(objects, _KIND)]


NOT_YET = Probe(None, "not asked yet: a poll asks the kernel about a few hundred files at most")


class PollMemo:
    """Everything the collectors keep between two polls (see the module docstring)."""

    def __init__(self, probe_clock: Callable[[], float] = time.monotonic) -> None:
        self.probes = ProbeMemo(clock=probe_clock)
        self.order = SortMemo()
        """The order objects were sorted in at the previous poll (snapshot.take)."""
        self.rows: dict[str, Kept[Any]] = {}
        """Per /proc/sysvipc file (and header): row text -> (object built from it, when)."""
        self.files: dict[str, Kept[Any]] = {}
        """Per listed directory: file name -> (stat key, object)."""
        self.used: set[str] = set()
        self.ran: frozenset[int] | None = None
        """Processes the scan of this poll read again (they ran since the previous one, or
        could not be read), when it was incremental; None when it is not known."""
        from ipctop.verdict_memo import VerdictMemo

        self.verdicts = VerdictMemo()
        """The leak verdicts of the previous poll (leaks.judge)."""

    def forget(self) -> None:
        """Build everything afresh at the next poll (the scan's periodic full read: whatever
        this reasoning overlooks does not last); the lease answers expire by themselves."""
        self.rows.clear()
        self.files.clear()
        self.order.forget()
        self.verdicts.turn()
        self.verdicts.turn()

    def begin(self) -> None:
        """A new poll: tables the previous poll did not use (a namespace gone) are dropped."""
        for table in (self.rows, self.files):
            for name in [name for name in table if name not in self.used]:
                del table[name]
        self.used = set()

    def kept(self, table: dict[str, Kept[Any]], name: str) -> Kept[Any]:
        """The Kept of ``name`` in ``table``, turned for this poll."""
        found = table.get(name)
        if found is None:
            found = table[name] = Kept()
        found.turn()
        self.used.add(name)
        return found
