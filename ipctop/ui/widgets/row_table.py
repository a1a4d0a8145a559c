"""The base of ipctop's row tables: one line per row, Home/End along the rows, and costs that do
not grow with the number of rows.

DataTable's own Home/End scroll sideways; in a list of objects or events people expect them to
move along the rows, as in htop. The object table and the events log share that here.

Textual's DataTable supports rows of any height, and pays for it with the number of rows: after
any change (a cell, a sort) drawing a line or moving the cursor rebuilds a list of every row's
offset, ``remove_row`` renumbers every row, and each new row is measured cell by cell even when
the columns have fixed widths. With 16,000 objects that made each poll, each key and each filter
keystroke cost seconds. Every row here is one line high, so a row's place on screen is its index:
the overrides below compute positions in O(1), add and remove rows in bulk (one renumbering), and
skip measuring when every column has a fixed width. They use DataTable's internals (the version is
pinned; tests/test_ui_big_table.py exercises them through a real app).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets._data_table import Column, ColumnKey, DuplicateKey, Row, RowKey


class RowTable(DataTable[Any]):
    """A DataTable of one-line rows whose Home/End keys jump to the first/last row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    # -- rows are one line: positions without a list of every row ------------------------------

    @property
    def _total_row_height(self) -> int:
        return len(self.rows)

    def _header_lines(self) -> int:
        return self.header_height if self.show_header else 0

    def _get_offsets(self, y: int) -> tuple[RowKey, int]:
        header = self._header_lines()
        if y < header:
            return self._header_row_key, y
        key = self._row_locations.get_key(y - header)
        if key is None:
            raise LookupError(f"Y coord {y!r} is past the last row")
        return key, 0

    def _row_width(self) -> int:
        return sum(col.get_render_width(self) for col in self.columns.values()) + \
            self._row_label_column_width

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        return Region(0, row_index + self._header_lines(), max(self.size.width,
                                                               self._row_width()), 1)

    def _get_cell_region(self, coordinate: Any) -> Region:
        if not self.is_valid_coordinate(coordinate):
            return Region(0, 0, 0, 0)
        row_index, column_index = coordinate
        columns = self.ordered_columns
        x = sum(col.get_render_width(self) for col in columns[:column_index]) + \
            self._row_label_column_width
        return Region(x, row_index + self._header_lines(),
                      columns[column_index].get_render_width(self), 1)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """With fixed column widths there is nothing to measure: only the virtual size."""
        if any(col.auto_width for col in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        self.virtual_size = Size(self._row_width(), len(self.rows) + self._header_lines())

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None,
                label: Any = None) -> RowKey:
        if height != 1:
            raise ValueError("rows of a RowTable are one line high")
        return super().add_row(*cells, height=1, key=key, label=label)

    # -- rows in bulk ------------------------------------------------------------------------

    def set_columns(self, columns: Sequence[tuple[str, Text, int]]) -> None:
        """Show these columns ``(key, label, width)`` at fixed widths, keeping the rows: each
        row's cells are looked up by column key, so a row may hold cells for columns not shown
        (DataTable's add_column would overwrite every row's cell)."""
        self.columns.clear()
        self._column_locations = TwoWayDict({})
        for index, (key, label, width) in enumerate(columns):
            column_key = ColumnKey(key)
            self.columns[column_key] = Column(column_key, label, width,
                                              content_width=label.cell_len)
            self._column_locations[column_key] = index
        self._clear_caches()
        self._rows_changed(layout=True)

    def add_rows_keyed(self, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Append rows ``(key, cells by column key)`` at once: one update for all of them."""
        locations = self._row_locations
        index = len(self.rows)
        was_empty = index == 0
        added = False
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            locations[row_key] = index
            index += 1
            self._data[row_key] = cells  # type: ignore[assignment]  # ColumnKey hashes as str
            self.rows[row_key] = Row(row_key, 1)
            self._new_rows.add(row_key)
            added = True
        if added:
            self._rows_changed(layout=False)
            if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
                self._highlight_cursor()  # as add_row: a cursor where there was none

    def replace_rows(self, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Give rows new cells ``(key, cells by column key)``: one update for all of them."""
        for key, cells in rows:
            self._data[key] = cells  # type: ignore[index,assignment]  # RowKey hashes as str
        self._update_count += 1
        self.refresh()

    @property
    def _y_offsets(self) -> list[tuple[RowKey, int]]:
        """Unused (positions come from the row index); DataTable.clear() clears it."""
        return []

    def remove_rows(self, keys: Iterable[str]) -> int:
        """Remove the rows ``keys`` (absent ones are ignored) with one renumbering of the rest;
        return how many went."""
        gone = {key for key in keys if key in self._row_locations}
        if not gone:
            return 0
        order = self._ordered_keys()
        kept = [key for key in order if key.value not in gone]
        self._row_locations = TwoWayDict({key: i for i, key in enumerate(kept)})
        for key in gone:
            del self.rows[key]  # type: ignore[arg-type]  # RowKey hashes as its str
            del self._data[key]  # type: ignore[arg-type]
        if self._updated_cells:
            self._updated_cells = {c for c in self._updated_cells if c.row_key.value not in gone}
        self._new_rows = {k for k in self._new_rows if k.value not in gone}
        self._rows_changed(layout=True)
        return len(gone)

    def set_row_order(self, keys: Sequence[str]) -> None:
        """Show the rows in this order (``keys``: exactly the rows the table holds)."""
        rows = self.rows
        self._row_locations = TwoWayDict({rows[key].key: i  # type: ignore[index]
                                          for i, key in enumerate(keys)})
        self._update_count += 1
        self.refresh()

    def _ordered_keys(self) -> list[RowKey]:
        get = self._row_locations.get_key
        return [key for key in (get(i) for i in range(len(self._row_locations)))
                if key is not None]

    def _rows_changed(self, *, layout: bool) -> None:
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows left
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=layout)
        self.check_idle()
