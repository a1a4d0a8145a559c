"""What the app offers the modules that add to it (the action mixins, the palette).

Those modules used to import ``ipctop.ui.app`` for its type while app.py imported them: an
import circle, hidden behind TYPE_CHECKING. They depend on this Protocol instead, which the app
satisfies; only app.py knows the concrete class. A test keeps every other ui module from
importing ipctop.ui.app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from textual.app import App

from ipctop.model import IpcObject, Snapshot

if TYPE_CHECKING:
    from ipctop.ui.live_state import LiveState
    from ipctop.ui.views import View
    from ipctop.ui.widgets.event_log import EventLog
    from ipctop.ui.widgets.object_table import ObjectTable


class Host(Protocol):
    """The app, as the mixins and the palette see it."""

    views: list[View]
    live: LiveState
    paused: bool

    @property
    def snapshot(self) -> Snapshot | None: ...

    @property
    def current_view(self) -> View | None: ...

    @property
    def selected_object(self) -> IpcObject | None: ...

    @property
    def table(self) -> ObjectTable: ...

    @property
    def event_log(self) -> EventLog: ...

    def request_poll(self) -> None: ...

    def refresh_all(self) -> None:
        """Redraw the table, tabs, detail and status from the current snapshot."""

    def action_view(self, index: int) -> None: ...

    def action_show_events(self) -> None: ...

    def action_toggle_pause(self) -> None: ...

    def set_sort(self, column: str, descending: bool | None = None) -> None:
        """Sort the current view by ``column`` (None: the column's natural direction)."""

    def open_process(self, pid: int) -> None: ...

    def show_object(self, key: str) -> None:
        """Select the row ``key`` in the main table (switching to "All" if need be)."""

    def set_filter(self, text: str) -> None:
        """Filter every view by ``text`` (as typed after "/")."""


def host_of(mixin: object) -> tuple[Host, App[Any]]:
    """The app a mixin is part of, as the Host protocol and as a Textual App."""
    return mixin, mixin  # type: ignore[return-value]

