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
