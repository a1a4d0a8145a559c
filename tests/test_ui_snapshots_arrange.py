"""Snapshot tests of the column chooser (F2), the processes with their IPC (F5, tree and
grouped) and the start-up notice, at 80x24 and 160x48.

Regenerate after an intended change with ``pytest tests/test_ui_snapshots_arrange.py
--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeCollector
from test_ui_snapshots import SnapCompare, make_app, steps, utc

from ipctop.preview import Preview
from ipctop.ui.app import IpcTopApp

__all__ = ["utc"]  # the fixture pins the clock's time zone

SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES)
def test_column_chooser(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """SysV shm: OWNER hidden, MODE moved up; the dialog over the table it changes."""
    assert snap_compare(make_app(), terminal_size=size, run_before=steps(
        "2", "f2", "down", "down", "space", "down", "left_square_bracket"))


@pytest.mark.parametrize("size", SIZES)
def test_process_tree(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=steps("f5", "down"))


def test_processes_grouped_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps("f5", "t"))


def test_unreadable_notice_80x24(snap_compare: SnapCompare) -> None:
    app = IpcTopApp(FakeCollector(unreadable=37), clock=FakeClock(), watch=False,
                    interval=3600, previewer=lambda obj: Preview(b"", "fake"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=steps())
