"""A polling program's work per kind: a kind whose objects did not change is handed on whole.

``LiveTake`` compares each kind's objects with the previous poll's and says which kinds
changed (``LiveTake.changed``); ``SortMemo`` sorts again only the kinds whose ids changed. Each
shortcut is shown reusing, and then seeing a change at the next poll.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from unittest import mock

import posix_ipc
from conftest import Cleanup, unique_name

from ipctop.collect.poll_memo import SortMemo, kind_runs
from ipctop.fmt import age_words
from ipctop.kinds import Pipe, PosixShm, SysvShm
from ipctop.leaks import judge
from ipctop.model import IpcObject, Kind, Snapshot, evolve
from ipctop.snapshot import LiveTake, natural_key
from ipctop.verdict_memo import VerdictMemo, words_hold


def seg(shmid: int) -> SysvShm:
    return SysvShm(id=str(shmid), owner="root", uid=0, mode="0600", size=4096, ctime=1.0,
                   nattch=0, cpid=1, lpid=0)


def pipe(ino: int, queued: int = 0) -> Pipe:
    return Pipe(id=str(ino), owner="root", uid=0, mode="0600", size=None, ctime=None,
                bytes=queued)


def snap(*objects: IpcObject) -> Snapshot:
    return Snapshot(taken_at=1.0, hostname="h", objects=tuple(objects))


def reference_order(objects: list[IpcObject]) -> list[IpcObject]:
    rank = {kind: i for i, kind in enumerate(Kind)}
    return sorted(objects, key=lambda o: (rank[o.kind], natural_key(o.id)))


# --------------------------------------------------------------------------- SortMemo


def test_sort_memo_sorts_again_only_the_kinds_whose_ids_changed() -> None:
    memo = SortMemo()
    first = [pipe(10), seg(2), pipe(9), seg(10), seg(1)]
    out = memo.sorted(first, Kind, natural_key)
    assert out == reference_order(first) and [o.id for o in out] == ["1", "2", "10", "9", "10"]
    assert memo.sorted_kinds == {Kind.SYSV_SHM, Kind.PIPE}
    # The same ids in the same order (new instances): the previous order, no sort.
    again = [evolve(o) for o in first]
    out = memo.sorted(again, Kind, natural_key)
    assert memo.sorted_kinds == set()
    assert all(a is b for a, b in zip(out, reference_order(again), strict=True))
    # A pipe appears: only the pipes are sorted again, and it takes its place.
    third = [pipe(10), seg(2), pipe(9), pipe(100), seg(10), seg(1), pipe(11)]
    out = memo.sorted(third, Kind, natural_key)
    assert memo.sorted_kinds == {Kind.PIPE}
    assert out == reference_order(third)
    assert [o.id for o in out if o.kind is Kind.PIPE] == ["9", "10", "11", "100"]
    # A segment goes and the pipes come in another order: both are seen.
    fourth = [pipe(100), pipe(9), seg(2), pipe(11), seg(1), pipe(10)]
    out = memo.sorted(fourth, Kind, natural_key)
    assert memo.sorted_kinds == {Kind.SYSV_SHM, Kind.PIPE}
    assert out == reference_order(fourth)
    # A kind that is gone is gone.
    assert memo.sorted([seg(1)], Kind, natural_key) == [seg(1)]
    assert set(memo.previous) == {Kind.SYSV_SHM}


def test_kind_runs_splits_objects_by_kind() -> None:
    objects = tuple(reference_order([seg(3), pipe(1), seg(1), pipe(2), pipe(3)]))
    runs = kind_runs(objects)
    assert [(kind, [o.id for o in run]) for kind, run in runs] == [
        (Kind.SYSV_SHM, ["1", "3"]), (Kind.PIPE, ["1", "2", "3"])]
    assert kind_runs(()) == []
    # Not sorted: a kind comes back once per run, nothing is lost or reordered.
    mixed = (seg(1), pipe(1), seg(2))
    assert [o for _, run in kind_runs(mixed) for o in run] == list(mixed)
    assert [kind for kind, _ in kind_runs(mixed)] == [Kind.SYSV_SHM, Kind.PIPE, Kind.SYSV_SHM]


# --------------------------------------------------------------------------- LiveTake


def polls(*snaps: Snapshot) -> Iterator[Snapshot]:
    yield from snaps


def test_live_take_hands_on_an_unchanged_kind_whole_and_says_what_changed() -> None:
    segs = [seg(1), seg(2)]
    pipes = [pipe(7), pipe(8)]
    taken = polls(
        snap(*segs, *pipes),
        # Equal objects, new instances (a collector built them again): nothing changed.
        snap(*(evolve(o) for o in segs), *(evolve(o) for o in pipes)),
        # Bytes queued in one pipe: only the pipes changed.
        snap(*segs, pipes[0], pipe(8, queued=5)),
        # The pipes are gone, a segment appears.
        snap(*segs, seg(3)),
    )
    with mock.patch("ipctop.snapshot.take", lambda *a, **k: next(taken)):
        live = LiveTake()
        first = live()
        assert live.changed == {Kind.SYSV_SHM, Kind.PIPE}
        second = live()
        assert live.changed == frozenset()
        assert all(a is b for a, b in zip(first.objects, second.objects, strict=True))
        third = live()
        assert live.changed == {Kind.PIPE}
        assert third.objects[:3] == first.objects[:3]
        assert all(a is b for a, b in zip(first.objects[:3], third.objects[:3], strict=True))
        assert third.objects[3] is not first.objects[3]
        assert isinstance(third.objects[3], Pipe) and third.objects[3].bytes == 5
        fourth = live()
        assert live.changed == {Kind.SYSV_SHM, Kind.PIPE}
        assert [o.id for o in fourth.objects] == ["1", "2", "3"]
        assert fourth.objects[0] is first.objects[0]  # the unchanged segments keep instances


def test_live_take_sees_a_resized_file_at_the_next_poll(cleanup: Cleanup) -> None:
    """On the real machine (other suites' files come and go meanwhile: only ours is checked)."""
    name = f"/{unique_name()}"
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    mem = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096)
    live = LiveTake()
    before = next(o for o in live().objects if o.kind is Kind.POSIX_SHM and o.id == name)
    again = next(o for o in live().objects if o.kind is Kind.POSIX_SHM and o.id == name)
    assert again is before
    os.ftruncate(mem.fd, 8192)
    mem.close_fd()
    snap_after = live()
    after = next(o for o in snap_after.objects if o.kind is Kind.POSIX_SHM and o.id == name)
    assert isinstance(after, PosixShm) and after.size == 8192
    assert Kind.POSIX_SHM in live.changed


