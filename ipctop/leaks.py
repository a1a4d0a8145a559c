"""Leak hunting: rules that mark suspected leaks, each with a reason a person understands.

``judge(snap)`` returns the snapshot with every object's ``leak`` set: None (nothing to say), or a
:class:`~ipctop.model.Leak` whose status is

- ``"leak"``: nothing uses the object any more and nobody who made or used it is left;
- ``"pending_removal"``: a SysV segment removed (IPC_RMID) while attached, kept alive by its
  holders; a common idiom, not a leak, shown so one can see who holds the memory;
- ``"unknown"``: it would be a leak, but ipctop cannot see enough to be sure (processes it could
  not read might use it, or the kernel names a pid from another PID namespace). Never cleaned.

A /dev/shm or mqueue file does not go blind that way: the snapshot carries the kernel's own answer
to "does any process have it open or mapped?" (``in_use``, a write-lease probe, see safepath.probe),
which counts processes /proc hides. Such a file is "unknown" only when the kernel would not
answer either (the probe is only for the file's owner or CAP_LEASE), and the reason says so.

The rules only read the snapshot. The one fact a snapshot cannot hold is whether a pid that uses
no IPC is alive (a segment's creator, a queue's last sender): that comes from ``alive``, a
function of a pid that returns its start time (epoch seconds) or None when no such process runs.
The default reads /proc; tests pass their own.

PID reuse: a pid that is alive now but started after the object last changed (its ctime, or the
time of the operation the pid is recorded for) is another process that got the same number; it
counts as gone. Start times come from /proc/PID/stat and boot time in whole seconds, SysV times are
whole seconds, so a margin of REUSE_SLACK seconds keeps a real creator from looking reused.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence

from ipctop.fmt import age_words, human_age, human_bytes
from ipctop.kinds import Fifo, Pipe, PosixMq, PosixSem, PosixShm, SysvMsg, SysvSem, SysvShm
from ipctop.liveness import Alive, proc_alive
from ipctop.model import IpcObject, Kind, Leak, Snapshot, evolve
from ipctop.verdict_memo import Fact, KindVerdicts, Verdict, VerdictMemo, words_hold

LEAK = "leak"
PENDING = "pending_removal"
UNKNOWN = "unknown"
STATUSES = (LEAK, PENDING, UNKNOWN)

REUSE_SLACK = 2.0
"""Seconds of rounding allowed between a process's start time and an object's times."""

USERS_FROM_PROC = frozenset({
    Kind.POSIX_SHM, Kind.POSIX_SEM, Kind.POSIX_MQ, Kind.PIPE, Kind.FIFO,
})
"""Kinds judged by their users as /proc shows them: an unreadable process might be one."""

REMOVABLE = frozenset({
    Kind.SYSV_SHM, Kind.SYSV_MSG, Kind.SYSV_SEM, Kind.POSIX_SHM, Kind.POSIX_MQ, Kind.POSIX_SEM,
})
"""Kinds `leaks --clean` removes. A pipe or FIFO leak is a process's doing: end the process."""

IGNORE_UNREADABLE_ENV = "IPCTOP_IGNORE_UNREADABLE"

NOBODY_HOLDS = "the kernel says no process has it open or mapped (a write lease was granted)"
"""Evidence of a /dev/shm or mqueue leak that holds however many processes could not be read."""


def ignore_unreadable_default() -> bool:
    """True when the environment says to judge as if unreadable processes used no IPC."""
    return os.environ.get(IGNORE_UNREADABLE_ENV, "").strip().lower() in ("1", "yes", "true")


# ---------------------------------------------------------------------------------- judging


