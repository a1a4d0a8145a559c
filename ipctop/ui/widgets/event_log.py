"""The events log: objects created, removed and changed since start, newest at the bottom.

Rows are appended as events arrive (inotify at once, the rest with each poll); the log keeps the
last ``limit`` events and follows the end while the cursor is on the last row.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text

from ipctop.display import shown
from ipctop.events import CHANGED, CREATED, REMOVED, Event
from ipctop.ui.widgets.row_table import RowTable

_STYLE = {CREATED: "bold green", REMOVED: "red", CHANGED: ""}
_MARK = {CREATED: "+", REMOVED: "-", CHANGED: "~"}


class EventLog(RowTable):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    """

    def __init__(self, *, limit: int = 2000, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.limit = limit
        self.events: list[Event] = []
        self._seq = 0

    def on_mount(self) -> None:
        self.add_column("TIME", key="time")
        self.add_column(" ", key="mark", width=1)
        self.add_column("EVENT", key="action")
        self.add_column("KIND", key="kind")
        self.add_column("OBJECT", key="object")
        self.add_column("DETAIL", key="detail")

    def add_events(self, events: Iterable[Event]) -> int:
        """Append ``events``; return how many were added."""
        follow = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        added = 0
        for ev in events:
            style = _STYLE.get(ev.action, "")
            source = " (inotify)" if ev.source == "inotify" else ""
            self.add_row(
                Text(time.strftime("%H:%M:%S", time.localtime(ev.at))),
                Text(_MARK.get(ev.action, "?"), style=style),
                Text(ev.action + source, style=style),
                Text(ev.kind.label),
                Text(shown(ev.label), no_wrap=True, overflow="ellipsis"),
                Text(shown(ev.detail), no_wrap=True, overflow="ellipsis"),
                key=f"ev{self._seq}",
            )
            self.events.append(ev)
            self._seq += 1
            added += 1
        while len(self.events) > self.limit:
            self.events.pop(0)
            self.remove_row(f"ev{self._seq - len(self.events) - 1}")
        if added and follow:
            self.move_cursor(row=self.row_count - 1)
        return added