# --------------------------------------------------------------------------- judge(memo=)


NOW = 1_800_000_000.0


def young_seg(shmid: int, age: float, cpid: int = 500) -> SysvShm:
    """A segment nobody attached, made ``age`` seconds before NOW by ``cpid``."""
    return SysvShm(id=str(shmid), key="0x0000abcd", owner="root", uid=0, mode="0600",
                   size=4096, ctime=NOW - age, nattch=0, cpid=cpid, lpid=0, rss=0, swap=0)


def test_words_hold_as_long_as_the_age_reads_the_same() -> None:
    then = NOW - 10_000.0
    for secs in (-5.0, 0.0, 0.4, 1.0, 59.2, 60.0, 61.5, 3599.9, 3600.0, 7300.0, 86399.0,
                 86400.0, 200_000.5):
        now = then + secs
        start, until = words_hold(then, now)
        assert start - 1e-2 <= now < until
        said = age_words(then, now)
        for t in (start, (start + max(now, start)) / 2, now, until - 1e-3, until - 1e-2):
            if t >= start and t < until:
                assert age_words(then, t) == said, (secs, t)
        assert age_words(then, until + 2e-3) != said, secs
    assert words_hold(None, NOW) == (-math.inf, math.inf)
    assert words_hold(0.0, NOW) == (-math.inf, math.inf)


def judged(objects: list[IpcObject], now: float, alive: Callable[[int], float | None],
           memo: VerdictMemo | None) -> Snapshot:
    return judge(Snapshot(taken_at=now, hostname="h", objects=tuple(reference_order(objects))),
                 alive=alive, memo=memo)


def test_judge_hands_on_a_kind_whose_facts_and_ages_hold_and_sees_each_change() -> None:
    creators = {500: NOW - 7200.0, 600: NOW - 7200.0}

    def alive(pid: int) -> float | None:
        return creators.get(pid)

    old = [young_seg(1, 3 * 3600, cpid=500), young_seg(2, 3 * 3600, cpid=600)]
    pipes = [pipe(7)]
    memo = VerdictMemo()

    def poll(objects: list[IpcObject], now: float) -> Snapshot:
        got = judged(objects, now, alive, memo)
        assert got.objects == judged(objects, now, alive, None).objects  # as a fresh judge
        return got

    first = poll(old + pipes, NOW)
    assert memo.walked == {Kind.SYSV_SHM, Kind.PIPE} and memo.judged == 3
    # A minute later nothing reads differently ("3h"): both kinds handed on whole.
    second = poll(old + pipes, NOW + 60)
    assert memo.walked == set() and memo.judged == 0
    assert all(a is b for a, b in zip(first.objects, second.objects, strict=True))
    # The creator of segment 1 dies: the segments are walked, only segment 1 changes.
    del creators[500]
    third = poll(old + pipes, NOW + 120)
    assert memo.walked == {Kind.SYSV_SHM} and memo.judged == 1
    leak = third.objects[0].leak
    assert leak is not None and leak.status == "leak" and "creator 500 is gone" in leak.reason
    assert third.objects[1] is second.objects[1]
    assert third.objects[2] is second.objects[2]
    # A new segment: the segments are walked again, the unchanged ones keep their verdicts.
    fourth = poll([*old, young_seg(3, 3 * 3600, cpid=600), *pipes], NOW + 125)
    assert memo.walked == {Kind.SYSV_SHM} and memo.judged == 1
    assert fourth.objects[0] is third.objects[0]  # the very instance with its verdict


def test_judge_words_a_young_objects_age_anew_only_when_it_reads_differently() -> None:
    def alive(pid: int) -> float | None:
        return None  # every creator gone: the segment is a leak whose reason words its age

    objects: list[IpcObject] = [young_seg(1, 5.0)]
    memo = VerdictMemo()
    reasons = []
    # Under a minute the age reads "less than a minute": the first minute costs one judgement.
    for dt in (0.0, 0.3, 0.9, 1.0, 1.5, 30.0, 54.9, 55.0, 65.0, 114.9, 115.0, 125.0):
        snap_ = judged(objects, NOW + dt, alive, memo)
        fresh = judged(objects, NOW + dt, alive, None)
        assert snap_.objects == fresh.objects, dt
        leak = snap_.objects[0].leak
        assert leak is not None
        reasons.append((leak.reason, Kind.SYSV_SHM in memo.walked))
    assert [walked for _, walked in reasons] == [True, False, False, False, False, False, False,
                                                 True, False, False, True, False]
    assert all("created less than a minute ago" in r for r, _ in reasons[:7])
    assert "created 1m ago" in reasons[7][0] and "created 2m ago" in reasons[10][0]