def judge(
    snap: Snapshot,
    now: float | None = None,
    *,
    alive: Alive | None = None,
    ignore_unreadable: bool = False,
    memo: VerdictMemo | None = None,
) -> Snapshot:
    """``snap`` with every object's ``leak`` set by the rules (see the module docstring).

    ``now`` (default: when the snapshot was taken) only words ages in reasons. With
    ``ignore_unreadable`` the processes ipctop could not read are assumed to use no IPC; otherwise
    an object judged by its users is "unknown" while any process could not be read.
    ``memo`` (a polling program's, kept between calls) saves judging again an object that is
    the same instance as at the previous call when every fact its verdict was drawn from (the
    pids it names, alive or gone; the ages it words; how many processes were unreadable) is
    still the same: a verdict is a function of exactly those. It goes kind by kind (the objects
    come sorted by kind, as ``take`` returns them): a kind whose objects are the previous
    call's, whose facts still hold and whose ages still read the same is handed on whole.
    """
    j = _Judge(snap, snap.taken_at if now is None else now, alive or proc_alive(),
               ignore_unreadable)
    objects: list[IpcObject] = []
    if memo is None:
        for o in snap.objects:
            leak = j.verdict(o)
            objects.append(o if leak == o.leak else evolve(o, leak=leak))
    else:
        from ipctop.collect.poll_memo import kind_runs

        memo.turn()
        for kind, run in kind_runs(snap.objects):
            objects += j.kind(kind, run, memo)
    return dataclasses.replace(snap, objects=tuple(objects))


def since(obj: IpcObject) -> float | None:
    """When the object was last seen in use or changed (epoch seconds); what --min-age measures.

    SysV shm: last detach (dtime), or ctime when never detached; SysV msg: the latest of send,
    receive and ctime; SysV sem: the latest of last operation and ctime; POSIX mq: the queue
    file's mtime (last send or receive; its ctime moves whenever anyone reads the file); others:
    the file's ctime. None when unknown (pipes).
    """
    if isinstance(obj, SysvShm):
        return obj.dtime or obj.ctime
    if isinstance(obj, SysvMsg):
        return _latest(obj.stime, obj.rtime, obj.ctime)
    if isinstance(obj, SysvSem):
        return _latest(obj.otime, obj.ctime)
    if isinstance(obj, PosixMq):
        return obj.mtime or obj.ctime or None
    return obj.ctime or None


def age(obj: IpcObject, now: float) -> float | None:
    """Seconds since :func:`since`, or None when unknown."""
    t = since(obj)
    return None if t is None else max(0.0, now - t)


def matches(obj: IpcObject, filter_text: str | None) -> bool:
    """Case-insensitive substring of the object's identity: id, key, name or path.

    Deliberately not kind or owner: `--clean --yes --filter X` must reach only what X names.
    """
    if not filter_text:
        return True
    needle = filter_text.lower()
    fields = (obj.id, obj.key, obj.name, getattr(obj, "path", None))
    return any(needle in f.lower() for f in fields if isinstance(f, str))


def find_leaks(
    snap: Snapshot,
    *,
    min_age: float | None = None,
    filter_text: str | None = None,
    statuses: Iterable[str] = STATUSES,
    now: float | None = None,
) -> list[IpcObject]:
    """Judged objects whose verdict is in ``statuses``, matching ``filter_text``, older than
    ``min_age`` seconds (an object whose age is unknown is left out when min_age is given).

    Sorted: leaks first, then pending removals, then unknowns; the biggest first within each.
    """
    now = snap.taken_at if now is None else now
    wanted = set(statuses)
    out = [
        o for o in snap.objects
        if o.leak is not None and o.leak.status in wanted and matches(o, filter_text)
        and _old_enough(o, min_age, now)
    ]
    order = {s: i for i, s in enumerate(STATUSES)}
    out.sort(key=lambda o: (order.get(o.leak.status, 9) if o.leak else 9,
                            -(o.leak.reclaim_bytes if o.leak else 0), o.kind.value, o.id))
    return out


def reclaimable_bytes(objects: Iterable[IpcObject]) -> int:
    """Total bytes removing the objects judged "leak" would free."""
    return sum(o.leak.reclaim_bytes for o in objects if o.leak is not None
               and o.leak.status == LEAK)


def is_removable(obj: IpcObject) -> bool:
    """A leak `--clean` may remove (its kind can be removed by name or id, and it is in
    ipctop's own namespaces: by id, one in a container would reach ours)."""
    return obj.leak is not None and obj.leak.status == LEAK and obj.kind in REMOVABLE \
        and obj.where is None


def _old_enough(obj: IpcObject, min_age: float | None, now: float) -> bool:
    if not min_age:
        return True
    a = age(obj, now)
    return a is not None and a >= min_age


def _latest(*times: float | None) -> float | None:
    known = [t for t in times if t]
    return max(known) if known else None


