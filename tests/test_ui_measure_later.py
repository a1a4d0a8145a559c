"""A table built with thousands of rows at once works out the texts of the rows on screen only;
the others are measured a slice at a time after the screen is drawn, and the columns then widen
to what every row needs, exactly as if all had been measured at once."""

from __future__ import annotations

import dataclasses

import pytest
from test_ui_app import make_app, poll, running, sync
from test_ui_big_table import BigCollector, check_table
from textual.pilot import Pilot

import ipctop.ui.widgets.object_table as object_table
from ipctop.kinds import PosixShm
from ipctop.ui.app import IpcTopApp
from ipctop.ui.widgets.object_table import row_key_of

LONG = "/" + "far-down-the-list-" * 2  # wider than any other name, on the last row


def collector() -> BigCollector:
    fake = BigCollector()
    last = PosixShm(id=LONG, name=LONG, path=f"/dev/shm{LONG}", mode="0600", size=1,
                    ctime=1.0, dev=25, inode=99, owner="alice", uid=1000)
    fake.objects[row_key_of(last)] = last
    return fake


async def measured(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, IpcTopApp)
    for _ in range(200):
        if not app.table._unmeasured:
            return
        await pilot.pause(0.02)
    raise AssertionError("rows still not measured")


async def widths_of(size: tuple[int, int]) -> tuple[dict[str, int], dict[str, int]]:
    """The columns' widths in the All view and in the POSIX shm view, sorted by size."""
    fake = collector()
    app = make_app(fake)  # type: ignore[arg-type]
    async with running(app, size=size) as pilot:
        app.set_sort("size")
        await measured(pilot)
        check_table(app, fake.objects, set(), {})
        everything = dict(app.table.widths)
        app.action_view(4)
        await pilot.pause()
        await measured(pilot)
        return everything, dict(app.table.widths)


def held_app(monkeypatch: pytest.MonkeyPatch) -> tuple[BigCollector, IpcTopApp]:
    """An app over ``collector()`` that measures no slices in the background: the rows left
    unmeasured stay so."""
    monkeypatch.setattr(object_table.ObjectTable, "_measure_some", lambda self: None)
    fake = collector()
    return fake, make_app(fake)  # type: ignore[arg-type]


@sync
async def test_the_rows_on_screen_are_measured_first_and_the_rest_soon_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, app = held_app(monkeypatch)
    async with running(app, size=(160, 30)) as pilot:
        table = app.table
        app.set_sort("size")
        order = table.row_keys_in_order()
        assert order[-1] == row_key_of(fake.objects[next(reversed(fake.objects))])
        assert table.row_count == len(fake.objects) > object_table.MEASURE_LATER_FROM
        # The rows on screen had their texts before the first draw; nearly all others wait.
        on_screen = order[:table.size.height]
        assert not set(on_screen) & set(table._unmeasured)
        assert len(table._unmeasured) >= len(order) - 2 * table.size.height  # before, after sort
        assert table._natural["ident"] < len(LONG)  # the long name is not measured yet
        monkeypatch.undo()
        table._measure_some()  # the first slice; it asks for the next, and so on
        await measured(pilot)
        assert table._natural["ident"] == len(LONG)
        assert table.widths["ident"] == min(len(LONG), 36)  # widened: the name's Fit max


@sync
async def test_widths_after_measuring_later_are_those_of_measuring_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for size in ((160, 40), (80, 24)):
        later = await widths_of(size)
        with monkeypatch.context() as m:
            m.setattr(object_table, "MEASURE_LATER_FROM", 10**9)
            at_once = await widths_of(size)
        assert later == at_once, size


@sync
async def test_a_row_changed_or_removed_before_it_was_measured_shows_the_object_now(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, app = held_app(monkeypatch)
    async with running(app, size=(160, 40)) as pilot:
        table = app.table
        waiting = list(table._unmeasured)
        assert len(waiting) > 1000
        changed, removed = waiting[:500], waiting[500:1000]
        for key in changed:
            fake.objects[key] = dataclasses.replace(fake.objects[key], owner="zed")
        for key in removed:
            del fake.objects[key]
        await poll(pilot, 2)  # one poll fades the removed rows, the next removes them
        for key in changed:
            cells = dict(zip((str(c.value) for c in table.columns),
                             (str(c) for c in table.get_row(key)), strict=True))
            assert cells["owner"] == "zed"
        assert not set(removed) & set(table._unmeasured)
        assert not set(removed) & set(table.rows)
