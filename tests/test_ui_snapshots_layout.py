"""Snapshot tests of the layout at 80x24 and 160x48 (and the pane below the table at 100x40):
the views with many columns, the Leaks view, the filter typed fast, and NO_COLOR.

Regenerate after an intended change with ``pytest tests/test_ui_snapshots_layout.py
--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

import pytest
from test_ui_snapshots import SnapCompare, make_app, settle, steps, utc
from textual.pilot import Pilot

from ipctop.ui.app import IpcTopApp

__all__ = ["utc"]  # the fixture pins the clock's time zone


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_sysv_shm_view(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=steps("2"))


async def leaks_view(pilot: Pilot[int]) -> None:
    await steps()(pilot)
    app = pilot.app
    assert isinstance(app, IpcTopApp)
    app.action_view(next(i for i, v in enumerate(app.views) if v.id == "leaks"))
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_leaks_view(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=leaks_view)


def test_pane_below_100x40(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(100, 40),
                        run_before=steps(select="posix_mq:/jobs"))


def test_no_color_80x24(snap_compare: SnapCompare, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_sorted_by_size_then_back_to_all(snap_compare: SnapCompare,
                                        size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=steps("5", "o", "o", "o", "1", "5"))
