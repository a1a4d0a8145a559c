"""Pilot tests of leak hunting in the TUI: the Leaks view, the reason in the detail pane, the
reclaimable total in the header, and the reclaim action's Yes/No box.

The reclaim tests run on real objects: the app's collector is the real ``take`` narrowed to this
test's own tagged objects, so the box can only list, and Yes can only remove, what the test made.
"""

from __future__ import annotations

import dataclasses

import pytest
from conftest import Spawn, Tag
from fakes import FakeCollector
from test_reclaim import exists, held_sysv_shm, leaked_posix_shm, leaked_sysv_shm
from test_ui_app import make_app, plain, running, settle, status_text, sync
from textual.widgets import Static

from ipctop.leaks import IGNORE_UNREADABLE_ENV, matches
from ipctop.model import Kind, Snapshot
from ipctop.reclaim import REMOVED
from ipctop.snapshot import take
from ipctop.ui.app import IpcTopApp
from ipctop.ui.leak_actions import LEAKS_VIEW
from ipctop.ui.screens.confirm import ConfirmScreen
from ipctop.ui.widgets.detail_pane import DetailPane


def leaks_index(app: IpcTopApp) -> int:
    return [v.id for v in app.views].index(LEAKS_VIEW.id)


@sync
async def test_leaks_view_lists_only_judged_objects_with_reason_and_total() -> None:
    app = make_app()
    async with running(app, size=(160, 40)) as pilot:
        assert "1 leak, 1.0M reclaimable" in status_text(app)
        app.action_view(leaks_index(app))
        await pilot.pause()
        assert app.current_view is LEAKS_VIEW
        assert sorted(app.table.rows) == ["sysv_shm:32769", "sysv_shm:32770"]
        assert [c.key for c in app.table.columns_spec][:3] == ["leak", "kind", "ident"]
        assert app.table.select_key("sysv_shm:32770")
        await pilot.pause()
        pane = app.query_one("#detail", DetailPane)
        leak_text = plain(pane.query_one("#detail-leak", Static))
        assert "LEAK: no process attached; creator 4242 is gone" in leak_text
        assert "reclaims 1.0M" in leak_text


@sync
async def test_reclaim_with_nothing_removable_says_so() -> None:
    fake = FakeCollector()
    fake.remove(Kind.SYSV_SHM, "32770")  # the only "leak"; the pending one is never removed
    app = make_app(fake)
    async with running(app) as pilot:
        await pilot.press("L")
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.last_reclaim is None


def tagged_app(tag: Tag) -> IpcTopApp:
    def collector() -> Snapshot:
        snap = take(kinds={Kind.SYSV_SHM, Kind.POSIX_SHM})
        return dataclasses.replace(
            snap, objects=tuple(o for o in snap.objects if matches(o, tag.text)))

    app = IpcTopApp(collector, interval=3600.0, watch=False)
    app.leak_ignore_unreadable = True
    return app


def test_reclaim_box_no_removes_nothing_yes_removes_only_leaks(
        tag: Tag, spawn: Spawn, monkeypatch: pytest.MonkeyPatch) -> None:
    # This machine's pid 1 is unreadable even to root: judge POSIX objects as if it used none.
    monkeypatch.setenv(IGNORE_UNREADABLE_ENV, "1")
    shmid = leaked_sysv_shm(tag)
    name = leaked_posix_shm(tag)
    used, _holder = held_sysv_shm(tag, spawn)

    @sync
    async def scenario() -> None:
        app = tagged_app(tag)
        async with running(app, size=(160, 40)) as pilot:
            app.action_view(leaks_index(app))
            await pilot.pause()
            assert sorted(app.table.rows) == sorted([f"sysv_shm:{shmid}", f"posix_shm:{name}"])

            await pilot.press("L")
            assert isinstance(app.screen, ConfirmScreen)
            body = "\n".join(app.screen.details)
            assert app.screen.question.startswith("Remove 2 leaked objects")
            assert name in body and shmid in body and used not in body
            await pilot.press("n")
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen)
            assert app.last_reclaim is None
            assert exists(Kind.SYSV_SHM, shmid) and exists(Kind.POSIX_SHM, name)

            await pilot.press("c")  # the other key for the same action
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot)
            await settle(pilot)
            outcomes = app.last_reclaim
            assert outcomes is not None
            assert {(o.kind, o.id, o.result) for o in outcomes} == {
                (Kind.SYSV_SHM, shmid, REMOVED), (Kind.POSIX_SHM, name, REMOVED)}
            # The reclaim asked for a poll: the header no longer counts anything reclaimable.
            assert "reclaimable" not in status_text(app)
            assert "1 objects" in status_text(app)  # the held segment is all that is left

    scenario()
    assert not exists(Kind.SYSV_SHM, shmid) and not exists(Kind.POSIX_SHM, name)
    assert exists(Kind.SYSV_SHM, used)
