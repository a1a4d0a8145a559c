"""The attach view's htop-like moves: g goes to an offset, / finds text or hex bytes, n the next
match; on a real POSIX segment larger than the window."""

from __future__ import annotations

import asyncio
from typing import Any

from test_ui_actions import Mine, mine, notes, press_for, running, select, settle
from textual.worker import Worker, WorkerState

from ipctop import actions
from ipctop.hexdump import WIDTH
from ipctop.model import Kind
from ipctop.ui.screens.attach import AttachScreen

__all__ = ["mine"]  # the fixture


def test_goto_find_and_find_next(mine: Mine) -> None:
    asyncio.run(_seek(mine))


async def _seek(mine: Mine) -> None:
    size = 256 << 10
    shm = mine.make(Kind.POSIX_SHM, size=size)
    actions.write_shm(Kind.POSIX_SHM, shm, b"needle", 0x10005)
    actions.write_shm(Kind.POSIX_SHM, shm, b"needle", 0x30007)
    actions.write_shm(Kind.POSIX_SHM, shm, b"\xde\xad\xbe\xef", 0x20000)
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.POSIX_SHM, shm)
        view = await press_for(pilot, "a", AttachScreen)
        assert view.start == 0
        await pilot.press("g", *"0x2000", "enter")
        await settle(pilot)
        assert view.start == 0x2000
        await pilot.press("g", *"0x2003", "enter")
        await settle(pilot)
        assert view.start == 0x2000  # the line that holds it
        await pilot.press("slash", *"needle", "enter")
        await settle(pilot)
        assert view.found == 0x10005 and view.start == 0x10005 // WIDTH * WIDTH
        assert b"needle" in view.data
        await pilot.press("n")
        await settle(pilot)
        assert view.found == 0x30007
        await pilot.press("n")
        await settle(pilot)
        assert any("not found" in text for _sev, text in notes(pilot))
        await pilot.press("g", "0", "enter", "slash", *"hex:de ad be ef", "enter")
        await settle(pilot)
        assert view.found == 0x20000
        await pilot.press("g", *"999999999", "enter")
        await settle(pilot)
        assert any("outside the segment" in text for _sev, text in notes(pilot))
        await pilot.press("slash", "escape")  # Esc closes the line, not the view
        await settle(pilot)
        assert pilot.app.screen is view and not view.seeking


def test_a_read_done_before_its_running_message_is_applied_once(mine: Mine) -> None:
    asyncio.run(_late_messages(mine))


async def _late_messages(mine: Mine) -> None:
    """Under load, the UI may handle a read's RUNNING message only once the read is over. Taken
    for the end of the read, it let a new read start, and the old read's SUCCESS, handled next,
    drew the old window over the one the view had moved to (as a find moves it), and went back
    there. Here the old read's messages come after a move and a new read."""
    shm = mine.make(Kind.POSIX_SHM, size=256 << 10)
    async with running(mine.collect) as pilot:
        await select(pilot, Kind.POSIX_SHM, shm)
        view = await press_for(pilot, "a", AttachScreen)
        await settle(pilot)
        reads: list[Worker[Any]] = []
        run = view.run_worker
        view.run_worker = lambda *a, **k: reads.append(run(*a, **k)) or reads[-1]  # type: ignore
        view.refresh_view()  # a read of 0..
        await settle(pilot)
        assert reads and reads[0].state == WorkerState.SUCCESS and view.start == 0
        view._move(0x10000)
        await settle(pilot)
        assert view.start == 0x10000
        for state in (WorkerState.RUNNING, WorkerState.SUCCESS):  # the old read's, late
            view.post_message(Worker.StateChanged(reads[0], state))
        await settle(pilot)
        assert view.start == 0x10000 and view.error is None
