"""GcPace: what is alive after a poll is frozen out of the cyclic collector's walks, and a cycle
that died frozen is freed at the next thaw (memory stays bounded)."""

from __future__ import annotations

import contextlib
import gc
import time
import weakref
from collections.abc import Iterator

import pytest
from test_ui_app import make_app, settle, sync

import ipctop.ui.gc_pace as gc_pace
from ipctop.model import Snapshot
from ipctop.ui.gc_pace import GcPace


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic collector off, as the console script starts the TUI; everything as it was
    afterwards (the app under test freezes what is alive: thawed again here)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        else:
            gc.disable()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_a_cycle_frozen_alive_is_freed_at_the_next_thaw_only() -> None:
    now = [100.0]
    pace = GcPace(thaw_every=60.0, first_thaw=5.0, clock=lambda: now[0])
    with collector_off():  # no automatic collection between the steps below
        startup = Node()  # garbage made before the first poll is on screen
        startup_ref = weakref.ref(startup)
        del startup
        node = Node()
        ref = weakref.ref(node)
        pace.after_poll()  # the first poll: all frozen, the collector on
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
        gc.disable()
        gc.collect()
        assert startup_ref() is not None  # frozen: not before the first full collection
        now[0] += 4.0
        pace.after_poll()
        gc.disable()
        assert startup_ref() is not None and pace.thaws == 0
        now[0] += 1.0
        pace.after_poll()  # first_thaw after the first poll: thaw, full collection, freeze
        gc.disable()
        assert startup_ref() is None and pace.thaws == 1 and pace.freed >= 1
        del node  # now garbage, but frozen
        gc.collect()
        assert ref() is not None  # collections do not walk frozen objects
        now[0] += 59.0
        pace.after_poll()
        gc.disable()
        gc.collect()
        assert ref() is not None and pace.thaws == 1
        now[0] += 1.0
        pace.after_poll()  # thaw, full collection, freeze again
        assert ref() is None and pace.thaws == 2
        assert gc.get_freeze_count() > 0


def test_the_collector_is_turned_on_at_the_latest_by_start() -> None:
    with collector_off():
        GcPace.start()
        assert gc.isenabled()


class Failing:
    """A collector whose every poll fails."""

    def __call__(self) -> Snapshot:
        raise OSError("no /proc")


@sync
async def test_the_app_turns_the_collector_on_once_the_first_snapshot_is_drawn() -> None:
    with collector_off():
        app = make_app(freeze_gc=True)
        async with app.run_test(size=(80, 24)) as pilot:
            while app.polls < 1:
                assert gc.isenabled() is False  # off while the first poll is made
                await pilot.pause(0.01)
            await settle(pilot)
            assert app.table.row_count > 0
            assert gc.isenabled() and gc.get_freeze_count() > 0


@sync
async def test_the_collector_is_turned_on_even_if_no_poll_succeeds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_pace, "START_AT_THE_LATEST", 0.3)
    with collector_off():
        app = make_app(Failing(), freeze_gc=True)  # type: ignore[arg-type]
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.polls == 0
            deadline = time.monotonic() + 5
            while not gc.isenabled() and time.monotonic() < deadline:
                await pilot.pause(0.05)
            assert gc.isenabled() and app.polls == 0
