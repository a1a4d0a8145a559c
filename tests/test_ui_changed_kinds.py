"""The TUI looks only at the kinds the live collector says changed (``LiveTake.changed``), and the
table stays right: rows, tab counts and the cursor, poll after poll, whichever kinds change.

The collector is the real LiveTake over a scripted machine (``ipctop.snapshot.take`` replaced),
so ``changed`` and the instances handed on are exactly what the TUI gets from it."""

from __future__ import annotations

import dataclasses
from unittest import mock

from fakes import FakeClock
from test_ui_app import fake_preview, poll, running, sync

from ipctop.kinds import PosixShm, SysvShm
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.snapshot import LiveTake
from ipctop.ui.app import IpcTopApp
from ipctop.ui.live_state import LiveState, row_key
from ipctop.ui.polling import Polled
from ipctop.ui.widgets.object_table import GONE

RANK = {kind: i for i, kind in enumerate(Kind)}


def seg(shmid: int, size: int = 4096) -> SysvShm:
    return SysvShm(id=str(shmid), owner="root", uid=0, mode="0600", size=size, ctime=1.0,
                   nattch=1, cpid=1, lpid=0)


def psm(n: int, size: int = 4096) -> PosixShm:
    name = f"/psm{n}"
    return PosixShm(id=name, name=name, path=f"/dev/shm{name}", mode="0600", size=size,
                    ctime=1.0, dev=25, inode=9000 + n, owner="root", uid=0)


class Machine:
    """What ``take`` finds: ``objects`` can be edited between polls; sorted by kind as take
    returns them (LiveTake hands on whole runs of one kind)."""

    def __init__(self, objects: list[IpcObject]) -> None:
        self.objects = objects

    def take(self, *_args: object, **_kw: object) -> Snapshot:
        objects = sorted(self.objects, key=lambda o: RANK[o.kind])
        return Snapshot(taken_at=1.0, hostname="h", objects=tuple(objects))

    def set(self, obj: IpcObject) -> None:
        self.objects = [obj if (o.kind, o.id) == (obj.kind, obj.id) else o
                        for o in self.objects]

    def drop(self, kind: Kind, ident: str) -> None:
        self.objects = [o for o in self.objects if (o.kind, o.id) != (kind, ident)]


def check(app: IpcTopApp, machine: Machine) -> None:
    """Every view's tab count, and the All view's rows, are those of the machine's objects."""
    live = {row_key(o.kind, o.id): o for o in machine.objects}
    for view in app.views:
        assert app.index.count(view.id) == sum(1 for o in live.values() if view.match(o)), \
            view.id
    table = app.table
    shown = {key for key in table.row_keys_in_order() if table.states.get(key) != GONE}
    assert shown == set(live)
    for key, obj in live.items():
        assert table.objects[key] == obj  # the row shows the object as it is now


@sync
async def test_a_poll_looks_only_at_the_changed_kinds_and_the_table_stays_right() -> None:
    machine = Machine([*(seg(i) for i in range(1, 31)), *(psm(i) for i in range(1, 21))])
    with mock.patch("ipctop.snapshot.take", machine.take):
        collector = LiveTake()
        app = IpcTopApp(collector, clock=FakeClock(), watch=False, previewer=fake_preview,
                        interval=3600.0)
        async with running(app, size=(160, 48)) as pilot:
            check(app, machine)
            assert app.table.select_key("sysv_shm:7")
            segs = app.live._kinds[Kind.SYSV_SHM]

            # Only /dev/shm files change: one grows, one goes, one comes.
            machine.set(psm(3, size=8192))
            machine.drop(Kind.POSIX_SHM, "/psm5")
            machine.objects.append(psm(99))
            await poll(pilot)
            assert collector.changed == {Kind.POSIX_SHM}
            assert app.live._kinds[Kind.SYSV_SHM] is segs  # not looked at
            assert app.live.touched == {"posix_shm:/psm3", "posix_shm:/psm5",
                                        "posix_shm:/psm99"}
            check(app, machine)
            assert app.table.states["posix_shm:/psm5"] == GONE  # fading for one poll
            assert app.table.states["posix_shm:/psm99"] == "new"
            assert any("8.0K" in str(cell) for cell in app.table.get_row("posix_shm:/psm3"))
            assert app.table.current_key == "sysv_shm:7"

            # Nothing changes: no kind is looked at; the marks of the last poll go.
            psms = app.live._kinds[Kind.POSIX_SHM]
            await poll(pilot)
            assert collector.changed == frozenset()
            assert app.live._kinds[Kind.POSIX_SHM] is psms
            assert "posix_shm:/psm5" not in app.table.objects
            assert app.table.states["posix_shm:/psm99"] == ""
            check(app, machine)

            # Now only the segments change, the selected one among them, and one goes.
            machine.set(seg(7, size=1 << 20))
            machine.drop(Kind.SYSV_SHM, "30")
            await poll(pilot)
            assert collector.changed == {Kind.SYSV_SHM}
            assert app.live._kinds[Kind.POSIX_SHM] is psms
            check(app, machine)
            assert app.table.current_key == "sysv_shm:7"
            assert any("1.0M" in str(cell) for cell in app.table.get_row("sysv_shm:7"))
            assert app.selected_object == seg(7, size=1 << 20)

            # A kind vanishes whole.
            for n in [o.id for o in machine.objects if o.kind is Kind.POSIX_SHM]:
                machine.drop(Kind.POSIX_SHM, n)
            await poll(pilot, 2)
            check(app, machine)
            assert app.table.current_key == "sysv_shm:7"


def test_a_result_that_does_not_follow_the_one_shown_is_looked_at_whole() -> None:
    """``changed`` is relative to the collector's previous call: when that call's snapshot
    never reached the screen, every kind is looked at. Also: a collector that breaks its word
    (a kind's count moved while not in ``changed``) is caught by LiveState."""
    one, two = seg(1), seg(2)
    live = LiveState()
    live.update(Snapshot(taken_at=1.0, hostname="h", objects=(one,)))
    # The count moved but the collector says nothing changed: keyed again all the same.
    live.update(Snapshot(taken_at=1.0, hostname="h", objects=(one, two)), frozenset())
    assert set(live.objects) == {"sysv_shm:1", "sysv_shm:2"} and live.fresh == {"sysv_shm:2"}
    polled = Polled(Snapshot(taken_at=1.0, hostname="h", objects=(one,)), frozenset(), 7)
    assert polled.take()[1] == frozenset()
    assert polled.take() == (None, None)  # handed over once


def test_an_edited_object_of_a_changed_kind_is_seen() -> None:
    """Same count, same place: only ``changed`` tells the edit apart, and it is seen."""
    a = seg(1)
    b = dataclasses.replace(a, size=8192)
    live = LiveState()
    live.update(Snapshot(taken_at=1.0, hostname="h", objects=(a,)))
    live.update(Snapshot(taken_at=1.0, hostname="h", objects=(b,)), frozenset({Kind.SYSV_SHM}))
    assert live.objects["sysv_shm:1"] is b and live.touched == {"sysv_shm:1"}
