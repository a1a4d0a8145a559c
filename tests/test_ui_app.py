"""Pilot tests of the live TUI with the fake collector: polling, keyed rows, views, filter, sort,
pause, interval, the detail pane, the process pivot, help, the events log, notices, inotify."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fakes import HOST, FakeClock, FakeCollector
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Sparkline, Static, Tab
from textual.worker import WorkerFailed

from ipctop.columns import columns_for
from ipctop.kinds import SysvSem, SysvShm
from ipctop.model import Kind, Snapshot
from ipctop.preview import Preview
from ipctop.ui import views as views_module
from ipctop.ui.app import IpcTopApp
from ipctop.ui.screens.detail import DetailScreen
from ipctop.ui.screens.help import HelpScreen
from ipctop.ui.screens.process import ProcessScreen
from ipctop.ui.views import View, register_view
from ipctop.ui.widgets.detail_pane import DetailPane
from ipctop.ui.widgets.notice_line import NoticeLine
from ipctop.ui.widgets.object_table import GONE, NEW
from ipctop.ui.widgets.status_bar import StatusBar
from ipctop.watch import WatchEvent


def sync(func: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test with asyncio.run (no async pytest plugin is installed)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(func(*args, **kwargs))

    return wrapper


def fake_preview(obj: object) -> Preview:
    return Preview(b"Hello, shm\x00\x01", "fake preview")


def make_app(fake: FakeCollector | None = None, **kwargs: object) -> IpcTopApp:
    kwargs.setdefault("interval", 3600.0)  # polls happen only when a test asks
    return IpcTopApp(fake or FakeCollector(), clock=FakeClock(), watch=False,
                     previewer=fake_preview, **kwargs)  # type: ignore[arg-type]


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(2):
        # A failed poll re-raises here; the app has already handled it.
        with contextlib.suppress(WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (Rich tables included)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()


async def poll(pilot: Pilot[int], times: int = 1) -> None:
    app = pilot.app
    assert isinstance(app, IpcTopApp)
    for _ in range(times):
        app.request_poll()
        await settle(pilot)


@asynccontextmanager
async def running(app: IpcTopApp, size: tuple[int, int] = (120, 40)) -> AsyncIterator[Pilot[int]]:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield pilot


def status_text(app: IpcTopApp) -> str:
    return plain(app.query_one(StatusBar))


@sync
async def test_first_poll_fills_table_tabs_and_header() -> None:
    app = make_app()
    async with running(app):
        assert app.snapshot is not None and app.polls == 1
        assert app.table.row_count == 14
        labels = [str(t.label) for t in app.query(Tab)]
        assert labels[0] == "1 All 14"
        assert "2 SysV shm 3" in labels and labels[-1].startswith("Events")
        assert HOST in status_text(app)
        meters = " ".join(plain(s) for s in app.query(".meter").results(Static))
        assert "/dev/shm" in meters and "88%" in meters  # 900M of 1G


@sync
async def test_rows_keyed_across_refresh_cursor_follows_object() -> None:
    fake = FakeCollector()
    app = make_app(fake)
    async with running(app) as pilot:
        table = app.table
        assert table.select_key("posix_mq:/jobs")
        before = table.cursor_row
        await poll(pilot, 2)  # POSIX shm "/fresh" appears, sorting before the POSIX mq rows
        assert table.current_key == "posix_mq:/jobs"
        assert table.cursor_row == before + 1
        obj = app.selected_object
        assert obj is not None and obj.kind is Kind.POSIX_MQ and obj.id == "/jobs"


@sync
async def test_only_changed_rows_are_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCollector()
    app = make_app(fake)
    async with running(app) as pilot:
        updated: list[str] = []
        added: list[str] = []
        real_replace, real_add = app.table.replace_rows, app.table.add_rows_keyed

        def spy_replace(rows: list[tuple[str, Any]]) -> None:
            updated.extend(key for key, _cells in rows)
            real_replace(rows)

        def spy_add(rows: list[tuple[str, Any]]) -> None:
            added.extend(key for key, _cells in rows)
            real_add(rows)

        monkeypatch.setattr(app.table, "replace_rows", spy_replace)
        monkeypatch.setattr(app.table, "add_rows_keyed", spy_add)
        monkeypatch.setattr(app.table, "add_row", None)  # rows come in bulk only
        await poll(pilot)  # only the two queues' depth changes
        assert added == []
        assert set(updated) <= {"sysv_msg:0", "posix_mq:/jobs"}
        await poll(pilot)  # "/fresh" is added; nothing else is rebuilt
        assert added == ["posix_shm:/fresh"]


@sync
async def test_new_rows_marked_then_removed_rows_fade() -> None:
    app = make_app()
    async with running(app) as pilot:
        await poll(pilot, 2)
        assert app.table.states["posix_shm:/fresh"] == NEW
        assert str(app.table.get_row("posix_shm:/fresh")[0]) == "+"
        await poll(pilot)
        assert app.table.states["posix_shm:/fresh"] == ""
        assert app.table.states["posix_shm:/psm_old"] == GONE
        assert str(app.table.get_row("posix_shm:/psm_old")[0]) == "-"
        assert app.table.select_key("posix_shm:/psm_old")
        assert app.selected_object is None  # a fading row is not actionable
        await poll(pilot)
        assert "posix_shm:/psm_old" not in app.table.rows


@sync
async def test_views_by_number_tab_and_registry() -> None:
    register_view(View("big", "Big", lambda o: (o.size or 0) >= 8 << 20, columns_for(None)))
    try:
        app = make_app()
        async with running(app) as pilot:
            await pilot.press("2")
            assert app.current_view is not None and app.current_view.id == "sysv-shm"
            assert app.table.row_count == 3
            assert {c.key for c in app.table.columns_spec} >= {"nattch", "cpid"}
            await pilot.press("tab")
            assert app.current_view is not None and app.current_view.id == "sysv-msg"
            await pilot.press("shift+tab", "shift+tab")
            assert app.current_view is not None and app.current_view.id == "all"
            big_tab = app.query_one("#view-big", Tab)
            assert str(big_tab.label) == "Big 3"  # 56M, 8M and 64M
            app.action_view(len(app.views) - 1)
            await pilot.pause()
            assert app.current_view is not None and app.current_view.id == "big"
            assert sorted(app.table.rows) == ["posix_shm:/psm_old", "posix_shm:/redis-cache",
                                              "sysv_shm:32768"]
            await pilot.press("l")
            assert app.current_view is None
            assert app.query_one("#switcher").current == "events"  # type: ignore[attr-defined]
    finally:
        views_module.EXTRA_VIEWS[:] = [v for v in views_module.EXTRA_VIEWS if v.id != "big"]


@sync
async def test_filter_as_you_type_and_escape_clears() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"redis")
        assert sorted(app.table.rows) == ["posix_shm:/redis-cache", "unix_socket:777001"]
        assert "filter: redis" in status_text(app)
        await pilot.press("enter")
        assert app.focused is app.table
        await poll(pilot)  # the filter survives a refresh
        assert app.table.row_count == 2
        await pilot.press("escape")
        assert app.table.row_count == 14
        assert not app.query_one("#filter", Input).display


@sync
async def test_filter_matches_users_and_cli_filter() -> None:
    app = make_app(filter_text="worker")
    async with running(app):
        keys = set(app.table.rows)
        # "worker" is a user (comm) of these, not a column value everywhere
        assert {"sysv_shm:32768", "posix_mq:/jobs", "pipe:555001",
                "fifo:/tmp/ipctop-fifo"} <= keys
        assert "posix_shm:/redis-cache" not in keys
        assert app.query_one("#filter", Input).display


@sync
async def test_sort_key_reverse_and_header_click() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("2")  # SysV shm: ID, KEY, OWNER, MODE, SIZE...
        assert app.table.row_keys_in_order() == ["sysv_shm:32768", "sysv_shm:32769",
                                                 "sysv_shm:32770"]
        await pilot.press("O")
        assert app.table.row_keys_in_order()[0] == "sysv_shm:32770"
        await pilot.press("o", "o")  # KEY, then OWNER
        assert app.table.sort_column == "owner"
        assert app.table.row_keys_in_order()[-1] == "sysv_shm:32768"  # postgres after alice
        # click the SIZE header: sort by size, largest first (as htop); click again: reversed
        table = app.table

        def size_x() -> int:  # the header moves as the arrow moves
            keys = [str(k.value) for k in table.columns]
            return sum(col.get_render_width(table)
                       for col in list(table.columns.values())[:keys.index("size")]) + 2

        await pilot.click(table, offset=(size_x(), 0))
        assert table.sort_column == "size" and table.sort_descending
        assert table.row_keys_in_order() == ["sysv_shm:32768", "sysv_shm:32770",
                                             "sysv_shm:32769"]
        await pilot.click(table, offset=(size_x(), 0))
        assert not table.sort_descending
        assert table.row_keys_in_order()[0] == "sysv_shm:32769"


@sync
async def test_pause_stops_polling_and_resume_polls() -> None:
    app = make_app(interval=0.05)
    async with running(app) as pilot:
        await pilot.press("p")
        assert app.paused
        await settle(pilot)
        polls = app.polls
        assert app._timer is None  # nothing scheduled while paused
        assert "PAUSED" in status_text(app)
        await pilot.press("space")
        assert not app.paused
        await settle(pilot)
        assert app.polls > polls


@sync
async def test_interval_keys() -> None:
    app = make_app(interval=2.0)
    async with running(app) as pilot:
        await pilot.press("plus")
        assert app.interval == 3.0
        await pilot.press("minus", "minus", "minus")
        assert app.interval == 0.5
        await pilot.press("minus")
        assert app.interval == 0.5
        assert "every 0.5s" in status_text(app)


@sync
async def test_polls_never_overlap() -> None:
    gate = threading.Event()
    active = 0
    max_active = 0
    fake = FakeCollector()

    def slow() -> Snapshot:
        nonlocal active, max_active
        active += 1
        max_active = max(max_active, active)
        gate.wait(5)
        active -= 1
        return fake()

    app = IpcTopApp(slow, clock=FakeClock(), watch=False, interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(5):
            app.request_poll()
        await pilot.pause()
        gate.set()
        await settle(pilot)
        await settle(pilot)
        assert max_active == 1
        assert fake.calls == 2  # the first, and one follow-up for all the requests


@sync
async def test_failed_poll_notifies_and_next_retries() -> None:
    fake = FakeCollector()
    app = make_app(fake)
    async with running(app) as pilot:
        fake.fail_next = OSError("proc vanished")
        await poll(pilot)
        assert app.polls == 1
        messages = [n.message for n in app._notifications]
        assert any("Poll failed" in m and "proc vanished" in m for m in messages)
        assert app._timer is not None  # the next poll is scheduled
        await poll(pilot)
        assert app.polls == 2


@sync
async def test_unreadable_and_notices_shown_once() -> None:
    fake = FakeCollector(unreadable=37, notices=("/dev/mqueue is not mounted",))
    app = make_app(fake)
    async with running(app) as pilot:
        await poll(pilot, 2)
        messages = app.query_one(NoticeLine).history
        assert sum("37 processes could not be read" in m for m in messages) == 1
        assert sum("Permission denied" in m for m in messages) == 1
        assert messages.count("/dev/mqueue is not mounted") == 1
        assert "37 unreadable" in status_text(app)


@sync
async def test_detail_pane_fields_sems_sparkline_preview() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        pane = app.query_one("#detail", DetailPane)
        assert pane.display
        app.table.select_key("sysv_sem:1")
        await pilot.pause()
        assert isinstance(pane.object, SysvSem)
        sems = plain(pane.query_one("#detail-sems", Static))
        assert pane.query_one("#detail-sems").display
        assert "5" in sems
        app.table.select_key("sysv_msg:0")
        await poll(pilot, 2)
        spark = pane.query_one("#detail-spark", Sparkline)
        assert spark.display and list(spark.data or []) == [3.0, 4.0, 5.0]
        app.table.select_key("sysv_shm:32768")
        await pilot.pause()
        hexview = plain(pane.query_one("#detail-hex", Static))
        assert "48 65 6c 6c 6f" in hexview and "|Hello, s|" in hexview
        fields = plain(pane.query_one("#detail-fields", Static))
        assert "nattch" in fields and "56M" in fields
        users = pane.query_one("#detail-users", DataTable)
        assert users.row_count == 2


@sync
async def test_narrow_terminal_hides_side_pane() -> None:
    app = make_app()
    async with running(app, size=(80, 24)):
        assert not app.query_one("#detail", DetailPane).display
        assert app.table.row_count == 14


@sync
async def test_enter_detail_then_process_pivot_and_back() -> None:
    app = make_app()
    async with running(app) as pilot:
        app.table.select_key("sysv_shm:32768")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert isinstance(app.screen.pane.object, SysvShm)
        await pilot.press("enter")  # first user: 300/postgres
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ProcessScreen) and screen.pid == 300
        held = screen.query_one("#proc-held", DataTable)
        assert set(held.rows) == {"sysv_shm:32768", "shared_mapping:/var/lib/pg/base.map"}
        await pilot.press("down", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, (ProcessScreen, DetailScreen))
        assert app.table.current_key == "shared_mapping:/var/lib/pg/base.map"


@sync
async def test_process_screen_shows_signals() -> None:
    app = make_app()
    async with running(app) as pilot:
        app.open_process(100)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ProcessScreen)
        signals = plain(screen.query_one("#proc-signals", Static))
        assert "SIGUSR1" in signals and "SIGTERM" in signals
        held = screen.query_one("#proc-held", DataTable)
        assert "posix_mq:/jobs" in held.rows and "sysv_shm:32769" in held.rows
        await pilot.press("escape")
        assert not isinstance(app.screen, ProcessScreen)


@sync
async def test_help_screen_lists_keys() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = plain(app.screen.query_one("#help-keys", Static))
        for word in ("Filter", "Sort", "Pause", "Quit", "Events log"):
            assert word in keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


@sync
async def test_events_log_records_changes_with_time() -> None:
    app = make_app()
    async with running(app) as pilot:
        await poll(pilot, 3)
        log = app.event_log
        seen = {(e.action, e.kind, e.id) for e in log.events}
        assert ("created", Kind.POSIX_SHM, "/fresh") in seen
        assert ("removed", Kind.POSIX_SHM, "/psm_old") in seen
        changed = [e for e in log.events if e.kind is Kind.SYSV_MSG]
        assert changed and "messages" in changed[0].fields
        assert log.row_count == len(log.events)
        assert str(app.query_one("#view-events", Tab).label) == f"Events {len(log.events)}"
        first = log.get_row_at(0)
        assert str(first[0]) == time.strftime("%H:%M:%S", time.localtime(log.events[0].at))


@sync
async def test_inotify_event_logged_at_once_and_not_twice() -> None:
    fake = FakeCollector(auto=False)
    app = make_app(fake)
    async with running(app) as pilot:
        from ipctop.kinds import PosixShm

        fake.add(PosixShm(id="/now", name="/now", path="/dev/shm/now", size=1))
        ev = WatchEvent("/dev/shm/now", "created", Kind.POSIX_SHM, "/now", 5.0)
        thread = threading.Thread(target=app._on_watch_thread, args=(ev,))
        thread.start()
        thread.join()
        await settle(pilot)
        log = app.event_log.events
        mine = [e for e in log if e.id == "/now"]
        assert [(e.action, e.source) for e in mine] == [("created", "inotify")]
        assert "posix_shm:/now" in app.table.rows  # the poll it triggered found it
        assert app.polls == 2


@sync
async def test_contract_members() -> None:
    app = make_app()
    async with running(app) as pilot:
        assert isinstance(app.snapshot, Snapshot)
        app.table.select_key("posix_sem:/lock")
        assert app.selected_object is not None and app.selected_object.id == "/lock"
        await pilot.press("l")
        assert app.selected_object is None  # no events yet
        await poll(pilot)
        app.event_log.move_cursor(row=0)
        obj = app.selected_object
        assert obj is not None and obj.kind in (Kind.SYSV_MSG, Kind.POSIX_MQ)


@sync
async def test_quit_returns_zero() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("q")
    assert app.return_value == 0


def test_churn_is_not_logged() -> None:
    from ipctop.events import Event
    from ipctop.ui.live_state import loggable as _loggable

    assert not _loggable(Event(1.0, "changed", Kind.PIPE, "5", fields=("users",)))
    assert _loggable(Event(1.0, "changed", Kind.PIPE, "5", fields=("users", "bytes")))
    assert _loggable(Event(1.0, "changed", Kind.SYSV_SHM, "5", fields=("users",)))
    assert _loggable(Event(1.0, "created", Kind.PIPE, "5"))
    assert not _loggable(Event(1.0, "changed", Kind.POSIX_MQ, "/q", fields=("ctime",)))
    assert _loggable(Event(1.0, "changed", Kind.POSIX_MQ, "/q", fields=("ctime", "messages")))


@sync
async def test_command_palette_switches_view() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"View: SysV sem")
        await pilot.pause(0.3)  # the palette searches asynchronously
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_view is not None and app.current_view.id == "sysv-sem"


def test_unreadable_notice_wording() -> None:
    from ipctop.ui.app import unreadable_notice

    one = FakeCollector(unreadable=1)()
    assert unreadable_notice(one, is_root=False).startswith("1 process could not be read")
    user = unreadable_notice(one, is_root=False)
    assert "run as root" in user
    # exactly what a normal user cannot see: the kinds found only in processes' fds and maps
    for kind in ("pipes", "FIFOs", "eventfds", "memfds", "shared anonymous memory",
                 "shared file mappings", "not listed at all"):
        assert kind in user
    assert "even root is refused" in unreadable_notice(one, is_root=True)


@sync
async def test_arrow_navigation_updates_detail_pane() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        pane = app.query_one("#detail", DetailPane)
        first = app.selected_object
        assert first is not None and pane.object == first
        await pilot.press("down", "down")
        assert app.table.cursor_row == 2
        second = app.selected_object
        assert second is not None and second != first and pane.object == second
        await pilot.press("end")
        assert app.table.cursor_row == app.table.row_count - 1
        await pilot.press("home")
        assert app.selected_object == first


@sync
async def test_detail_users_table_survives_refresh_and_caps() -> None:
    from ipctop.kinds import SharedMapping
    from ipctop.model import User
    from ipctop.ui.widgets.detail_pane import MAX_USERS

    fake = FakeCollector(auto=False)
    many = tuple(User(1000 + i, "bash", None, "r", "map") for i in range(MAX_USERS + 20))
    fake.add(SharedMapping(id="/usr/lib/libc.so", name="/usr/lib/libc.so", path="/usr/lib/libc.so",
                           users=many))
    app = make_app(fake)
    async with running(app, size=(160, 48)) as pilot:
        assert app.table.select_key("shared_mapping:/usr/lib/libc.so")
        await pilot.pause()
        users = app.query_one("#detail-users", DataTable)
        assert users.row_count == MAX_USERS
        users.move_cursor(row=7)
        await poll(pilot)
        assert users.cursor_row == 7


@sync
async def test_ages_move_on_for_an_unchanged_object() -> None:
    """The live collector hands out the same instance for an unchanged object; its row's texts
    are reused, all but the ages, which follow the clock."""
    fake = FakeCollector(auto=False)
    app = make_app(fake)
    async with running(app) as pilot:
        index = next(i for i, v in enumerate(app.views) if v.id == "posix-shm")
        app.action_view(index)
        await pilot.pause()
        before = str(app.table.get_cell("posix_shm:/psm_old", "age"))
        obj = fake.get(Kind.POSIX_SHM, "/psm_old")
        assert isinstance(app.clock, FakeClock)
        app.clock.now += 3 * 86400
        await poll(pilot)
        assert fake.get(Kind.POSIX_SHM, "/psm_old") is obj
        after = str(app.table.get_cell("posix_shm:/psm_old", "age"))
        assert before == "2h" and after == "3d"
