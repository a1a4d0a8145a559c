"""A polling program's work per kind: a kind whose objects did not change is handed on whole.

``LiveTake`` compares each kind's objects with the previous poll's and says which kinds
changed (``LiveTake.changed``); ``SortMemo`` sorts again only the kinds whose ids changed. Each
shortcut is shown reusing, and then seeing a change at the next poll.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from unittest import mock

import posix_ipc
from conftest import Cleanup, unique_name

from ipctop.collect.poll_memo import SortMemo
from ipctop.kinds import Pipe, PosixShm, SysvShm
from ipctop.model import IpcObject, Kind, Snapshot, evolve
from ipctop.snapshot import LiveTake, kind_runs, natural_key


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


def test_kind_runs_splits_a_sorted_tuple_by_kind() -> None:
    objects = tuple(reference_order([seg(3), pipe(1), seg(1), pipe(2), pipe(3)]))
    runs = list(kind_runs(objects))
    assert [(kind, [o.id for o in run]) for kind, run in runs] == [
        (Kind.SYSV_SHM, ["1", "3"]), (Kind.PIPE, ["1", "2", "3"])]
    assert list(kind_runs(())) == []


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
