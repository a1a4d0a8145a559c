"""The main table: one row per IPC object, keyed by (kind, id), updated in place.

Each refresh compares the new rows with what the table shows: vanished keys are removed, changed
cells are updated with ``update_cell``, new keys are added, and the table is re-sorted only when
something that affects the order changed. The cursor follows the object it was on, not the row
index. New objects are marked ("+", bold) for one poll; removed objects stay one poll dimmed with
"-" before they go, so rows fade rather than jump. Markers are characters as well as styles, so
the table reads the same without colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from ipctop.columns import Column
from ipctop.display import shown as escaped
from ipctop.model import IpcObject
from ipctop.ui.live_state import row_key
from ipctop.ui.widgets.row_table import RowTable

NEW = "new"
GONE = "gone"

MARK_COLUMN = "mark"


def row_key_of(obj: IpcObject) -> str:
    """The row key of an object: "kind:id", "kind:id@namespace" outside ipctop's own
    namespaces (stable across refreshes)."""
    return row_key(obj.kind, obj.id, obj.where)


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    obj: IpcObject
    state: str = ""
    """"", NEW or GONE."""


MAX_CELL = 36
"""Longer cell text is shortened in the middle (paths keep their start and their name)."""


def clip(text: str, width: int = MAX_CELL) -> str:
    if len(text) <= width:
        return text
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


class Cell(Text):
    """A table cell that carries the raw value it sorts by."""

    sort_value: tuple[Any, ...] = ()


def _sortable(col: Column, obj: IpcObject) -> tuple[Any, ...]:
    rank, value = col.sort_key(obj)
    if rank == 2 and not isinstance(value, str):
        value = str(value)
    return (rank, value)


class ObjectTable(RowTable):
    """A DataTable of IPC objects with keyed, minimal updates, sorting and a text filter."""

    DEFAULT_CSS = """
    ObjectTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.columns_spec: tuple[Column, ...] = ()
        self.sort_column: str | None = None
        """Key of the column the rows are sorted by (None: the first column)."""
        self.sort_reverse = False
        self.filter_text = ""
        self.objects: dict[str, IpcObject] = {}
        """Row key -> the object the row shows (ghost rows included)."""
        self.states: dict[str, str] = {}
        self._shown: dict[str, tuple[str, ...]] = {}
        """Row key -> the texts the row shows now (to update only what changed)."""
        self._view_id: str | None = None

    # -- what is shown -----------------------------------------------------------------------

    @property
    def current_key(self) -> str | None:
        """Row key under the cursor, or None for an empty table."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return None if key.value is None else str(key.value)

    @property
    def current_object(self) -> IpcObject | None:
        key = self.current_key
        return None if key is None else self.objects.get(key)

    def row_keys_in_order(self) -> list[str]:
        return [str(self.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
                for i in range(self.row_count)]

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row ``key``; False when it is not shown."""
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        return True

    # -- layout ------------------------------------------------------------------------------

    def set_view(self, view_id: str, columns: Sequence[Column]) -> None:
        """Switch to other columns: the table is rebuilt on the next ``show``."""
        if view_id == self._view_id:
            return
        self._view_id = view_id
        self.columns_spec = tuple(columns)
        self.sort_column = None
        self.sort_reverse = False
        self.clear(columns=True)
        self._shown.clear()
        self.objects.clear()
        self.states.clear()
        self.add_column(" ", key=MARK_COLUMN, width=1)
        for col in self.columns_spec:
            self.add_column(Text(col.title, justify="right" if col.right else "left"),
                            key=col.key)

    def _sort_col(self) -> Column | None:
        for col in self.columns_spec:
            if col.key == self.sort_column:
                return col
        return self.columns_spec[0] if self.columns_spec else None

    def set_sort(self, column: str | None, reverse: bool) -> None:
        self.sort_column = column
        self.sort_reverse = reverse
        self._apply_sort()

    def cycle_sort(self) -> str:
        """Sort by the next column; return its title."""
        keys = [c.key for c in self.columns_spec]
        current = self._sort_col()
        index = keys.index(current.key) if current else -1
        col = self.columns_spec[(index + 1) % len(keys)]
        self.set_sort(col.key, False)
        return col.title

    def sort_title(self) -> str:
        col = self._sort_col()
        if col is None:
            return ""
        return col.title + (" ▼" if self.sort_reverse else " ▲")

    def _apply_sort(self) -> None:
        col = self._sort_col()
        if col is None or self.row_count == 0:
            return
        key = self.current_key
        self.sort(col.key, key=lambda cell: cell.sort_value, reverse=self.sort_reverse)
        if key is not None:
            self.select_key(key)

    # -- refresh -----------------------------------------------------------------------------

    def _texts(self, row: Row, now: float) -> tuple[str, ...]:
        """The marker and every column's text, computed for every row on every poll: in full
        for a new or changed object, and only the columns that depend on the time (ages) for
        the very object shown last time (the live collector hands out the same instance for
        an object that has not changed). Texts are escaped for the terminal (names and
        commands come from other users), so the filter matches what is shown."""
        mark = {NEW: "+", GONE: "-"}.get(row.state, " ")
        shown = self._shown.get(row.key)
        if shown is not None and self.objects.get(row.key) is row.obj and shown[0] == mark:
            return (mark, *(col.text(row.obj, now) if col.timed else text
                            for col, text in zip(self.columns_spec, shown[1:], strict=True)))
        return (mark, *(escaped(col.text(row.obj, now)) for col in self.columns_spec))

    def _cells(self, row: Row, texts: tuple[str, ...]) -> list[Cell]:
        """Styled, sortable cells: built only for rows that are new or changed."""
        style = {NEW: "bold", GONE: "dim strike"}.get(row.state, "")
        cells: list[Cell] = [Cell(texts[0], style=style)]
        for col, text in zip(self.columns_spec, texts[1:], strict=True):
            cell = Cell(clip(text), style=style, justify="right" if col.right else "left",
                        no_wrap=True, overflow="ellipsis")
            cell.sort_value = (*_sortable(col, row.obj), row.key)
            cells.append(cell)
        return cells

    def matches(self, texts: Iterable[str], obj: IpcObject) -> bool:
        needle = self.filter_text.strip().lower()
        if not needle:
            return True
        hay = " ".join([*texts, obj.kind.label, obj.id, obj.name or "", obj.key or "",
                        obj.container or "",
                        *(u.comm for u in obj.users), *(str(u.pid) for u in obj.users)])
        return needle in hay.lower()

    def show(self, rows: Iterable[Row], now: float) -> bool:
        """Make the table show ``rows`` (already matched to the view); return True if the set of
        rows or their order changed. Call inside ``app.batch_update()``."""
        selected = self.current_key
        selected_index = self.cursor_row
        wanted: dict[str, tuple[Row, tuple[str, ...]]] = {}
        for row in rows:
            texts = self._texts(row, now)
            if self.matches(texts[1:], row.obj):
                wanted[row.key] = (row, texts)
        structural = False
        resort = False
        for key in list(self._shown):
            if key not in wanted:
                self.remove_row(key)
                del self._shown[key]
                self.objects.pop(key, None)
                self.states.pop(key, None)
                structural = True
        sort_col = self._sort_col()
        sort_index = (1 + self.columns_spec.index(sort_col)) if sort_col else -1
        col_keys = [MARK_COLUMN, *(c.key for c in self.columns_spec)]
        for key, (row, texts) in wanted.items():
            old = self._shown.get(key)
            self.objects[key] = row.obj
            self.states[key] = row.state
            if old is None:
                self.add_row(*self._cells(row, texts), key=key)
                structural = resort = True
            elif old != texts:
                cells = self._cells(row, texts)
                restyle = old[0] != texts[0]
                for i, (a, b) in enumerate(zip(old, texts, strict=True)):
                    if a != b or restyle:
                        # Only ever widen: a narrower cell makes DataTable re-measure the
                        # whole column, O(rows) per changed cell, which froze the TUI under
                        # churn (a column shrinks back when the view is rebuilt).
                        column = self.columns[ColumnKey(col_keys[i])]
                        wider = cells[i].cell_len > column.content_width
                        self.update_cell(key, col_keys[i], cells[i], update_width=wider)
                if sort_index >= 0 and old[sort_index] != texts[sort_index]:
                    resort = True
            self._shown[key] = texts
        if resort:
            self._apply_sort()
            structural = True
        if selected is not None and selected in self._shown:
            self.select_key(selected)
        elif self.row_count:
            self.move_cursor(row=min(selected_index, self.row_count - 1))
        return structural
