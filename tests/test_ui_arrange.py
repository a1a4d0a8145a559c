"""The column chooser (F2), the processes with the IPC they hold (F5), and the short start-up
notice at 80x24: Pilot tests with the fake collector, keys posted in one batch as a fast typist
(or tmux) sends them, and the saved choices' file handled as a root-owned file should be."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from fakes import FakeCollector
from test_ui_app import make_app, poll, running, settle, sync
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable

from ipctop.model import Kind
from ipctop.ui.column_prefs import ColumnPrefs, config_path
from ipctop.ui.screens.columns import ColumnChooser
from ipctop.ui.screens.help import HelpScreen
from ipctop.ui.screens.process import ProcessScreen
from ipctop.ui.screens.process_tree import ProcessTreeScreen, tree_rows
from ipctop.ui.widgets.notice_line import NoticeLine

_KEYS = {"[": "left_square_bracket", "]": "right_square_bracket", "?": "question_mark",
         "/": "slash", " ": "space"}


async def type_fast(pilot: Pilot[int], keys: list[str]) -> None:
    """Post every key at once, as a terminal delivers fast typing; then let the app work."""
    for key in keys:
        char = key if len(key) == 1 else {"enter": "\r", "escape": "\x1b", "space": " "}.get(key)
        pilot.app.post_message(events.Key(_KEYS.get(key, key), char))
    await settle(pilot)


def header(app: object) -> list[str]:
    from ipctop.ui.app import IpcTopApp

    assert isinstance(app, IpcTopApp)
    return [str(c.key.value) for c in app.table.columns.values()][1:]  # after the marker


# -- the column chooser ---------------------------------------------------------------------


@sync
async def test_chooser_hides_and_moves_columns_typed_fast_and_keeps_them_per_view() -> None:
    app = make_app()
    async with running(app, size=(160, 48)) as pilot:
        await type_fast(pilot, ["2"])
        assert "owner" in header(app) and "mode" in header(app)
        # F2, down to OWNER (id, key, owner), hide it; down to MODE, move it up twice; close
        await type_fast(pilot, ["f2", "down", "down", "space", "down", "[", "[", "escape"])
        assert not isinstance(app.screen, ColumnChooser)
        cols = header(app)
        assert "owner" not in cols
        assert cols[:3] == ["id", "mode", "key"]
        assert app.column_prefs.hidden["sysv-shm"] == {"owner"}
        # another view is untouched; back on SysV shm, the choice is still there
        await type_fast(pilot, ["1"])
        assert "owner" in header(app)
        await type_fast(pilot, ["2"])
        assert "owner" not in header(app) and header(app)[:3] == ["id", "mode", "key"]
        await poll(pilot)  # a poll keeps it too
        assert "owner" not in header(app)
        # r: the defaults again
        await type_fast(pilot, ["f2", "r", "escape"])
        assert header(app)[:4] == ["id", "key", "owner", "mode"]
        assert "sysv-shm" not in app.column_prefs.hidden


@sync
async def test_identity_and_leak_cannot_be_hidden() -> None:
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await type_fast(pilot, ["f2", "space", "end", "space"])  # ID/NAME... and LEAK
        chooser = app.screen
        assert isinstance(chooser, ColumnChooser)
        assert chooser.state("kind") == "shown"
        assert chooser.state("ident") == "always shown"
        assert chooser.state("leak") == "always shown"
        assert chooser.hidden == set()
        # a column with no room at 80 columns says so rather than "shown"
        assert chooser.state("nusers") == "no room at this width"
        await type_fast(pilot, ["escape"])
        assert "ident" in header(app) and "leak" in header(app)


@sync
async def test_view_key_then_f2_typed_fast_chooses_the_new_views_columns() -> None:
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await type_fast(pilot, ["2", "f2"])
        chooser = app.screen
        assert isinstance(chooser, ColumnChooser)
        assert chooser.view_title == "SysV shm"


@sync
async def test_chooser_not_on_the_events_log() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["l", "f2"])
        assert not isinstance(app.screen, ColumnChooser)
        assert len(app.screen_stack) == 1


@sync
async def test_choices_are_saved_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "ipctop" / "columns.json"
    app = make_app(column_prefs=ColumnPrefs(path))
    async with running(app, size=(160, 48)) as pilot:
        await type_fast(pilot, ["f2", "down", "down", "space", "escape"])  # hide OWNER (All)
    assert path.exists()
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    saved = json.loads(path.read_text())
    assert saved["views"]["all"]["hidden"] == ["owner"]
    assert [p.name for p in path.parent.iterdir()] == ["columns.json"]  # no temp file left
    again = ColumnPrefs(path)
    assert again.load()
    app2 = make_app(column_prefs=again)
    async with running(app2, size=(160, 48)):
        assert "owner" not in header(app2) and "kind" in header(app2)


def test_config_path_follows_xdg() -> None:
    assert config_path({"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/root"}) == \
        Path("/x/cfg/ipctop/columns.json")
    # relative XDG values are ignored, as the spec says
    assert config_path({"XDG_CONFIG_HOME": "cfg", "HOME": "/root"}) == \
        Path("/root/.config/ipctop/columns.json")


def test_foreign_or_linked_files_are_not_read_nor_written(tmp_path: Path) -> None:
    folder = tmp_path / "ipctop"
    folder.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"schema": "ipctop.columns/1",
                                  "views": {"all": {"hidden": ["owner"]}}}))
    (folder / "columns.json").symlink_to(target)
    prefs = ColumnPrefs(folder / "columns.json")
    assert not prefs.load() and prefs.hidden == {}
    # saving replaces the link itself, never writes through it
    prefs.hidden["all"] = frozenset({"users"})
    assert prefs.save() is None
    assert not (folder / "columns.json").is_symlink()
    assert json.loads(target.read_text())["views"]["all"]["hidden"] == ["owner"]
    # garbage and the wrong schema are ignored
    (folder / "columns.json").write_text("[1, 2")
    assert not ColumnPrefs(folder / "columns.json").load()
    (folder / "columns.json").write_text(json.dumps({"schema": "x", "views": {}}))
    assert not ColumnPrefs(folder / "columns.json").load()
    # a directory others can write to is not used
    os.chmod(folder, 0o777)
    assert not ColumnPrefs(folder / "columns.json").load()
    problem = ColumnPrefs(folder / "columns.json").save()
    assert problem is not None and "not saved" in problem


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_file_planted_by_another_user_is_ignored(tmp_path: Path) -> None:
    """nobody owns the file (in a directory of ours): not read."""
    folder = tmp_path / "ipctop"
    folder.mkdir(mode=0o700)
    path = folder / "columns.json"
    path.write_text(json.dumps({"schema": "ipctop.columns/1",
                                "views": {"all": {"hidden": ["owner"]}}}))
    subprocess.run(["chown", "nobody", str(path)], check=True)
    assert not ColumnPrefs(path).load()


# -- processes and their IPC ----------------------------------------------------------------


def test_tree_rows_nest_children_and_list_objects_under_holders() -> None:
    snap = FakeCollector(auto=False)()
    rows = tree_rows(snap, snap.objects, tree=True)
    texts = [r.text for r in rows]
    procs = [r.text for r in rows if r.object_key is None]
    # worker (101) is a child of python3 (100); init (1) is not in the snapshot: roots
    assert procs == ["100 python3", "└─ 101 worker", "200 redis-server", "300 postgres"]
    i = texts.index("100 python3")
    j = next(k for k, r in enumerate(rows) if r.text.endswith("101 worker"))
    assert all(r.pid == 100 and r.object_key for r in rows[i + 1:j])
    assert any(r.object_key == "posix_mq:/jobs" and r.access == "w" for r in rows[i + 1:j])
    assert {r.pid for r in rows if r.object_key is None} == {100, 101, 200, 300}
    grouped = tree_rows(snap, snap.objects, tree=False)
    assert [r.text for r in grouped if r.object_key is None] == \
        ["100 python3", "101 worker", "200 redis-server", "300 postgres"]
    # only the objects given (the filter's) are listed, with only their holders
    only = [o for o in snap.objects if o.id == "/redis-cache"]
    rows = tree_rows(snap, only, tree=True)
    assert [r.text for r in rows] == ["200 redis-server", "  · posix-shm /redis-cache"]
    assert rows[1].fds == "7,map" and rows[1].access == "rw"


@sync
async def test_process_tree_typed_fast_enter_goes_to_the_object() -> None:
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        # F5, down to python3's first object, Enter: in the list, on that object
        await type_fast(pilot, ["f5", "down", "enter"])
        assert len(app.screen_stack) == 1
        chosen = app.selected_object
        assert chosen is not None and any(u.pid == 100 for u in chosen.users)
        assert app.focused is app.table


@sync
async def test_process_tree_follows_the_filter_toggles_and_opens_the_pivot() -> None:
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await type_fast(pilot, ["/", *"redis", "enter", "f5"])
        screen = app.screen
        assert isinstance(screen, ProcessTreeScreen)
        holders = [r for r in screen.rows.values() if r.object_key is None]
        assert [r.pid for r in holders] == [200]
        assert "filter 'redis'" in str(screen.query_one("#tree-heading").render())
        await type_fast(pilot, ["t"])
        assert not screen.as_tree
        await type_fast(pilot, ["enter"])  # on the process row: its pivot
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 200
        await type_fast(pilot, ["escape", "escape"])
        assert len(app.screen_stack) == 1


@sync
async def test_process_tree_refreshes_with_polls() -> None:
    fake = FakeCollector(auto=False)
    app = make_app(fake)
    async with running(app, size=(160, 48)) as pilot:
        await type_fast(pilot, ["f5"])
        screen = app.screen
        assert isinstance(screen, ProcessTreeScreen)
        table = screen.query_one(DataTable)
        before = table.row_count
        fake.remove(Kind.POSIX_SHM, "/redis-cache")
        fake.remove(Kind.UNIX_SOCKET, "777001")
        await poll(pilot)
        assert table.row_count == before - 3  # two objects and redis-server with nothing left
        assert "pid:200" not in screen.rows


# -- the start-up notice at 80x24 -----------------------------------------------------------


@sync
async def test_unreadable_notice_fits_80x24_and_help_has_the_rest() -> None:
    app = make_app(FakeCollector(unreadable=37))
    async with running(app, size=(80, 24)) as pilot:
        line = app.query_one(NoticeLine)
        text = str(line.render())
        assert "37 processes could not be read" in text and "? says more" in text
        assert line.size.height <= 3 and len(text) <= 3 * 78
        assert line.size.height == len(text.splitlines()) or line.size.height >= 2
        await type_fast(pilot, ["?"])
        assert isinstance(app.screen, HelpScreen)
        said = str(app.screen.query_one("#help-notices").render())
        assert "shared anonymous memory" in said  # the whole story


@sync
async def test_keys_right_after_f5_act_in_the_list_not_on_the_table() -> None:
    """F5 then t in one batch: one list, grouped (t on the table would open a second)."""
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await type_fast(pilot, ["f5", "t"])
        screen = app.screen
        assert isinstance(screen, ProcessTreeScreen) and not screen.as_tree
        assert len(app.screen_stack) == 2
        await type_fast(pilot, ["escape"])
        assert len(app.screen_stack) == 1
        await type_fast(pilot, ["t", "t"])  # t opens it too; t again: grouped
        screen = app.screen
        assert isinstance(screen, ProcessTreeScreen) and not screen.as_tree
        assert len(app.screen_stack) == 2


@sync
async def test_t_and_c_typed_in_the_filter_are_letters() -> None:
    app = make_app()
    async with running(app, size=(80, 24)) as pilot:
        await type_fast(pilot, ["/", "t", "C", "t"])
        assert len(app.screen_stack) == 1
        assert app.table.filter_text == "tCt"
