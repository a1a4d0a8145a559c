"""The TUI's inotify path under a flood: bounded buffer, one wake-up per burst, a bounded events
log whose trimming costs O(1) rows per event (amortized), and one poll per burst."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from fakes import T0, FakeClock, FakeCollector
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from ipctop.events import CREATED, Event
from ipctop.model import Kind
from ipctop.preview import Preview
from ipctop.ui.app import IpcTopApp
from ipctop.ui.live_state import LiveState
from ipctop.ui.watch_feed import WatchFeed
from ipctop.ui.widgets.event_log import EventLog
from ipctop.watch import MISSED, WatchEvent


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def shm_event(i: int, action: str = CREATED) -> WatchEvent:
    return WatchEvent(f"/dev/shm/f{i}", action, Kind.POSIX_SHM, f"/f{i}", T0 + i)


def test_feed_keeps_a_bounded_buffer_and_wakes_once_per_drain() -> None:
    feed = WatchFeed(limit=50)
    wakes = [feed.push(shm_event(i)) for i in range(1000)]
    assert wakes.count(True) == 1 and wakes[0]
    feed.push(WatchEvent("/dev/shm", MISSED, None, None, T0, count=7))
    live = LiveState()
    logged = feed.drain(live)
    assert len(logged) == 51
    assert [e.id for e in logged[:50]] == [f"/f{i}" for i in range(50)]
    assert "957 more" in logged[-1].detail  # 950 over the limit + 7 the watcher counted
    assert len(live.announced) == 50
    assert feed.push(shm_event(1)) is True  # drained: the next one wakes the UI again
    feed.drain(live)
    feed.push(WatchEvent("/dev/shm", MISSED, None, None, T0, count=0))
    assert "many more" in feed.drain(live)[-1].detail  # the kernel's queue overflowed


def count_log_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the rows the events log builds (rebuilds included): [count], kept up to date."""
    built = [0]
    real_add_row = EventLog.add_row

    def counting_add_row(self: EventLog, *cells: Any, **kw: Any) -> Any:
        built[0] += 1
        return real_add_row(self, *cells, **kw)

    monkeypatch.setattr(EventLog, "add_row", counting_add_row)
    return built


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EventLog(limit=100, id="log")


def test_events_log_is_bounded_and_trims_in_amortized_constant_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_log_rows(monkeypatch)

    def no_remove_row(self: EventLog, key: Any) -> None:
        raise AssertionError("remove_row re-indexes every row: O(rows) per event")

    monkeypatch.setattr(EventLog, "remove_row", no_remove_row)

    async def body() -> None:
        app = LogApp()
        async with app.run_test(size=(100, 20)) as pilot:
            log = app.query_one(EventLog)
            total = 0
            for chunk in range(100):
                log.add_events(Event(T0 + i, CREATED, Kind.PIPE, str(i))
                               for i in range(chunk * 30, chunk * 30 + 30))
                total += 30
                assert log.limit <= len(log.events) <= log.limit + log.slack or total < 150
                assert log.row_count == len(log.events)
            await pilot.pause()
            assert log.events[-1].id == str(total - 1)
            assert log.cursor_row == log.row_count - 1  # still following the end
            # every row the log ever built, rebuilds included: at most 3 per event
            assert built[0] <= 3 * total
            # a row's key still names its event after the rebuilds
            last = log.get_row_at(log.row_count - 1)
            assert str(last[4]) == f"{Kind.PIPE.label} {total - 1}"

    run(body)


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def test_a_flood_from_the_watcher_thread_is_one_burst_and_one_poll() -> None:
    handled = 0

    async def body() -> None:
        nonlocal handled
        fake = FakeCollector(auto=False)
        app = IpcTopApp(fake, clock=FakeClock(), watch=False, interval=3600.0,
                        previewer=lambda obj: Preview(None, ""))
        real = app.on_watch_burst

        def counting(message: Any) -> None:
            nonlocal handled
            handled += 1
            real(message)

        app.on_watch_burst = counting  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            polls = app.polls

            def flood() -> None:
                for i in range(5000):
                    app._on_watch_thread(shm_event(i))

            thread = threading.Thread(target=flood)
            thread.start()
            thread.join()
            for _ in range(30):  # the poll it asks for may wait for WATCH_POLL_GAP
                await settle(pilot)
                if app.polls > polls:
                    break
                await asyncio.sleep(0.1)
            log = app.event_log.events
            assert handled <= 3
            assert len(log) <= 502  # the feed's limit, and one line for the rest
            assert log[-1].name == "(burst)" and "more" in log[-1].detail
            assert app.polls - polls in (1, 2)

    run(body)


def test_a_poll_of_thousands_of_events_builds_only_the_rows_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 changes in one poll: the log keeps the newest ``limit`` and builds only those."""
    built = count_log_rows(monkeypatch)

    async def body() -> None:
        app = LogApp()
        async with app.run_test(size=(100, 20)):
            log = app.query_one(EventLog)
            log.add_events(Event(T0, CREATED, Kind.PIPE, "first") for _ in range(1))
            log.add_events(Event(T0 + i, CREATED, Kind.PIPE, str(i)) for i in range(10_000))
            newest = [str(i) for i in range(10_000 - log.limit, 10_000)]
            assert [ev.id for ev in log.events][-log.limit:] == newest
            assert log.row_count == len(log.events) <= log.limit + log.slack
            assert built[0] <= 1 + 2 * log.limit  # the batch's newest, then one rebuild at most
            assert str(log.get_row_at(log.row_count - 1)[4]) == f"{Kind.PIPE.label} 9999"

    run(body)
