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


def test_new_kinds_tcp_udp_view_160x48(snap_compare: SnapCompare) -> None:
    """The TCP/UDP view (a listener and both ends of a loopback connection, peers shown) with
    the detail of one end; the other new kinds are in the fake snapshot too (tab counts)."""
    from fakes import T0

    from ipctop.kinds import AnonShm, Eventfd, InetSocket, Memfd
    from ipctop.model import Kind, User

    fake = FakeCollector()
    pg = User(300, "postgres", 5, None, "fd")
    fake.add(InetSocket(id="9001", proto="tcp", family="ipv4", state="listen",
                        local="127.0.0.1:5432", bytes=0, send_bytes=244, users=(pg,)))
    fake.add(InetSocket(id="9002", proto="tcp", family="ipv4", state="established",
                        local="127.0.0.1:5432", remote="127.0.0.1:40112", peer=9003, bytes=0,
                        send_bytes=0, users=(User(301, "postgres", 9, None, "fd"),)))
    fake.add(InetSocket(id="9003", proto="tcp", family="ipv4", state="established",
                        local="127.0.0.1:40112", remote="127.0.0.1:5432", peer=9002, bytes=512,
                        send_bytes=0, users=(User(100, "python3", 4, None, "fd"),)))
    fake.add(InetSocket(id="9004", proto="udp", family="ipv6", state="connected",
                        local="[::1]:5353", remote="[::1]:41000", peer=None, bytes=768,
                        send_bytes=0, users=(User(101, "worker", 6, None, "fd"),)))
    fake.add(AnonShm(id="911", inode=911, dev=1, size=145727488, rss=8462336, swap=0,
                     rss_pid=300, ctime=T0, users=(User(300, "postgres", None, "rw", "map"),
                                                   User(301, "postgres", None, "rw", "map"))))
    fake.add(Memfd(id="4242", inode=4242, name="shared-memory-region", size=65536,
                   seals=("shrink", "grow"), users=(User(100, "python3", 3, "rw", "fd"),)))
    fake.add(Eventfd(id="7", count=3, semaphore=False,
                     users=(User(100, "python3", 8, "rw", "fd"), User(101, "worker", 8, "rw",
                                                                        "fd"))))
    app = IpcTopApp(fake, clock=FakeClock(), watch=False, interval=3600,
                    previewer=lambda obj: Preview(None, ""))

    async def run_before(pilot: Pilot[int]) -> None:
        await settle(pilot)
        assert isinstance(pilot.app, IpcTopApp)
        names = [v.kind for v in pilot.app.views]
        pilot.app.action_view(names.index(Kind.INET_SOCKET))
        await settle(pilot)
        assert pilot.app.table.select_key("inet_socket:9003")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
