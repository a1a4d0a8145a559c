"""The process list's own filter (F5, then `/`), as htop's F4: processes by command, pid or
user, within what the main filter lets through. Keys posted in one batch as a terminal delivers
fast typing; letters typed in the filter (q, t) are letters, not the list's keys."""

from __future__ import annotations

from fakes import FakeCollector
from test_ui_app import make_app, running, sync
from test_ui_arrange import type_fast
from textual.widgets import Input

from ipctop.ui.screens.process_tree import ProcessTreeScreen, tree_rows


def holders(screen: ProcessTreeScreen) -> list[int]:
    return [r.pid for r in screen.rows.values() if r.object_key is None and r.holds]


@sync
async def test_slash_filters_processes_by_command_pid_and_user() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["f5"])
        screen = app.screen
        assert isinstance(screen, ProcessTreeScreen)
        assert holders(screen) == [100, 101, 200, 300]
        await type_fast(pilot, ["/", *"redis"])
        assert holders(screen) == [200]
        assert all(r.pid == 200 for r in screen.rows.values())
        assert "processes 'redis'" in str(screen.query_one("#tree-heading").render())
        await type_fast(pilot, ["enter"])  # keeps it, back to the list
        assert holders(screen) == [200] and screen.query_one("#tree-table").has_focus
        await type_fast(pilot, ["/", "ctrl+u", *"300"])
        assert holders(screen) == [300]
        await type_fast(pilot, ["ctrl+u", *"ALICE"])
        assert holders(screen) == [100, 101]


@sync
async def test_letters_in_the_filter_are_letters_and_esc_clears_it_then_goes_back() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["f5", "/", "q", "t"])
        screen = app.screen
        assert app.is_running and isinstance(screen, ProcessTreeScreen)
        assert screen.query_one("#tree-filter", Input).value == "qt"
        assert screen.as_tree and holders(screen) == []
        await type_fast(pilot, ["escape"])  # clears the filter, stays in the list
        assert app.screen is screen and screen.only == ""
        assert holders(screen) == [100, 101, 200, 300]
        await type_fast(pilot, ["escape"])
        assert not isinstance(app.screen, ProcessTreeScreen)


def test_a_matching_child_keeps_its_parent_dimmed_without_the_parents_objects() -> None:
    fake = FakeCollector(auto=False)
    snap = fake()
    rows = tree_rows(snap, snap.objects, tree=True, only="child")
    parent = [r for r in rows if r.key == "pid:100"]
    assert len(parent) == 1 and not parent[0].holds
    assert not any(r.pid == 100 and r.object_key for r in rows)
    assert any(r.pid == 101 and r.object_key for r in rows)
    assert tree_rows(snap, snap.objects, tree=False, only="child")[0].key == "pid:101"


@sync
async def test_keys_typed_after_a_pause_add_to_what_was_typed_fast() -> None:
    """The box takes the keys typed with "/" at once, before its focus event arrives; that
    event must not select them (the next key would replace them all)."""
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["f5", "/", *"wor"])
        await type_fast(pilot, [*"ker"])
        screen = app.screen
        assert isinstance(screen, ProcessTreeScreen)
        assert screen.query_one("#tree-filter", Input).value == "worker"
        assert holders(screen) == [100, 101]  # 100's command line names worker.py
