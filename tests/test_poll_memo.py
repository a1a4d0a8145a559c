"""collect.poll_memo: what a polling program keeps between polls, and that changes still show.

Each cache is checked the same way: a poll that reuses, then a change of the kind the cache's
signal must catch, and the next poll sees it (as a fresh ``take()`` does). The lease probes are
kept per file and asked only while some process is unreadable (``hide=`` makes one so).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import posix_ipc
import pytest
from conftest import Cleanup, Spawn, unique_name

from ipctop.collect.poll_memo import NOT_YET, Kept, ProbeMemo
from ipctop.collect.procfs import FdUse, MapUse
from ipctop.collect.scan_cache import ScanCache, Seen
from ipctop.kinds import PosixShm
from ipctop.leaks import IGNORE_UNREADABLE_ENV
from ipctop.model import IpcObject, Kind, Process, Snapshot
from ipctop.safepath import Probe
from ipctop.snapshot import LiveTake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def find(snap: Snapshot, kind: Kind, ident: str) -> IpcObject:
    return next(o for o in snap.objects if o.kind is kind and o.id == ident)


def shm_file(cleanup: Cleanup, size: int = 4096) -> str:
    name = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=size).close_fd()
    return name


# --------------------------------------------------------------------------- Kept, ProbeMemo


def test_kept_holds_only_what_the_last_poll_used() -> None:
    kept: Kept[int] = Kept()
    kept.turn()
    kept.put("a", 1)
    kept.put("b", 2)
    kept.turn()
    assert kept.get("a") == 1 and kept.get("b") == 2
    kept.put("a", kept.get("a") or 0)
    kept.turn()
    assert kept.get("a") == 1 and kept.get("b") is None  # b was not used: forgotten


def test_probe_memo_keeps_answers_for_a_while_and_spends_a_budget() -> None:
    clock = Clock()
    memo = ProbeMemo(max_age=60.0, budget=2, clock=clock)
    asked: list[str] = []

    def ask(name: str) -> Callable[[], Probe]:
        return lambda: asked.append(name) or Probe(name == "held")

    memo.begin(True)
    got = [memo.answer(n, ask(n)) for n in ("free", "held", "third")]
    assert got == [Probe(False), Probe(True), NOT_YET]
    assert (memo.asked, memo.waiting) == (2, 1)
    memo.begin(True)
    got = [memo.answer(n, ask(n)) for n in ("free", "held", "third")]
    assert got == [Probe(False), Probe(True), Probe(False)]
    assert asked == ["free", "held", "third"]  # the kept ones were not asked again
    clock.now += 61  # expired: asked again
    memo.begin(True)
    memo.answer("held", ask("held"))
    assert asked[-1] == "held"


# --------------------------------------------------------------------------- LiveTake's probes


def test_live_take_probes_only_while_blind_and_sees_a_new_file(spawn: Spawn,
                                                               cleanup: Cleanup) -> None:
    import mmap

    orphan = shm_file(cleanup)
    held = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(held))
    keep: list[object] = []

    def maps_only() -> None:
        m = posix_ipc.SharedMemory(held, posix_ipc.O_CREX, size=4096)
        keep.append(mmap.mmap(m.fd, 4096))
        m.close_fd()

    holder = spawn(maps_only)
    live = LiveTake(hide={holder.pid})
    snap = live()
    o, h = find(snap, Kind.POSIX_SHM, orphan), find(snap, Kind.POSIX_SHM, held)
    assert getattr(o, "in_use", None) is False and getattr(h, "in_use", None) is True
    assert o.leak is not None and o.leak.status == "leak"
    assert h.leak is None and h.users == ()
    # The next poll keeps the answers: the same objects come back, no probe for them.
    again = live()
    assert find(again, Kind.POSIX_SHM, orphan) is o and find(again, Kind.POSIX_SHM, held) is h
    # A file made between polls is asked about at the next one.
    newer = shm_file(cleanup)
    assert getattr(find(live(), Kind.POSIX_SHM, newer), "in_use", None) is False


def test_live_take_asks_nothing_when_unreadable_processes_are_ignored(
        cleanup: Cleanup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged as if every process were seen (as when all are), /proc's word decides alone."""
    orphan = shm_file(cleanup)
    monkeypatch.setenv(IGNORE_UNREADABLE_ENV, "1")
    live = LiveTake()
    o = find(live(), Kind.POSIX_SHM, orphan)
    assert getattr(o, "in_use", None) is None and live.cache.memo.probes.asked == 0
    assert o.leak is not None and o.leak.status == "leak"


