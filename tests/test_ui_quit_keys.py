"""`q` quits from the process list (F5) as from the main list, as htop's tree view (a mode of
its main screen) does; screens that look into one thing (the process pivot, like htop's lsof
and strace screens) keep `q` as "back". Keys posted in one batch, as a terminal delivers them."""

from __future__ import annotations

import pytest
from test_ui_app import make_app, running, sync
from test_ui_arrange import type_fast

from ipctop.ui.screens.process import ProcessScreen
from ipctop.ui.screens.process_tree import ProcessTreeScreen


@pytest.mark.parametrize("keys", [["f5"], ["f5", "t"]], ids=["tree", "grouped"])
@sync
async def test_q_quits_from_the_process_list(keys: list[str]) -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, keys)
        assert isinstance(app.screen, ProcessTreeScreen)
        await type_fast(pilot, ["q"])
        assert not app.is_running
    assert app.return_value == 0


@sync
async def test_esc_and_f5_still_go_back_and_q_in_the_pivot_goes_back() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["f5", "escape"])
        assert not isinstance(app.screen, ProcessTreeScreen) and app.is_running
        await type_fast(pilot, ["f5", "f5"])
        assert not isinstance(app.screen, ProcessTreeScreen) and app.is_running
        await type_fast(pilot, ["f5", "enter"])  # the first row is a process: its pivot
        assert isinstance(app.screen, ProcessScreen)
        await type_fast(pilot, ["q"])
        assert isinstance(app.screen, ProcessTreeScreen) and app.is_running


@sync
async def test_a_tab_message_handled_after_the_app_closed_touches_no_screen() -> None:
    """A view switch posts the tab bar's TabActivated; if the app quits before the message is
    handled, the handler runs with no screen left and must not look for one (it raised
    ScreenStackError)."""
    from textual.widgets import Tab, Tabs

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["tab", "q"])
        tabs = app.main_screen.query_one("#views", Tabs)
        late = Tabs.TabActivated(tabs, tabs.query(Tab)[2])
    assert not app.screen_stack and app.return_code == 0
    before = app.view_index
    app.on_tabs_tab_activated(late)  # as the app handles it while closing
    assert app.view_index == before
