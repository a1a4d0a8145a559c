"""The layout at every size from 80x24 up: columns by priority (LEAK always shown), the detail
pane beside, below or as a screen, the status line by priority, compact meters, short tabs; and
sorting that persists per view, natural and numbers first; tab counts that follow the filter."""

from __future__ import annotations

import dataclasses
import itertools

from fakes import FakeCollector
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from test_ui_app import make_app, plain, running, status_text, sync
from textual.filter import Monochrome
from textual.widgets import Static, Tab

from ipctop.columns import CONTAINER, columns_for
from ipctop.kinds import PosixShm, UnixSocket
from ipctop.meters import Meter
from ipctop.model import Kind, Leak
from ipctop.ui.app import IpcTopApp, pane_place
from ipctop.ui.column_fit import fit_columns, fit_of
from ipctop.ui.row_text import natural
from ipctop.ui.widgets.detail_pane import DetailPane, uses_text
from ipctop.ui.widgets.limit_meters import bar, percent, render_meter
from ipctop.ui.widgets.notice_line import NoticeLine
from ipctop.ui.widgets.status_bar import LEAK_STYLE, fit_parts, status_parts


def test_fit_keeps_leak_and_identity_in_any_room() -> None:
    for kind in (None, Kind.SYSV_SHM, Kind.POSIX_MQ, Kind.FIFO):
        cols = columns_for(kind)
        for room in (10, 40, 60, 80, 200):
            widths = fit_columns(cols, room, {})
            keys = list(widths)
            if any(c.key == "leak" for c in cols):
                assert "leak" in keys, (kind, room)
            assert {c.key for c in cols if fit_of(c).priority == 0} <= set(keys)
            assert keys == [c.key for c in cols if c.key in widths]  # the view's order


def test_fit_hides_low_priority_first_and_grows_to_natural() -> None:
    cols = columns_for(Kind.SYSV_SHM)
    wide = fit_columns(cols, 400, {"creator": 30, "users": 25})
    assert set(wide) == {c.key for c in cols}
    assert wide["creator"] == 30 and wide["users"] == 25
    narrow = fit_columns(cols, 70, {"creator": 30})
    assert "creator" not in narrow and "leak" in narrow and "id" in narrow
    assert sum(w + 2 for w in narrow.values()) <= 70
    sorted_by_cpid = fit_columns(cols, 70, {}, sort_key="lpid")
    assert "lpid" in sorted_by_cpid  # the sort column is never hidden
    assert sorted_by_cpid["lpid"] >= len("LPID ▼")


def test_container_stays_at_80_columns_before_owner_and_users() -> None:
    """Two rows "SysV shm 0" (the host's and a container's) must say which is which at 80x24."""
    overview = list(columns_for(None))
    at = next(i for i, c in enumerate(overview) if c.key == "ident") + 1
    cols = [*overview[:at], CONTAINER, *overview[at:]]  # as with_container() puts it
    narrow = fit_columns(cols, 76, {"ident": 36, "container": 13, "users": 20, "owner": 4})
    assert "container" in narrow and narrow["container"] >= 8
    assert "users" not in narrow


def test_natural_sort_key() -> None:
    names = ["s10", "s2", "s1", "s11", "S3", "a"]
    assert sorted(names, key=natural) == ["a", "s1", "s2", "S3", "s10", "s11"]


def test_pane_place_by_size() -> None:
    assert pane_place(160, 48) == "side"
    assert pane_place(140, 40) == "side"
    assert pane_place(120, 40) == "below"
    assert pane_place(100, 40) == "below"
    assert pane_place(80, 24) == "none"


def test_meter_bar_empty_at_zero_and_eighths() -> None:
    tiny = Meter("shm segs", 3, 4096)
    assert bar(tiny).strip() == "" and percent(tiny) == "<1%"
    half = Meter("x", 50, 100)
    assert bar(half) == "████    " and percent(half) == "50%"
    assert percent(Meter("x", 0, 100)) == "0%"
    assert "█" not in bar(Meter("x", 0, 100))
    assert bar(Meter("x", 1, 100)).startswith("▏")  # 1% of 8 cells: one eighth
    compact = render_meter(Meter("/dev/shm", 900 << 20, 1 << 30, bytes=True), compact=True)
    assert compact.plain == "/dev/shm  88% 900M/1.0G"


def test_status_line_keeps_leaks_and_filter_when_narrow() -> None:
    fake = FakeCollector()
    snap = fake()
    for width in (40, 60, 80, 200):
        parts = status_parts(snap, now=0.0, interval=2, paused=False, polling=True,
                             filter_text="alice")
        line = fit_parts(parts, width).plain
        assert "1 leak, 1.0M reclaimable" in line, width
        assert "filter: alice" in line
    paused = fit_parts(status_parts(snap, now=0.0, interval=2, paused=True, polling=False,
                                    filter_text=""), 50).plain
    assert "PAUSED" in paused and "1 leak" in paused