def test_live_take_re_asks_a_changed_file_and_spreads_the_probes(spawn: Spawn,
                                                               cleanup: Cleanup) -> None:
    names = [shm_file(cleanup) for _ in range(3)]
    hidden = spawn(lambda: None)
    live = LiveTake(hide={hidden.pid})
    probes = live.cache.memo.probes
    probes.budget = 1
    answers = []
    for _ in range(3 + 40):  # other suites' unused files compete for the same budget
        snap = live()
        answers = [getattr(find(snap, Kind.POSIX_SHM, n), "in_use", None) for n in names]
        if answers == [False] * 3:
            break
    assert answers == [False] * 3
    assert probes.asked <= 1
    # A file whose ctime moved (chmod) is a changed file: asked again at once.
    probes.budget = 200
    os.chmod(f"/dev/shm{names[0]}", 0o640)
    snap = live()
    o = find(snap, Kind.POSIX_SHM, names[0])
    assert o.mode == "0640" and getattr(o, "in_use", None) is False
    assert ("shm", getattr(o, "dev", None), getattr(o, "inode", None), o.ctime) in \
        probes.answers.current


# --------------------------------------------------------------------------- the scan cache


def _seen(pid: int, fds: tuple[FdUse, ...] = (), maps: tuple[MapUse, ...] = ()) -> Seen:
    return Seen(stamp=b"s", threads=1, status=None, fds=fds, maps=maps, notes=(),
                process=Process(pid=pid, ppid=1, comm="x", cmdline="x", user="root", uid=0))


def test_a_removal_forgets_only_the_processes_that_referred_to_it() -> None:
    cache = ScanCache(clock=Clock())
    file_item, mq_item, shm_item = ("file", 5, 7), ("mq", "/q"), ("shm", 42)
    held = frozenset({file_item, mq_item, shm_item})
    cache.begin("kinds", held)
    cache.seen = {
        1: _seen(1, fds=(FdUse(1, 3, "/dev/shm/x", "rw", 5, 7),)),
        2: _seen(2, fds=(FdUse(2, 3, "/q", "r", mqueue=True),)),
        3: _seen(3, maps=(MapUse(3, "/SYSV00000001", "rw-s", 1, 42, shmid=42),)),
        4: _seen(4, fds=(FdUse(4, 3, "pipe:[9]", "r"),)),
    }
    cache.begin("kinds", held | {("file", 5, 8)})  # a new object: nothing to forget
    assert set(cache.seen) == {1, 2, 3, 4}
    cache.begin("kinds", held - {file_item})
    assert set(cache.seen) == {2, 3, 4}
    cache.begin("kinds", frozenset({shm_item}))
    assert set(cache.seen) == {3, 4}
    cache.begin("other kinds", frozenset({shm_item}))
    assert cache.seen == {}


def test_an_unchanged_file_is_the_same_instance_and_a_resize_shows(cleanup: Cleanup) -> None:
    name = shm_file(cleanup)
    live = LiveTake()
    first = find(live(), Kind.POSIX_SHM, name)
    assert find(live(), Kind.POSIX_SHM, name) is first
    os.truncate(f"/dev/shm{name}", 8192)
    grown = find(live(), Kind.POSIX_SHM, name)
    assert isinstance(grown, PosixShm) and grown.size == 8192 and grown is not first
