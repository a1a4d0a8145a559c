"""The TUI with the real collector (ipctop.snapshot.take) and real inotify, on objects this test
creates under unique names; it asserts only about them and removes them also on failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sysv_ipc
from conftest import unique_key, unique_name
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from ipctop.events import Event
from ipctop.kinds import PosixShm, SysvMsg
from ipctop.model import Kind
from ipctop.ui.app import IpcTopApp
from ipctop.ui.widgets.detail_pane import DetailPane

pytestmark = pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs /dev/shm")


@pytest.fixture
def posix_shm() -> Iterator[str]:
    name = unique_name()
    path = f"/dev/shm/{name}"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        os.write(fd, b"ipctop real preview\x00\x01")
        os.close(fd)
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@pytest.fixture
def sysv_queue() -> Iterator[sysv_ipc.MessageQueue]:
    queue = sysv_ipc.MessageQueue(unique_key(), sysv_ipc.IPC_CREX, mode=0o600)
    try:
        yield queue
    finally:
        with contextlib.suppress(sysv_ipc.ExistentialError):
            queue.remove()


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot: Pilot[int], check: object, rounds: int = 200) -> bool:
    """Let the app run until ``check()`` holds (a bounded wait for inotify, not a timing test)."""
    for _ in range(rounds):
        if check():  # type: ignore[operator]
            return True
        await pilot.pause(0.05)
        await settle(pilot)
    return bool(check())  # type: ignore[operator]


def test_real_session(posix_shm: str, sysv_queue: sysv_ipc.MessageQueue) -> None:
    shm_key = f"posix_shm:/{posix_shm}"
    msg_key = f"sysv_msg:{sysv_queue.id}"

    async def scenario() -> None:
        app = IpcTopApp(interval=3600)  # the real collector, real inotify
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            assert app.snapshot is not None, "the first real poll failed"
            assert shm_key in app.table.rows and msg_key in app.table.rows
            assert app.watcher is not None and Path("/dev/shm") in app.watcher.watching

            # the detail pane: a read-only hex preview of the POSIX segment
            app.table.select_key(shm_key)
            await pilot.pause()
            pane = app.query_one("#detail", DetailPane)
            assert isinstance(pane.object, PosixShm)
            assert "69 70 63 74 6f 70" in str(pane.query_one("#detail-hex").content)

            # a SysV change arrives with the next poll, as an event with the field
            sysv_queue.send(b"hello", type=3)
            app.request_poll()
            await settle(pilot)
            obj = app.table.objects[msg_key]
            assert isinstance(obj, SysvMsg) and obj.messages == 1
            assert any(e.kind is Kind.SYSV_MSG and e.id == str(sysv_queue.id)
                       and "messages" in e.fields for e in app.event_log.events)

            # removing the POSIX segment is reported by inotify without waiting for the timer
            # (or, while other processes flood /dev/shm, inside one "(burst)" line)
            unlinked_at = time.time()
            os.unlink(f"/dev/shm/{posix_shm}")

            def told(e: Event) -> bool:
                if e.source != "inotify":
                    return False
                if e.name == "(burst)":
                    return e.at >= unlinked_at
                return e.id == f"/{posix_shm}" and e.action == "removed"

            assert await until(pilot, lambda: any(told(e) for e in app.event_log.events))
            assert await until(pilot, lambda: app.table.states.get(shm_key) in (None, "gone"))

    asyncio.run(scenario())