def test_leak_count_readable_under_no_color() -> None:
    """NO_COLOR turns colours into greys (Textual's Monochrome): the leak count must still
    stand out from its background (it was grey 237 on 235)."""
    seg = Segment("1 leak", Style.parse(LEAK_STYLE))
    (mono,) = Monochrome().apply([seg], background=None)  # type: ignore[arg-type]
    assert mono.style is not None and mono.style.color and mono.style.bgcolor

    def grey(color: Color) -> int:
        r, g, b = color.get_truecolor()
        return (r + g + b) // 3

    assert abs(grey(mono.style.color) - grey(mono.style.bgcolor)) >= 100


def test_uses_text_counts_processes_and_uses() -> None:
    obj = next(o for o in FakeCollector().objects if o.id == "/redis-cache")
    assert uses_text(obj) == "1 process, 2 uses"
    jobs = next(o for o in FakeCollector().objects if o.id == "/jobs")
    assert uses_text(jobs) == "2 processes"


@sync
async def test_80x24_keeps_leak_column_status_and_short_tabs() -> None:
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        assert "1 leak, 1.0M reclaimable" in status_text(app)
        assert "leak" in app.table.widths
        labels = [str(t.label) for t in app.query(Tab)]
        assert labels[:3] == ["1 All 14", "2 shm 3", "3 msg 1"]
        assert not app.query_one("#detail", DetailPane).display
        table = app.table
        assert table.virtual_size.width <= table.size.width  # no sideways scrolling
        await pilot.press("2")
        assert "leak" in app.table.widths and "id" in app.table.widths
        assert table.virtual_size.width <= table.size.width
        meters = " ".join(plain(s) for s in app.query(".meter").results(Static))
        assert "900M/1.0G" in meters and "[" not in meters  # numbers, no bars


@sync
async def test_160x48_every_view_fits_with_leak_column() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        assert app.query_one("#detail", DetailPane).display
        for index, view in enumerate(app.views[:9]):
            await pilot.press(str(index + 1))
            table = app.table
            assert table.virtual_size.width <= table.size.width, view.id
            if any(c.key == "leak" for c in view.columns):
                assert "leak" in table.widths, view.id


@sync
async def test_resize_moves_the_pane_and_refits_columns() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        wide = dict(app.table.widths)
        await pilot.resize_terminal(100, 40)
        await pilot.pause()
        assert app.query_one("#body").has_class("-pane-below")
        assert app.query_one("#detail", DetailPane).display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.query_one("#detail", DetailPane).display
        assert app.table.widths != wide and "leak" in app.table.widths
        assert app.table.virtual_size.width <= app.table.size.width


@sync
async def test_sort_persists_per_view_and_numbers_sort_largest_first() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("2")
        app.set_sort("size")
        assert app.table.sort_descending  # first press: largest first
        assert app.table.row_keys_in_order()[0] == "sysv_shm:32768"
        header = str(app.table.columns[next(k for k in app.table.columns
                                            if k.value == "size")].label)
        assert header == "SIZE ▼"
        await pilot.press("1", "2")
        assert app.table.sort_column == "size" and app.table.sort_descending
        await pilot.press("1")
        assert app.table.sort_column is None  # All keeps its own (default) sort


@sync
async def test_names_sort_naturally() -> None:
    fake = FakeCollector()
    for n in (1, 10, 11, 2):
        fake.add(PosixShm(id=f"/s{n}", name=f"/s{n}", path=f"/dev/shm/s{n}", mode="0600",
                          size=4096, owner="alice", uid=1000, dev=25, inode=2000 + n))
    app = make_app(fake)
    async with running(app) as pilot:
        await pilot.press("5")
        app.set_sort("name")
        order = [k for k in app.table.row_keys_in_order() if k.startswith("posix_shm:/s")]
        assert order == ["posix_shm:/s1", "posix_shm:/s2", "posix_shm:/s10", "posix_shm:/s11"]


@sync
async def test_tab_counts_follow_the_filter() -> None:
    app = make_app()
    async with running(app) as pilot:
        await pilot.press("slash", *"redis", "enter")
        labels = {str(t.id): str(t.label) for t in app.query(Tab)}
        assert labels["view-all"] == f"1 All {app.table.row_count}"
        assert labels["view-sysv-shm"] == "2 SysV shm 0"
        assert labels["view-posix-shm"] == "5 POSIX shm 1"
        await pilot.press("5")
        assert app.table.row_count == 1


@sync
async def test_listening_socket_backlog_is_connections_not_bytes() -> None:
    fake = FakeCollector()
    fake.replace(Kind.UNIX_SOCKET, "777001", bytes=1)
    app = make_app(fake)
    async with running(app) as pilot:
        await pilot.press("tab")  # nothing: just make sure keys work before choosing the view
        app.action_view(9)
        await pilot.pause()
        row = app.table.get_row("unix_socket:777001")
        assert "1 conn" in [str(c) for c in row]
        obj = fake.get(Kind.UNIX_SOCKET, "777001")
        assert isinstance(obj, UnixSocket)
        assert dataclasses.replace(obj, state="connected").bytes == 1


