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
    """The log keeps between ``limit`` and ``limit + limit // 2`` events: once it holds more, the
    oldest are dropped all at once and the rows rebuilt. DataTable.remove_row re-indexes every
    row, so trimming one row per new event cost O(rows) each and froze the TUI under churn;
    this way each event costs O(1) rows, amortized."""

    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    """

    def __init__(self, *, limit: int = 2000, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.limit = limit
        self.slack = max(1, limit // 2)
        self.events: list[Event] = []
        self._seq = 0
        """The number of the next event; row keys are "ev<number>"."""

    def on_mount(self) -> None:
        self.add_column("TIME", key="time")
        self.add_column(" ", key="mark", width=1)
        self.add_column("EVENT", key="action")
        self.add_column("KIND", key="kind")
        self.add_column("OBJECT", key="object")
        self.add_column("DETAIL", key="detail")

    def _add_row(self, ev: Event, seq: int) -> None:
        style = _STYLE.get(ev.action, "")
        source = " (inotify)" if ev.source == "inotify" else ""
        self.add_row(
            Text(time.strftime("%H:%M:%S", time.localtime(ev.at))),
            Text(_MARK.get(ev.action, "?"), style=style),
            Text(ev.action + source, style=style),
            Text(ev.kind.label),
            Text(shown(ev.label), no_wrap=True, overflow="ellipsis"),
            Text(shown(ev.detail), no_wrap=True, overflow="ellipsis"),
            key=f"ev{seq}",
        )

    def add_events(self, events: Iterable[Event]) -> int:
        """Append ``events``; return how many were added."""
        follow = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        batch = list(events)
        if len(batch) > self.limit:  # a poll that changed thousands of objects: only the
            self._seq += len(batch) - self.limit  # newest would be kept, so only they are added
            batch = batch[-self.limit:]
        added = 0
        for ev in batch:
            self._add_row(ev, self._seq)
            self.events.append(ev)
            self._seq += 1
            added += 1
        if len(self.events) > self.limit + self.slack:
            self._trim(follow)
        if added and follow:
            self.move_cursor(row=self.row_count - 1)
        return added

    def _trim(self, follow: bool) -> None:
        """Keep the newest ``limit`` events: drop the rest and rebuild the rows in one go."""
        drop = len(self.events) - self.limit
        cursor = self.cursor_row
        del self.events[:drop]
        self.clear()
        first = self._seq - len(self.events)
        for i, ev in enumerate(self.events):
            self._add_row(ev, first + i)
        if not follow:
            self.move_cursor(row=max(0, cursor - drop))
