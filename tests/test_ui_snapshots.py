"""Snapshot tests of the TUI's main views at fixed sizes, with the fake collector and clock.

Regenerate after an intended change with ``pytest tests/test_ui_snapshots.py --snapshot-update``
and look at the SVGs in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from fakes import FakeClock, FakeCollector
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from ipctop.preview import Preview
from ipctop.ui.app import IpcTopApp

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Clock text in the header and the events log is local time: pin it to UTC."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def make_app() -> IpcTopApp:
    return IpcTopApp(FakeCollector(), clock=FakeClock(), watch=False, interval=3600,
                     previewer=lambda obj: Preview(bytes(range(48)) + b"ipctop!", "fake"))


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def steps(*keys: str, polls: int = 0, select: str | None = None
          ) -> Callable[[Pilot[int]], Awaitable[None]]:
    async def run_before(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, IpcTopApp)
        await settle(pilot)
        for _ in range(polls):
            app.request_poll()
            await settle(pilot)
        if select is not None:
            assert app.table.select_key(select)
            await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_main_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps())


def test_main_160x48_with_detail(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48),
                        run_before=steps(polls=3, select="sysv_msg:0"))


def test_sysv_shm_view_sorted_by_size_reversed(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48),
                        run_before=steps("2", "o", "o", "o", "o", "O", select=None))


def test_detail_screen_semaphores_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24),
                        run_before=steps("enter", select="sysv_sem:1"))


def test_detail_screen_shm_preview_160x48(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48),
                        run_before=steps("enter", select="sysv_shm:32768"))


def test_process_pivot_160x48(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48),
                        run_before=steps("enter", "down", "enter", select="posix_mq:/jobs"))


def test_events_log_160x48(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps("l", polls=3))


def test_filter_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24),
                        run_before=steps("slash", *"alice"))


def test_help_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps("question_mark"))
