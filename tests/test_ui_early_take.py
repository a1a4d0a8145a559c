"""The first snapshot is taken in a thread from the moment the TUI starts (before Textual is
imported); the app's first poll waits for it instead of calling the collector again."""

from __future__ import annotations

import threading

import pytest
from fakes import FakeClock, FakeCollector
from test_ui_app import fake_preview, poll, running, status_text, sync

from ipctop.model import Snapshot
from ipctop.ui.app import IpcTopApp
from ipctop.ui.early_take import EarlyTake


def app_with(early: EarlyTake) -> IpcTopApp:
    return IpcTopApp(clock=FakeClock(), watch=False, previewer=fake_preview, interval=3600.0,
                     early_take=early)


@sync
async def test_the_first_poll_shows_the_early_snapshot_and_later_ones_call_the_collector(
) -> None:
    fake = FakeCollector()
    release = threading.Event()
    taken: list[Snapshot] = []

    def slow() -> Snapshot:
        release.wait(30)  # still taking while the app starts
        snap = fake()
        taken.append(snap)
        return snap

    app = app_with(EarlyTake(lambda: slow))
    assert app.collector is slow
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert app.polls == 0 and not taken  # the first poll waits for the early take
        release.set()
        while app.polls == 0:
            await pilot.pause(0.02)
        assert fake.calls == 1 and app.snapshot is taken[0]
        assert app.table.row_count > 0
        await poll(pilot)
        assert fake.calls == 2 and app.snapshot is taken[1]


@sync
async def test_a_failed_early_take_is_a_failed_poll_and_the_next_poll_retries() -> None:
    fake = FakeCollector()
    calls = [0]

    def collector() -> Snapshot:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("cold /proc refused")
        return fake()

    app = app_with(EarlyTake(lambda: collector))
    async with running(app) as pilot:
        assert app.polls == 0 and app.snapshot is None
        await poll(pilot)
        assert app.polls == 1 and calls[0] == 2
        assert "objects" in status_text(app)


def test_an_error_making_the_collector_is_raised_where_it_is_asked_for() -> None:
    def make() -> None:
        raise ImportError("no collector")

    early = EarlyTake(make)  # type: ignore[arg-type]
    with pytest.raises(ImportError):
        early.collector()
    with pytest.raises(ImportError):
        early.wait()
