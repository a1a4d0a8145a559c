"""The detail screen (Enter on a row): the detail pane at full size, live until Escape."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from ipctop.ui.widgets.detail_pane import DetailPane


class DetailScreen(Screen[None]):
    """Shows the object with row key ``key``; the app refreshes it after each poll."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, key: str, fill: Callable[[str, DetailPane], None]) -> None:
        super().__init__()
        self.key = key
        self.fill = fill
        """Called with the key and the pane on mount and after each poll (the app's renderer)."""

    def compose(self) -> ComposeResult:
        yield DetailPane(id="detail-full")
        yield Footer()

    def on_mount(self) -> None:
        self.fill(self.key, self.pane)
        self.query_one("#detail-users", DataTable).focus()

    @property
    def pane(self) -> DetailPane:
        return self.query_one(DetailPane)
