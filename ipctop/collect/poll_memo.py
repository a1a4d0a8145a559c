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

import math
import os
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any, Generic, TypeVar

from ipctop.collect.common import recheck_at, same_objects
from ipctop.collect.dirwatch import DirWatch
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
    for ``max_age`` seconds, and asks at most ``budget`` files per poll (~25 ms of system calls),
    those never asked first: at 3,000 unused files the answers arrive over the first three
    polls, and are asked again as they expire. Until a file is asked, its ``in_use`` stays None
    with the reason.

    What this gives up: a process that cannot be read may open or map a file after it was probed;
    until the answer expires the file can still be called a leak. Removal never trusts it: it
    takes the lease again at the last moment (reclaim.py).

    Answers are kept by age rather than by poll (a kind handed on whole, see :class:`Gates`,
    asks nothing, and must find its answers when it is joined again): ``soonest`` tells the
    gate when the first answer a call used expires, and what no poll used for twice
    ``max_age`` is dropped.
    """

    def __init__(self, max_age: float = 60.0, budget: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.budget = budget
        self.clock = clock
        self.answers: dict[Hashable, tuple[float, Probe]] = {}
        self.marked: dict[int, tuple[Any, Probe, Any, float]] = {}
        self.pruned = clock()
        self.soonest = math.inf
        """When the first answer used since it was last set to inf expires (-inf: some file
        waits for an answer, or was answered from an expired one): the caller resets it."""
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
        made = hit[2] if hit is not None and hit[0] is obj and hit[1] is answer else \
            evolve(obj, in_use=answer.in_use, in_use_why=answer.why)
        self.marked[key] = (obj, answer, made, self.clock())  # holds obj: its id stays its own
        return made  # type: ignore[no-any-return]

    def begin(self, blind: bool) -> None:
        now = self.clock()
        if now - self.pruned >= self.max_age:
            old = now - 2 * self.max_age
            self.answers = {k: v for k, v in self.answers.items() if v[0] >= old}
            self.marked = {k: v for k, v in self.marked.items() if v[3] >= old}
            self.pruned = now
        self.blind = blind
        self.left = self.budget
        self.asked = self.waiting = 0

    def answer(self, key: Hashable, ask: Callable[[], Probe]) -> Probe:
        """The kept answer for ``key``, or ``ask()`` while the budget lasts."""
        now = self.clock()
        kept = self.answers.get(key)
        if kept is not None and now - kept[0] < self.max_age:
            self.soonest = min(self.soonest, kept[0] + self.max_age)
            return kept[1]
        if self.left <= 0:
            self.soonest = -math.inf
            if kept is not None:  # expired: the old answer until there is budget again
                return kept[1]
            self.waiting += 1
            return NOT_YET
        self.left -= 1
        self.asked += 1
        got = ask()
        self.answers[key] = (now, got)
        self.soonest = min(self.soonest, now + self.max_age)
        return got


class Gates:
    """Kinds handed on whole: what a kind's join (and lease probe) made at the previous poll,
    while its inputs are the very objects they were then and nothing it read has fallen due.

    On a big machine most kinds do not change between two polls, and walking their thousands of
    objects again only to find each one remembered costs more than everything else a poll does.
    Each input is compared by identity (a list or tuple element by element, in C): the
    collectors hand out the same instance for what did not change, and the Join the very same
    index while it holds the same fds or maps.
    """

    def __init__(self) -> None:
        self.previous: dict[str, tuple[tuple[object, ...], list[Any], float]] = {}
        self.current: dict[str, tuple[tuple[object, ...], list[Any], float]] = {}
        self.handed_on: set[str] = set()
        """The kinds this poll handed on whole (for tests and the benchmark)."""

    def turn(self) -> None:
        self.previous, self.current = self.current, {}
        self.handed_on = set()

    def forget(self) -> None:
        self.previous = {}
        self.current = {}

    def run(self, name: str, inputs: tuple[object, ...], now: float,
            build: Callable[[], tuple[list[T], float]], carry: Callable[[], None]) -> list[T]:
        """What ``build()`` made at the previous poll, if the inputs are the same and ``now`` is
        before the due time it gave (``build`` returns its objects and that time), after
        ``carry()`` keeps what the kind remembers for its next build; else ``build()``'s
        objects, kept for the next poll."""
        hit = self.previous.get(name)
        if hit is not None and now < hit[2] and len(hit[0]) == len(inputs) and \
                all(map(_same, hit[0], inputs)):
            self.current[name] = hit
            self.handed_on.add(name)
            carry()
            return hit[1]
        objects, due = build()
        self.current[name] = (inputs, objects, due)
        return objects


def _same(a: object, b: object) -> bool:
    """``a is b``, two equal numbers or strings, or two lists (tuples) of the very same
    objects."""
    if a is b:
        return True
    if isinstance(a, int | float | str | bytes):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and type(a) is type(b):
        assert isinstance(b, list | tuple)
        return same_objects(a, b)
    return False



class SortMemo:
    """The sorted order of the previous poll's objects of each kind, and each one's sort key.

    The collectors list a kind's objects in the order they find them, which rarely changes
    between polls: when a kind's ids, in that order, are the previous poll's, its previous
    permutation is applied again (a list compare and a gather in C); only a kind whose ids
    changed is sorted again, with the keys of the ids it had at the previous poll kept. The
    kinds come out in ``kinds`` order.
    """

    def __init__(self) -> None:
        self.previous: dict[Any, tuple[list[str], list[int], dict[str, Any], list[Any],
                                       list[Any]]] = {}
        """Per kind: its ids in the order they came, their sorted permutation, their keys, the
        objects as they came and as sorted."""
        self.sorted_kinds: set[Any] = set()
        """The kinds the last call sorted again."""

    def sorted(self, objects: list[T], kinds: Iterable[Any],
               key: Callable[[str], Any]) -> list[T]:
        """``objects`` by kind (in ``kinds`` order), each kind by ``key(id)``."""
        per_kind: dict[Any, list[T]] = {}
        for kind, run in groupby(objects, _KIND):  # runs of one kind, grouped in C
            found = per_kind.get(kind)
            if found is None:
                per_kind[kind] = list(run)
            else:
                found += run
        current: dict[Any, tuple[list[str], list[int], dict[str, Any], list[Any],
                                 list[Any]]] = {}
        out: list[T] = []
        self.sorted_kinds = set()
        for kind in kinds:
            these = per_kind.get(kind)
            if these is None:
                continue
            hit = self.previous.get(kind)
            if hit is not None and same_objects(hit[3], these):
                current[kind] = hit  # the very objects of the previous poll: their order
                out += hit[4]
                continue
            ids = list(map(_ID, these))
            if hit is not None and hit[0] == ids:
                current[kind] = hit = (*hit[:3], these, list(map(these.__getitem__, hit[1])))
            else:
                self.sorted_kinds.add(kind)
                old = hit[2] if hit is not None else {}
                keys = {name: key(name) if (k := old.get(name)) is None else k for name in ids}
                ordered = list(map(keys.__getitem__, ids))
                order = sorted(range(len(ids)), key=ordered.__getitem__)
                current[kind] = hit = (ids, order, keys, these, list(map(these.__getitem__, order)))
            out += hit[4]
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


NOT_YET = Probe(None, "not asked yet: a poll asks the kernel about a thousand files at most")


class PollMemo:
    """Everything the collectors keep between two polls (see the module docstring)."""

    def __init__(self, probe_clock: Callable[[], float] = time.monotonic) -> None:
        self.probes = ProbeMemo(clock=probe_clock)
        self.order = SortMemo()
        """The order objects were sorted in at the previous poll (snapshot.take)."""
        self.rows: dict[str, Kept[Any]] = {}
        """Per /proc/sysvipc file (and header): row text -> (object built from it, when)."""
        self.tables: dict[str, tuple[bytes, list[Any], float, str]] = {}
        """Per /proc/sysvipc file: its whole text at the previous poll, the objects built from
        it, when the first of them falls due again, and the name of its rows in ``rows``."""
        self.files: dict[str, Kept[Any]] = {}
        """Per listed directory: file name -> (stat key, object)."""
        self.used: set[str] = set()
        self.ran: frozenset[int] | None = None
        """Processes the scan of this poll read again (they ran since the previous one, or
        could not be read), when it was incremental; None when it is not known."""
        self.gates = Gates()
        """Kinds handed on whole (snapshot.take)."""
        self.listings: dict[str, tuple[list[Any], float]] = {}
        """Per directory: its objects as last listed, and until when they may be handed on
        while inotify reports nothing there (:meth:`unchanged_listing`)."""
        self.watches: dict[str, DirWatch] = {}
        self.derived: Kept[tuple[Sequence[Any], Any]] = Kept()
        """Facts drawn from a kind's objects (:meth:`derive`)."""
        from ipctop.verdict_memo import VerdictMemo

        self.verdicts = VerdictMemo()
        """The leak verdicts of the previous poll (leaks.judge)."""

    def forget(self) -> None:
        """Build everything afresh at the next poll (the scan's periodic full read: whatever
        this reasoning overlooks does not last); the lease answers expire by themselves."""
        self.rows.clear()
        self.tables.clear()
        self.listings.clear()
        self.gates.forget()
        self.files.clear()
        self.order.forget()
        self.verdicts.turn()
        self.verdicts.turn()

    def begin(self) -> None:
        """A new poll: tables the previous poll did not use (a namespace gone) are dropped."""
        for table in (self.rows, self.tables, self.files, self.listings, self.watches):
            for name in [name for name in table if name not in self.used]:
                gone = table.pop(name)
                if isinstance(gone, DirWatch):
                    gone.close()
        self.used = set()
        self.gates.turn()
        self.derived.turn()

    def unchanged_listing(self, name: str, path: str | os.PathLike[str]) -> list[Any] | None:
        """The objects ``path`` was last listed as (by :meth:`listed` under ``name``), when
        inotify reported nothing there since and they are recent enough; else None, and the
        caller lists the directory (inotify then reports what happens from now on)."""
        self.used.add(name)
        watch = self.watches.get(name)
        if watch is None:
            watch = self.watches[name] = DirWatch(path)
        changed = watch.changed()
        listed = self.listings.get(name)
        if changed or listed is None or time.monotonic() >= listed[1]:
            return None
        return listed[0]  # (the files' stamps in ``files`` stay kept under the same name)

    def listed(self, name: str, objects: list[Any], period: float) -> None:
        """``objects`` are what the directory ``name`` holds now: handed on for up to
        ``period`` seconds (the end of the period: collect.common.recheck_at)."""
        self.listings[name] = (objects, recheck_at(time.monotonic(), period))

    def derive(self, name: str, objects: Sequence[Any], fact: Callable[[Sequence[Any]], V]) -> V:
        """``fact(objects)``, or what it gave at the previous poll for the very same objects."""
        hit = self.derived.get(name)
        if hit is None or not same_objects(hit[0], objects):
            hit = (objects, fact(objects))
        self.derived.put(name, hit)
        return hit[1]  # type: ignore[no-any-return]

    def kept(self, table: dict[str, Kept[Any]], name: str) -> Kept[Any]:
        """The Kept of ``name`` in ``table``, turned for this poll."""
        found = table.get(name)
        if found is None:
            found = table[name] = Kept()
        found.turn()
        self.used.add(name)
        return found
