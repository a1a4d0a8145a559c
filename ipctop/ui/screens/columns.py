"""The column chooser (htop's F2 Setup -> Columns): show, hide and reorder the current view's
columns.

Every change is applied to the table behind at once (the dialog says which columns are shown,
hidden, or left out for lack of room at this width). The object's identity and LEAK (the
columns of priority 0 in ipctop.ui.column_fit) cannot be hidden; the sorted column stays shown
while the view is sorted by it. Space or Enter toggles, ``[``/``]`` (or F7/F8, htop's) move a
column up or down, ``r`` goes back to the view's defaults, Esc/q/F2 close.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from ipctop.columns import Column
from ipctop.ui.column_fit import fit_of

Apply = Callable[[tuple[str, ...], frozenset[str]], Mapping[str, int]]
"""(order, hidden) -> the widths of the columns the table shows after applying them."""


def fixed(col: Column) -> bool:
    """A column that cannot be hidden (the identity, LEAK)."""
    return fit_of(col).priority == 0


class ColumnChooser(ModalScreen[None]):
    DEFAULT_CSS = """
    ColumnChooser { align: center middle; }
    ColumnChooser > #columns-box {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ColumnChooser #columns-title { text-style: bold; }
    ColumnChooser #columns-table { height: auto; max-height: 1fr; }
    ColumnChooser #columns-help { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "flip", "Show/hide", key_display="Space"),
        Binding("left_square_bracket,f7", "move(-1)", "Up", key_display="["),
        Binding("right_square_bracket,f8", "move(1)", "Down", key_display="]"),
        Binding("r", "reset", "Defaults"),
        Binding("escape,q,f2", "close", "Done", key_display="Esc"),
    ]

    def __init__(self, title: str, defaults: Sequence[Column], order: Sequence[str],
                 hidden: frozenset[str], sort_key: str | None, apply: Apply) -> None:
        super().__init__()
        self.view_title = title
        self.by_key = {c.key: c for c in defaults}
        self.defaults = tuple(c.key for c in defaults)
        known = [k for k in order if k in self.by_key]
        self.order = [*known, *(k for k in self.defaults if k not in known)]
        self.hidden = {k for k in hidden if k in self.by_key}
        self.sort_key = sort_key
        self._apply = apply
        self.widths: Mapping[str, int] = {}
        self._ready = False

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-box"):
            yield Static(f"Columns of {self.view_title}", id="columns-title")
            table: DataTable[Text] = DataTable(id="columns-table", cursor_type="row")
            table.add_column(" ", key="on", width=3)
            table.add_column("COLUMN", key="title", width=12)
            table.add_column("NOW", key="now", width=34)
            yield table
            yield Static("Space/Enter show/hide  [ ] move  r defaults  Esc done", id="columns-help")
        yield Footer()

    def on_mount(self) -> None:
        self.ready()

    def ready(self) -> None:
        """Fill the list and focus it, once; the app calls it as soon as the screen is mounted
        so that the keys typed right after F2 act here (on_mount may come after them)."""
        if self._ready:
            return
        self._ready = True
        self.widths = self._apply(tuple(self.order), frozenset(self.hidden))
        self._fill()
        self.set_focus(self.query_one(DataTable))

    def state(self, key: str) -> str:
        """What the table does with column ``key`` now, in words."""
        col = self.by_key[key]
        if fixed(col):
            return "always shown"
        if key in self.hidden:
            return "shown while sorted by it" if key == self.sort_key else "hidden"
        return "shown" if key in self.widths else "no room at this width"

    def _fill(self, cursor: int | None = None) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row if cursor is None else cursor
        table.clear()
        for key in self.order:
            col = self.by_key[key]
            mark = "[·]" if fixed(col) else ("[ ]" if key in self.hidden else "[x]")
            now = self.state(key)
            style = "dim" if now in ("hidden", "no room at this width") else ""
            table.add_row(Text(mark), Text(col.title, style=style), Text(now, style=style),
                          key=key)
        table.move_cursor(row=max(0, min(row, len(self.order) - 1)))

    def _changed(self, cursor: int | None = None) -> None:
        self.widths = self._apply(tuple(self.order), frozenset(self.hidden))
        self._fill(cursor)

    def _current(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return self.order[table.cursor_row]

    def action_flip(self) -> None:
        key = self._current()
        if key is None:
            return
        if fixed(self.by_key[key]):
            self.notify(f"{self.by_key[key].title} is always shown.", title="Columns")
            return
        self.hidden ^= {key}
        self._changed()

    def action_move(self, step: int) -> None:
        key = self._current()
        if key is None:
            return
        i = self.order.index(key)
        j = i + step
        if 0 <= j < len(self.order):
            self.order[i], self.order[j] = self.order[j], self.order[i]
            self._changed(j)

    def action_reset(self) -> None:
        self.order = list(self.defaults)
        self.hidden = set()
        self._changed()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # Enter or a click
        self.action_flip()

    def action_close(self) -> None:
        self.dismiss(None)