@sync
async def test_leak_column_at_80x24_in_the_leaks_view() -> None:
    fake = FakeCollector()
    fake.add(PosixShm(id="/a-very-long-name-that-goes-on-and-on-and-on",
                      name="/a-very-long-name-that-goes-on-and-on-and-on",
                      path="/dev/shm/x", mode="0600", size=1 << 20, owner="alice", uid=1000,
                      dev=25, inode=3000, leak=Leak("nobody maps it", 1 << 20, "leak")))
    app = make_app(fake)
    async with running(app, size=(80, 24)) as pilot:
        app.action_view(next(i for i, v in enumerate(app.views) if v.id == "leaks"))
        await pilot.pause()
        assert app.table.view_id == "leaks"
        assert {"leak", "ident", "reason"} <= set(app.table.widths)
        assert app.table.virtual_size.width <= app.table.size.width


def footer_actions(app: IpcTopApp) -> set[str]:
    return {ab.binding.action for ab in app.screen.active_bindings.values()
            if ab.enabled and ab.binding.show}


@sync
async def test_footer_offers_only_keys_that_apply() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        assert app.table.select_key("sysv_shm:32768")
        await pilot.pause()
        offered = footer_actions(app)
        assert {"attach_shm", "remove_object", "new_object", "reclaim_leaks"} <= offered
        assert not offered & {"send_message", "receive_message", "edit_semaphore"}
        assert app.table.select_key("posix_mq:/jobs")
        await pilot.pause()
        offered = footer_actions(app)
        assert {"send_message", "receive_message", "remove_object"} <= offered
        assert "attach_shm" not in offered
        await pilot.press("a")  # not offered, still answered: it says why not
        await pilot.pause()
        assert any("Attach works on" in str(n.message) for n in app._notifications)
        await pilot.press("8")  # pipes: nothing to create, nothing to remove
        await pilot.pause()
        assert not footer_actions(app) & {"new_object", "remove_object", "send_message"}


@sync
async def test_start_up_notice_does_not_cover_the_table_at_80x24() -> None:
    app = make_app(FakeCollector(unreadable=37))
    async with running(app, size=(80, 24)):
        notice = app.query_one(NoticeLine)
        assert notice.display and "37 processes could not be read" in notice.history[0]
        table = app.table
        assert not table.region.overlaps(notice.region)
        assert table.region.height >= 8  # the table keeps most of the screen
        assert not app._notifications  # no toast over the table


@sync
async def test_new_form_fits_80x24_for_every_kind() -> None:
    from textual.widgets import Select

    from ipctop import actions

    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert form.has_class("-compact")
        for kind in actions.ACTION_KINDS:
            form.query_one("#kind", Select).value = kind
            await pilot.pause()
            for wid in ("#ok", "#cancel", "#name", "#form-error"):
                region = form.query_one(wid).region
                assert region.height >= 1 and region.bottom <= 24, (kind, wid, region)


@sync
async def test_pivot_enter_selects_the_object_under_the_cursor_from_a_kind_view() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        await pilot.press("6")  # POSIX mq: the pipe is not in this view
        assert app.table.select_key("posix_mq:/jobs")
        await pilot.press("enter", "down", "enter")  # details, second user (101), its pivot
        held = app.screen.query_one("#proc-held")
        rows = [held.coordinate_to_cell_key((i, 0)).row_key.value  # type: ignore[attr-defined]
                for i in range(held.row_count)]  # type: ignore[attr-defined]
        await pilot.press(*["down"] * rows.index("pipe:555001"), "enter")
        await pilot.pause()
        assert len(app.screen_stack) == 1
        assert app.current_view is not None and app.current_view.id == "all"
        assert app.table.current_key == "pipe:555001"
        assert app.focused is app.table


@sync
async def test_view_key_then_action_key_typed_fast_act_on_the_new_view() -> None:
    from test_ui_typing import type_fast

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["3", "s"])  # SysV msg view, then Send on its queue
        assert app.current_view is not None and app.current_view.id == "sysv-msg"
        assert type(app.screen).__name__ == "SendForm"


@sync
async def test_the_help_text_wraps_at_the_width_of_its_box_at_80x24() -> None:
    """Each paragraph of the help text wraps at the box's width: no line ends early inside a
    paragraph (its own line breaks, made for a wider box, left every other line a stub)."""
    from textual.geometry import Region

    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        about = app.screen.query_one("#help-about", Static)
        width, height = about.content_region.width, about.size.height
        lines = [strip.text.rstrip() for strip in
                 about.render_lines(Region(0, 0, about.size.width, height))]
        starts = ("Kinds beyond", "Rows:", "Status line:", "The footer", "The command")
        assert 0 < width < 80 and sum(line.strip().startswith(starts) for line in lines) == 5
        for line, after in itertools.pairwise(lines):
            if after.strip() and not after.strip().startswith(starts):  # inside a paragraph
                assert len(line.strip()) > width - 16, (line, after)