def _holders(obj: IpcObject, limit: int = 4) -> str:
    return obj.holders_text(limit, ", ", " and {n} more")


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


class _Judge:
    def __init__(self, snap: Snapshot, now: float, alive: Alive, ignore_unreadable: bool) -> None:
        self.snap = snap
        self.now = now
        self.alive_fn = alive
        self.alive_seen: dict[int, float | None] = {}
        """``alive`` of each pid asked once per call: many objects name the same creator."""
        self.said: dict[tuple[str, int | float | None, float | None], object] = {}
        """What each fact said in this call (many objects name the same creator, or were
        made in the same second)."""
        self.facts: list[Fact] | None = None
        """While judging with a memo: the facts consulted so far."""
        self.blind = 0 if ignore_unreadable else snap.unreadable.count
        # What the kernel refused, e.g. " (/proc/1/fd: Permission denied)": as root too, so no
        # "run as root" advice here.
        self.refused = f" ({snap.unreadable.sample[0]})" if snap.unreadable.sample else ""
        self.procs = {p.pid: p for p in snap.processes}
        self.context = (self.blind, self.refused)

    def kind(self, kind: Kind, run: tuple[IpcObject, ...], memo: VerdictMemo
             ) -> tuple[IpcObject, ...]:
        """The objects of ``kind`` with their verdicts: the previous call's, when they are the
        same objects, every fact about pids still says the same and every age still reads the
        same; otherwise object by object, an object that is the same instance as at the
        previous call keeping its verdict while its own facts hold."""
        last = memo.previous.get(kind)
        if last is not None and run == last.given and last.context == self.context and \
                last.ages_hold[0] <= self.now < last.ages_hold[1] and \
                all(self.fact(what, a, b) == said for what, a, b, said in last.facts):
            memo.current[kind] = last
            return last.judged
        memo.walked.add(kind)
        before = last.each if last is not None else {}
        each: dict[int, Verdict] = {}
        facts: set[Fact] = set()
        start, until = -math.inf, math.inf
        out: list[IpcObject] = []
        now, context = self.now, self.context
        for o in run:
            hit = before.get(id(o))
            if hit is None or hit[0] is not o or hit[2] != context or \
                    not hit[5] <= now < hit[6] or \
                    not all(self.fact(what, a, b) == said for what, a, b, said in hit[3]):
                hit = self._judged(o)
                memo.judged += 1
            each[id(o)] = hit
            facts.update(hit[3])
            start, until = max(start, hit[5]), min(until, hit[6])
            out.append(hit[4])
        judged = tuple(out)
        memo.current[kind] = KindVerdicts(run, judged, context, frozenset(facts),
                                          (start, until), each)
        return judged

    def _judged(self, o: IpcObject) -> Verdict:
        """The verdict on ``o`` with what it was drawn from: the facts about pids, and the
        times between which every age it words reads the same."""
        self.facts = []
        try:
            leak = self.verdict(o)
            facts = self.facts
        finally:
            self.facts = None
        start, until = -math.inf, math.inf
        for fact in facts:
            if fact[0] == "ago":
                since, till = words_hold(fact[1], self.now)
                start, until = max(start, since), min(until, till)
        # The object itself when the verdict is the one it carries: most objects have none.
        return (o, leak, self.context, tuple(f for f in facts if f[0] != "ago"),
                o if leak == o.leak else evolve(o, leak=leak), start, until)

    def fact(self, what: str, a: int | float | None, b: float | None) -> object:
        if what == "gone":
            return self.gone(int(a or 0), b)
        if what == "ago":
            return self.ago(a)
        if what == "comm":
            return self._comm(int(a or 0))
        return self._state(int(a or 0))

    def note(self, what: str, a: int | float | None, b: float | None, said: object) -> None:
        if self.facts is not None:
            self.facts.append((what, a, b, said))

    # -- facts about pids

    def gone(self, pid: int, after: float | None) -> tuple[bool, str]:
        """(is pid gone, a phrase saying so). ``after``: when the pid was last recorded acting."""
        said = self.said.get(("gone", pid, after))
        if said is None:
            said = self.said[("gone", pid, after)] = self._gone(pid, after)
        self.note("gone", pid, after, said)
        return said  # type: ignore[return-value]

    def _gone(self, pid: int, after: float | None) -> tuple[bool, str]:
        p = self.procs.get(pid)
        if p is not None and p.state not in ("Z", "X", "x"):
            start: float | None = p.start_time or 0.0
        elif pid in self.alive_seen:
            start = self.alive_seen[pid]
        else:
            start = self.alive_seen[pid] = self.alive_fn(pid)
        if start is None:
            return True, f"{pid} is gone"
        if after and start and start > after + REUSE_SLACK:
            return True, (f"{pid} is gone (that pid now belongs to a process started "
                          f"{human_age(after, start)} later)")
        comm = f"/{p.comm}" if p is not None else ""
        return False, f"{pid}{comm} is alive"

    def unknown_blind(self, what: str, reclaim: int, evidence: list[str],
                      kernel_why: str | None = None) -> Leak:
        n = self.blind
        kernel = f", and the kernel would not say ({kernel_why})" if kernel_why else ""
        return Leak(
            reason=f"{what}, but {_plural(n, 'process')} could not be read and might use "
                   f"it{kernel}",
            reclaim_bytes=reclaim, status=UNKNOWN,
            evidence=(*evidence, f"{_plural(n, 'unreadable process')}{self.refused} (--ignore-"
                      f"unreadable or {IGNORE_UNREADABLE_ENV}=1 judges without them)"),
        )

    def kernel_says(self, o: PosixShm | PosixSem | PosixMq, what: str, reclaim: int,
                    evidence: list[str], reason: str) -> Leak | None:
        """The verdict on a file /proc shows no user of, with the kernel's own answer
        (``in_use``, from the write-lease probe) deciding where /proc cannot."""
        if o.in_use:
            return None  # held by a process we cannot see (unreadable, another PID namespace)
        if o.in_use is False:
            evidence.append(NOBODY_HOLDS)
        elif self.blind:
            return self.unknown_blind(what, reclaim, evidence,
                                      o.in_use_why or "it was not asked")
        return Leak(reason=reason, reclaim_bytes=reclaim, status=LEAK, evidence=tuple(evidence))

    def ago(self, t: float | None) -> str:
        said = self.said.get(("ago", t, None))
        if said is None:
            said = self.said[("ago", t, None)] = age_words(t, self.now) if t else "?"
        self.note("ago", t, None, said)
        return said  # type: ignore[return-value]

    # -- rules

    def verdict(self, obj: IpcObject) -> Leak | None:
        if isinstance(obj, SysvShm):
            return self.sysv_shm(obj)
        if isinstance(obj, SysvMsg):
            return self.sysv_msg(obj)
        if isinstance(obj, SysvSem):
            return self.sysv_sem(obj)
        if isinstance(obj, PosixShm | PosixSem):
            return self.dev_shm(obj)
        if isinstance(obj, PosixMq):
            return self.posix_mq(obj)
        if isinstance(obj, Pipe | Fifo):
            return self.pipe(obj)
        return None

    def sysv_shm(self, o: SysvShm) -> Leak | None:
        if o.dest and o.nattch > 0:
            if o.users:
                who = f"its holders: {_holders(o)}"
            else:
                who = f"its {_plural(o.nattch, 'attachment')} (holders not visible)"
            return Leak(
                reason=f"removed while attached: freed when {who} detach",
                reclaim_bytes=0, status=PENDING,
                evidence=(f"marked for removal (dest), nattch {o.nattch}",
                          *(f"held by {u.pid}/{u.comm}" for u in o.users)),
            )
        if o.nattch > 0:
            return None
        reclaim = (o.rss or 0) + (o.swap or 0) if o.rss is not None else (o.size or 0)
        detached = (f"last detached {self.ago(o.dtime)} ago" if o.dtime
                    else f"never attached, created {self.ago(o.ctime)} ago")
        evidence = [f"nattch 0, {detached}", f"size {human_bytes(o.size)}, "
                    f"resident {human_bytes(o.rss)}, swapped {human_bytes(o.swap)}"]
        if o.cpid <= 0:
            return Leak(reason="no process attached; its creator is in another PID namespace, "
                        "so whether it is gone cannot be told", reclaim_bytes=reclaim,
                        status=UNKNOWN, evidence=(*evidence, "cpid 0"))
        gone, phrase = self.gone(o.cpid, o.ctime)
        if not gone:
            return None
        if o.lpid and o.lpid != o.cpid:
            evidence.append(f"last attach/detach by {self.gone(o.lpid, o.dtime)[1]}")
        return Leak(reason=f"no process attached and its creator {phrase}; {detached}",
                    reclaim_bytes=reclaim, status=LEAK,
                    evidence=(f"creator {phrase}", *evidence))

    def sysv_msg(self, o: SysvMsg) -> Leak | None:
        if o.messages <= 0:
            return None
        queued = f"{_plural(o.messages, 'message')} ({human_bytes(o.bytes)}) queued"
        evidence = [queued, f"last send {self.ago(o.stime)} ago"]
        if o.lspid <= 0:
            return Leak(reason=f"{queued}; its last sender is in another PID namespace",
                        reclaim_bytes=o.bytes, status=UNKNOWN, evidence=(*evidence, "lspid 0"))
        s_gone, s_phrase = self.gone(o.lspid, o.stime)
        if not s_gone:
            return None
        if o.lrpid <= 0:
            if o.rtime:
                return Leak(reason=f"{queued}; its last reader is in another PID namespace",
                            reclaim_bytes=o.bytes, status=UNKNOWN,
                            evidence=(*evidence, "lrpid 0 but read before"))
            r_phrase = "never read"
        else:
            r_gone, r_phrase = self.gone(o.lrpid, o.rtime)
            if not r_gone:
                return None
            r_phrase = f"last reader {r_phrase}"
        return Leak(reason=f"{queued}; last sender {s_phrase}, {r_phrase}",
                    reclaim_bytes=o.bytes, status=LEAK,
                    evidence=(*evidence, f"last sender {s_phrase}", r_phrase))

    def sysv_sem(self, o: SysvSem) -> Leak | None:
        # /proc/sysvipc/sem has no creator pid. What the kernel records is, per semaphore, the
        # last process that operated on it (semop) or set it (SETVAL/SETALL, which is how a
        # creator initialises a set): those are the set's creator-or-operators we can know.
        reclaim = o.size or 0
        if o.sempids is None:
            return None  # could not read it (no permission): nothing to judge on
        waiting = sum(o.ncnt or ()) + sum(o.zcnt or ())
        if waiting:
            return None  # a waiter is a live process by definition
        pids = sorted({p for p in o.sempids if p != 0})
        if not pids:
            return Leak(reason="no process ever operated on it; the kernel does not record its "
                        "creator, so whether it is abandoned cannot be told",
                        reclaim_bytes=reclaim, status=UNKNOWN,
                        evidence=(f"{_plural(o.nsems, 'semaphore')}, every sempid 0",))
        after = _latest(o.otime, o.ctime)
        phrases = []
        for pid in pids:
            gone, phrase = self.gone(pid, after)
            if not gone:
                return None
            phrases.append(phrase)
        who = "its last operator" if len(pids) == 1 else "all its last operators"
        return Leak(
            reason=f"{who} ({', '.join(map(str, pids))}) gone and nobody waits on it",
            reclaim_bytes=reclaim, status=LEAK,
            evidence=(*(f"sempid {p}" for p in phrases),
                      f"last operation {self.ago(o.otime)} ago", "no waiters (ncnt, zcnt 0)"),
        )

    def dev_shm(self, o: PosixShm | PosixSem) -> Leak | None:
        if o.users:
            return None
        reclaim = o.size or 0
        what = "no process maps it or holds it open" if isinstance(o, PosixShm) \
            else "no process has it open"
        evidence = [f"{o.path}, {human_bytes(o.size)}", f"changed {self.ago(o.ctime)} ago"]
        return self.kernel_says(o, what, reclaim, evidence,
                                f"{what} ({human_bytes(o.size)}, {self.ago(o.ctime)} old)")

    def posix_mq(self, o: PosixMq) -> Leak | None:
        if o.users:
            return None
        if o.messages is not None:
            has = o.messages > 0
            queued = f"{_plural(o.messages, 'message')} ({human_bytes(o.bytes)}) queued"
        else:
            has = (o.bytes or 0) > 0
            queued = f"{human_bytes(o.bytes)} queued"
        if not has:
            return None
        reclaim = o.bytes or 0
        what = f"{queued} and no process has the queue open"
        evidence = [queued, f"last send or receive {self.ago(since(o))} ago"]
        return self.kernel_says(o, what, reclaim, evidence, what)

    def pipe(self, o: Pipe | Fifo) -> Leak | None:
        readers = o.pids_with_access("r")
        writers = o.pids_with_access("w")
        if any(u.access is None for u in o.users):
            return None  # a user whose direction is unknown might be a reader
        reclaim = o.bytes or 0
        label = "pipe" if isinstance(o, Pipe) else "FIFO"
        if writers and not readers:
            names = ", ".join(f"{p}/{self._comm(p)}" for p in sorted(writers))
            what = f"written by {names} but no process can read it"
            evidence = [f"writers: {names}", "readers: none"]
            if self.blind:
                return self.unknown_blind(what, reclaim, evidence)
            return Leak(reason=f"{label} {what}: the next write fails (EPIPE)",
                        reclaim_bytes=reclaim, status=LEAK, evidence=tuple(evidence))
        full = o.bytes is not None and o.capacity is not None and o.capacity > 0 \
            and o.bytes >= o.capacity
        if readers and full:
            states = {p: self._state(p) for p in readers}
            if all(s in ("T", "t") for s in states.values()):
                names = ", ".join(f"{p}/{self._comm(p)}" for p in sorted(readers))
                what = f"full ({human_bytes(o.bytes)}) and its reader {names} is stopped"
                evidence = [f"{human_bytes(o.bytes)} queued of {human_bytes(o.capacity)}",
                            *(f"reader {p} state {s}" for p, s in sorted(states.items()))]
                if self.blind:
                    return self.unknown_blind(what, reclaim, evidence)
                return Leak(reason=f"{label} {what}: writers block",
                            reclaim_bytes=reclaim, status=LEAK, evidence=tuple(evidence))
        return None

    def _comm(self, pid: int) -> str:
        p = self.procs.get(pid)
        said = p.comm if p is not None else "?"
        self.note("comm", pid, None, said)
        return said

    def _state(self, pid: int) -> str:
        p = self.procs.get(pid)
        said = p.state if p is not None else ""
        self.note("state", pid, None, said)
        return said


