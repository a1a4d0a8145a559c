"""A poll that finds nothing changed costs the UI next to nothing: no widget asks for the screen
to be laid out again, and what did change is still shown (idle CPU on a quiet machine)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fakes import T0, FakeClock, FakeCollector
from test_ui_app import fake_preview, poll, running, sync
from textual.widget import Widget
from textual.widgets import DataTable, Label

from ipctop.kinds import PosixShm
from ipctop.model import Snapshot
from ipctop.ui.app import IpcTopApp


class Still:
    """The same objects at every poll, each poll a new Snapshot (as LiveTake on a quiet
    machine); ``objects`` can be edited between polls."""

    def __init__(self) -> None:
        self.first: Snapshot = FakeCollector()()
        self.objects = list(self.first.objects)

    def __call__(self) -> Snapshot:
        return dataclasses.replace(self.first, objects=tuple(self.objects))


def lonely(name: str = "/lonely") -> PosixShm:
    """A /dev/shm file nobody holds (its detail pane has no users table)."""
    return PosixShm(id=name, name=name, path=f"/dev/shm{name}", mode="0600", size=4096,
                    ctime=T0 - 60, dev=25, inode=4242, owner="root", uid=0)


def layout_refreshes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Widgets that ask for a new layout (the whole screen re-arranged and redrawn)."""
    asked: list[str] = []
    real = Widget.refresh

    def spy(self: Widget, *regions: Any, layout: bool = False, **kw: Any) -> Widget:
        if layout:
            asked.append(f"{type(self).__name__}#{self.id}")
        return real(self, *regions, layout=layout, **kw)

    monkeypatch.setattr(Widget, "refresh", spy)
    return asked


@sync
async def test_an_unchanged_poll_lays_nothing_out_again(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    still = Still()
    still.objects.append(lonely())
    app = IpcTopApp(still, clock=FakeClock(), watch=False, previewer=fake_preview,
                    interval=3600.0)
    async with running(app, size=(160, 48)) as pilot:  # the detail pane beside the table
        assert app.table.select_key("posix_shm:/lonely")
        await poll(pilot, 2)
        pane = app.screen.query_one("#detail-users", DataTable)
        heading = app.screen.query_one("#detail-users-heading", Label)
        assert not pane.display and "none seen" in str(heading.render())
        asked = layout_refreshes(monkeypatch)
        await poll(pilot, 3)
        assert asked == []
        # A real change still shows: the selected file gains a size, the pane and row say so.
        still.objects[-1] = dataclasses.replace(still.objects[-1], size=8192)
        await poll(pilot)
        row = app.table.get_row("posix_shm:/lonely")
        assert any("8.0K" in str(cell) or "8192" in str(cell) for cell in row)
