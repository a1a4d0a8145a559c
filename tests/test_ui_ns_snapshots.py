"""Snapshot of the New form offering a container's namespaces (its "Where" row) at 80x24, the
smallest size we support: the choice, its note and the Create button must all be on screen."""

from __future__ import annotations

from fakes import FakeClock, FakeCollector
from test_ui_containers import NS, in_container
from test_ui_snapshots import SnapCompare, steps

from ipctop.preview import Preview
from ipctop.ui.app import IpcTopApp


def test_create_form_where_row_80x24(snap_compare: SnapCompare) -> None:
    fake = FakeCollector()
    in_container(fake)
    app = IpcTopApp(fake, clock=FakeClock(), watch=False, interval=3600,
                    previewer=lambda obj: Preview(b"", "fake"))
    assert snap_compare(app, terminal_size=(80, 24),
                        run_before=steps("n", select=f"sysv_shm:32768@{NS}"))