def leak_dict(obj: IpcObject, now: float) -> dict[str, object]:
    """One entry of `ipctop leaks --json`: the object's identity, the verdict, and context."""
    leak = obj.leak
    t = since(obj)
    return {
        "kind": obj.kind.value,
        "id": obj.id,
        "key": obj.key,
        "name": obj.name,
        "status": leak.status if leak else None,
        "reason": leak.reason if leak else None,
        "reclaim_bytes": leak.reclaim_bytes if leak else 0,
        "evidence": list(leak.evidence) if leak else [],
        "removable": is_removable(obj),
        "size": obj.size,
        "owner": obj.owner,
        "uid": obj.uid,
        "mode": obj.mode,
        "since": t,
        "age": None if t is None else round(max(0.0, now - t), 3),
        "users": [{"pid": u.pid, "comm": u.comm, "fd": u.fd, "access": u.access, "via": u.via}
                  for u in obj.users],
    }


def ident(obj: IpcObject) -> str:
    """How a person names the object: "/name" or the path, else "KEY id", else the id."""
    if obj.name:
        return obj.name
    if obj.key:
        return f"{obj.id} (key {obj.key})"
    return obj.id


def summary(objects: Sequence[IpcObject]) -> str:
    """"3 leaks (1.5M reclaimable), 1 pending removal, 2 unknown"."""
    counts = {s: 0 for s in STATUSES}
    for o in objects:
        if o.leak is not None:
            counts[o.leak.status] = counts.get(o.leak.status, 0) + 1
    parts = [f"{_plural(counts[LEAK], 'leak')} ({human_bytes(reclaimable_bytes(objects))} "
             "reclaimable)"]
    if counts[PENDING]:
        parts.append(f"{counts[PENDING]} pending removal")
    if counts[UNKNOWN]:
        parts.append(f"{counts[UNKNOWN]} unknown")
    return ", ".join(parts)
