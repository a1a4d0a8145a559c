"""The TUI never waits on I/O another user controls: a FIFO planted in /dev/shm (by nobody) is
previewed off the UI thread, the pane says it cannot be read at once, and keys still work."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

import pytest
from fakes import T0, FakeClock, FakeCollector
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerFailed

from ipctop.kinds import PosixShm
from ipctop.preview import Preview
from ipctop.ui.app import IpcTopApp
from ipctop.ui.preview_loader import PreviewLoader
from ipctop.ui.widgets.object_table import row_key_of
from tests.attacker import become_attacker
from tests.conftest import Cleanup, run_and_exit, unique_name

BOUND = 10.0
"""Seconds the whole scenario may take; the old TUI blocked in open() until unblocked at 15 s."""


def plant_fifo(cleanup: Cleanup) -> str:
    path = f"/dev/shm/{unique_name()}"

    def make() -> None:
        if os.geteuid() == 0:
            become_attacker()
        os.mkfifo(path, 0o666)

    run_and_exit(make)
    cleanup(lambda: os.unlink(path))
    return path


def unblock(path: str) -> None:
    """Give the FIFO a writer, so a reader stuck in open() returns (and then reads EOF)."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def test_preview_of_a_fifo_in_dev_shm_never_blocks_the_ui(cleanup: Cleanup) -> None:
    path = plant_fifo(cleanup)
    # the old TUI's open() would block the UI thread for good: unblock it late, to fail, not hang
    late = threading.Timer(15, unblock, args=(path,))
    late.start()
    cleanup(lambda: unblock(path))
    cleanup(late.cancel)
    name = path.removeprefix("/dev/shm")
    fake = FakeCollector(auto=False)
    fake.add(PosixShm(id=name, name=name, path=path, mode="0666", size=0, ctime=T0,
                      owner="nobody", uid=65534, dev=25, inode=99))

    async def body() -> None:
        app = IpcTopApp(fake, clock=FakeClock(), watch=False, interval=3600.0)  # real preview
        t0 = time.monotonic()
        async with app.run_test(size=(200, 50)) as pilot:
            await settle(pilot)
            assert app.table.select_key(row_key_of(fake.get(PosixShm.kind, name)))
            hexpane = app.query_one("#detail-hex", Static)
            while "cannot read" not in str(hexpane.render()):
                assert time.monotonic() - t0 < BOUND, str(hexpane.render())
                await asyncio.sleep(0.1)
            paused = app.paused
            await pilot.press("p")  # keys still work
            assert app.paused is not paused
        assert time.monotonic() - t0 < BOUND

    asyncio.run(body())


def test_loader_reads_one_at_a_time_newest_wins_and_reports_a_stuck_read() -> None:
    gate = threading.Event()
    got: list[tuple[object, Preview]] = []
    done = threading.Event()

    def previewer(obj: object) -> Preview:
        if obj == "stuck":
            gate.wait(10)
        return Preview(b"x", str(obj))

    def deliver(key: object, p: Preview) -> None:
        got.append((key, p))
        if key == "c":
            done.set()

    loader = PreviewLoader(previewer, deliver, slow=0.05, quick=0.01)  # type: ignore[arg-type]
    assert loader.want("stuck", "stuck") is None  # type: ignore[arg-type]
    assert loader.want("b", "b") is None  # type: ignore[arg-type]  # waits, then dropped
    assert loader.want("c", "c") is None  # type: ignore[arg-type]  # the newest wins
    time.sleep(0.1)
    waited = loader.stuck("stuck")
    assert waited is not None and waited >= 0.05
    assert loader.stuck("c") is None
    gate.set()
    assert done.wait(5)
    assert [k for k, _ in got] == ["stuck", "c"]
    quick = loader.want("d", "d")  # type: ignore[arg-type]
    assert quick == Preview(b"x", "d")


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> object:
    yield
    for t in threading.enumerate():
        if t.name == "ipctop-preview":
            t.join(5)
