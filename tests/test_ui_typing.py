"""Keys typed faster than the screen refreshes: every key posted to the app in one batch, as a
terminal delivers a fast typist's (or ``tmux send-keys``') input, before the app handles any.

The filter box must take the keys that follow ``/`` even when they are already queued, so a filter
typed fast never runs a command (``/q`` must not quit, ``/p`` must not pause, ``/s5`` must not
switch view); and Enter or Escape must hand the keys after them back to the table at once.
"""

from __future__ import annotations

from test_ui_app import make_app, running, settle, sync
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from ipctop.ui.app import IpcTopApp

_NAMES = {"/": "slash", " ": "space"}


async def type_fast(pilot: Pilot[int], keys: list[str]) -> None:
    """Post every key at once; let the app handle them afterwards."""
    app = pilot.app
    for key in keys:
        name = _NAMES.get(key, key)
        char = key if len(key) == 1 else {"enter": "\r", "escape": "\x1b"}.get(key)
        app.post_message(events.Key(name, char))
    await settle(pilot)


def filter_box(app: IpcTopApp) -> Input:
    return app.query_one("#filter", Input)


@sync
async def test_slash_q_types_q_and_does_not_quit() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "q"])
        assert app.is_running and app.return_code is None
        assert filter_box(app).value == "q"
        assert app.table.filter_text == "q"
        assert app.focused is filter_box(app)


@sync
async def test_slash_p_does_not_pause_and_s5_does_not_switch_view() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "p", "s", "5", "n", "d"])
        assert not app.paused
        assert app.current_view is not None and app.current_view.id == "all"
        assert filter_box(app).value == "ps5nd"
        assert len(app.screen_stack) == 1  # no form, no confirm box opened


@sync
async def test_enter_then_keys_go_back_to_the_table_at_once() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "a", "l", "enter", "2"])
        assert filter_box(app).value == "al"
        assert app.current_view is not None and app.current_view.id == "sysv-shm"
        assert app.focused is app.table


@sync
async def test_escape_then_keys_go_back_to_the_table_at_once() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "x", "escape", "p"])
        assert filter_box(app).value == ""
        assert not filter_box(app).display
        assert app.paused


@sync
async def test_slash_inside_the_filter_is_text() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "/", "j", "o", "b", "s"])
        assert filter_box(app).value == "/jobs"
        assert app.table.row_count == 1


@sync
async def test_f3_searches_without_hiding_and_finds_next_and_previous() -> None:
    app = make_app()
    async with running(app) as pilot:
        rows = app.table.row_count
        await type_fast(pilot, ["f3", "a", "l", "i", "c", "e"])  # typed fast: all in the box
        search = app.query_one("#search", Input)
        assert search.value == "alice" and app.focused is search
        assert app.table.row_count == rows  # nothing hidden
        first = app.table.current_key
        obj = app.table.current_object
        assert obj is not None and obj.owner == "alice"
        await type_fast(pilot, ["enter", "f3"])  # keep the term; F3: the next match
        assert not search.display and app.focused is app.table
        second = app.table.current_key
        assert second != first
        nxt = app.table.current_object
        assert nxt is not None and nxt.owner == "alice"
        await type_fast(pilot, ["shift+f3"])
        assert app.table.current_key == first
        await type_fast(pilot, ["f3", "escape", "q"])  # Esc closes the line; q quits
        assert not app.is_running


@sync
async def test_ctrl_f_changes_the_search_term() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["f3", *"redis", "enter"])
        assert app.table.current_key == "posix_shm:/redis-cache"
        await type_fast(pilot, ["ctrl+f", "backspace", *"" , "escape"])
        await type_fast(pilot, ["ctrl+f", *["backspace"] * 5, *"jobs", "enter"])
        assert app.table.current_key == "posix_mq:/jobs"


@sync
async def test_keys_typed_after_a_pause_add_to_what_was_typed_fast() -> None:
    """The box's focus event arrives after the keys typed with "/"; if it selected the text
    then, the next key typed would replace it: "/red" at once, then "is", must read "redis"."""
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", *"red"])
        await type_fast(pilot, [*"is"])
        assert filter_box(app).value == "redis" and app.table.filter_text == "redis"
        await type_fast(pilot, ["enter", "/", *"-x"])  # reopened: typing adds, as htop's F4
        assert filter_box(app).value == "redis-x"


@sync
async def test_an_action_key_acts_on_the_selection_before_a_view_key_typed_after_it() -> None:
    """`e` then `7` in one burst: the semaphore under the cursor is edited (and 7 is typed into
    the form), rather than `7` switching view first and `e` finding nothing selected."""
    from ipctop.ui.screens.sem_edit import SemEditForm

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["4"])
        assert app.selected_object is not None and app.selected_object.kind.value == "sysv_sem"
        await type_fast(pilot, ["e", "7"])
        form = app.screen
        assert isinstance(form, SemEditForm)
        assert app.current_view is not None and app.current_view.id == "sysv-sem"
        focused = app.focused
        assert isinstance(focused, Input) and focused.value == "7"  # as typed a moment later


@sync
async def test_text_typed_right_after_the_key_that_opens_a_form_lands_in_it() -> None:
    from ipctop.ui.screens.create_form import CreateForm

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["n", "4", "2"])
        assert isinstance(app.screen, CreateForm)
        focused = app.focused
        assert isinstance(focused, Input) and focused.id == "name" and focused.value == "42"
        assert app.current_view is not None and app.current_view.id == "all"
