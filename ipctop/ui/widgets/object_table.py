"""The main table: one row per IPC object, keyed by (kind, id), updated in place.

Each refresh compares the new rows with what the table shows: vanished keys are removed, the rows
of changed objects get new cells, new keys are added, and the table is re-sorted only when
something that affects the order changed. The cursor follows the object it was on, not the row
index. New objects are marked ("+", bold) for one poll; removed objects stay one poll dimmed with
"-" before they go, so rows fade rather than jump. Markers are characters as well as styles, so
the table reads the same without colour.

Columns have fixed widths chosen by ipctop.ui.column_fit from the room the table has: the less
important ones hide first, the LEAK column and the identity never. The widths change only when
the room, the view, the sort or the texts' needs change; then the columns are set again and the
rows kept. Each view remembers its sort (the sorted column's header carries the arrow); names sort
naturally (s2 before s10) and numbers largest first on the first press, as in htop.

The work follows what changed and what is on screen, not the number of objects (16,000 on a big
machine): ``patch`` touches only the rows of the objects a poll created, changed or removed; an
object's texts are computed once per object instance (the live collector hands out the same
instance while nothing changes, and kept across views); a row is one object (RowCells, in
table_rows.py) whose cells are made, and built into Rich text, only when drawn, so only the rows on
screen cost anything to draw, and the ages in them are computed then (a poll re-draws them only if
one on screen changed); a width change re-labels the columns and keeps the rows (each row has a
cell for every column of the view); removals go in bulk; the order is re-sorted from the previous
one (nearly sorted: linear) only when a row came or a sort value changed; thousands of rows built
at once (the first poll) get their texts, which only the natural widths need, on screen first and
a slice at a time afterwards (MEASURE_LATER_FROM). See row_table.py for what DataTable itself is
spared.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from ipctop.columns import Column
from ipctop.display import shown as escaped
from ipctop.model import IpcObject
from ipctop.ui.column_fit import PADDING, fit_columns, title_of
from ipctop.ui.live_state import LiveState
from ipctop.ui.object_index import ObjectIndex
from ipctop.ui.row_text import descending_first, filter_matches, sort_value
from ipctop.ui.views import View
from ipctop.ui.widgets.row_table import RowTable
from ipctop.ui.widgets.table_rows import (
    GONE,
    MARK_COLUMN,
    MARKS,
    NEW,
    KeptView,
    Layout,
    Now,
    Row,
    RowCells,
    row_key_of,
)

__all__ = ["GONE", "NEW", "ObjectTable", "Row", "row_key_of"]

SCROLLBAR = 2
"""Cells kept free for the vertical scrollbar, so the layout does not flap when it comes."""
MEASURE_LATER_FROM = 2000
"""From this many rows built by one update (the first poll at 16,000 objects, a view shown the
first time), only the rows on screen have their texts worked out at once; the others get theirs
a slice at a time once the screen is drawn (or when drawn first), and the columns widen then if
their texts need it. The texts were most of the first screen's table work."""
MEASURE_SLICE = 3000
"""Rows measured per turn of the event loop (~50 ms at the big load): keys stay answered."""


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
        self.sort_descending = False
        self.filter_text = ""
        self.objects: dict[str, IpcObject] = {}
        """Row key -> the object the row shows (ghost rows included)."""
        self.states: dict[str, str] = {}
        self.hidden: dict[str, frozenset[str]] = {}
        """View id (without a layout suffix such as "+container") -> columns the user hid (the
        column chooser); call ``refit()`` after changing it."""
        self.widths: dict[str, int] = {}
        """Column key -> width, for the columns shown now."""
        self._known: dict[str, tuple[IpcObject, dict[int, str], dict[int, tuple[Any, ...]]]] = {}
        """Row key -> (object, column -> text, column -> sort value): what was worked out for
        the object instance, kept across views (a view shown again costs little). Columns are
        told apart by identity: two views may have columns of the same key that show
        differently (the Leaks view's ID/NAME, the sockets' QUEUED); a view keeps its own
        alive."""
        self._layout = Layout((), self.widths, Now(), self._measure)
        self._order: list[str] = []
        """Row keys in the order shown."""
        self._sort_keys: dict[str, tuple[Any, ...]] = {}
        self._natural: dict[str, int] = {}
        self._sorts: dict[str, tuple[str | None, bool]] = {}
        self._view_id: str | None = None
        self._now = self._layout.clock
        self._timed: tuple[str, ...] = ()
        """Keys of the columns shown that are ages (drawn to ``_now``)."""
        self._synced: tuple[int, str | None, str] | None = None
        """(poll, view layout, filter) the rows show, for ``sync``."""
        self._kept: dict[str, KeptView] = {}
        """View layout id -> its rows, kept while another view is shown."""
        self._unmeasured: dict[str, RowCells] = {}
        """Rows built without their texts (MEASURE_LATER_FROM), by key."""
        self._measuring = False
        """A slice of ``_unmeasured`` is due (``_measure_some``)."""

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

    @property
    def view_id(self) -> str | None:
        return self._view_id

    def row_keys_in_order(self) -> list[str]:
        return list(self._order)

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
        """Switch to other columns (the view's own sort comes back). The rows of the view left
        are kept aside, and those of a view shown before come back: the next ``sync`` then
        looks only at what changed since (16,000 rows are not built again at each key). The
        same view with other columns (the column chooser) is built again."""
        same_columns = len(columns) == len(self.columns_spec) and all(
            a is b for a, b in zip(columns, self.columns_spec, strict=True))
        if view_id == self._view_id and same_columns:
            return  # same view, same columns in the same order (the column chooser reorders)
        if self._view_id is not None:  # a view's layouts ("all", "all+container") share it
            self._sorts[self._view_id.split("+")[0]] = (self.sort_column, self.sort_descending)
            if view_id != self._view_id:
                self._measure_all()  # a view kept aside keeps its natural widths whole
                self._kept[self._view_id] = self._keep()
        self._view_id = view_id
        self.columns_spec = tuple(columns)
        self.sort_column, self.sort_descending = self._sorts.get(view_id.split("+")[0],
                                                                 (None, False))
        kept = self._kept.pop(view_id, None)
        if kept is not None and kept.sort == (self.sort_column, self.sort_descending) and \
                len(kept.columns) == len(columns) and all(
                    a is b for a, b in zip(kept.columns, columns, strict=True)):
            self._restore(kept)
        else:
            self._layout = Layout(self.columns_spec, self.widths, self._now, self._measure)
            self._natural = {}
            self._forget_rows()

    def _keep(self) -> KeptView:
        return KeptView(self.columns_spec, (self.sort_column, self.sort_descending),
                        self._layout, self._data, self.rows, self._row_locations,
                        self.objects, self.states, self._order,
                        self._sort_keys, self._natural, self._synced, self.cursor_row,
                        self.scroll_y)

    def _restore(self, kept: KeptView) -> None:
        self._forget_rows()
        self._layout = kept.layout
        self._data = kept.data
        self.rows = kept.rows
        self._row_locations = kept.locations
        self.objects = kept.objects
        self.states = kept.states
        self._order = kept.order
        self._sort_keys = kept.sort_keys
        self._natural = kept.natural
        self._synced = kept.synced
        self._rows_changed(layout=True)
        self._update_dimensions(())  # the height, so the scroll position can come back
        if self.rows:
            self.move_cursor(row=min(kept.cursor_row, len(self.rows) - 1), scroll=False)
            self.scroll_to(y=kept.scroll_y, animate=False, immediate=True)

    def _forget_rows(self) -> None:
        """An empty table (new containers: those of a view kept aside stay as they are)."""
        self._data = {}
        self.rows = {}
        self._new_rows = set()
        self._updated_cells = set()
        self.clear(columns=True)
        self.widths.clear()
        self._order = []
        self._sort_keys = {}
        self.objects = {}
        self.states = {}
        self._synced = None
        self._unmeasured = {}

    def _room(self) -> int:
        width = self.scrollable_content_region.width or self.size.width or 80
        return max(0, width - SCROLLBAR - (1 + PADDING))

    def _fit(self) -> dict[str, int]:
        hidden = self.hidden.get((self._view_id or "").split("+")[0], frozenset())
        return fit_columns(self.columns_spec, self._room(), self._natural,
                           self._sort_col_key(), hidden)

    def _build_columns(self, widths: dict[str, int]) -> None:
        """Show the columns at these widths; the rows stay (they hold every column's cell)."""
        self.widths.clear()
        self.widths.update(widths)  # the same dict: the name cells read their width in it
        sort_key = self._sort_col_key()
        columns = [(MARK_COLUMN, Text(" "), 1)]
        for col in self.columns_spec:
            if col.key in widths:
                title = title_of(col, sort_key, self.sort_descending)
                columns.append((col.key, Text(title, justify="right" if col.right else "left"),
                                widths[col.key]))
        self._timed = tuple(col.key for col in self.columns_spec
                            if col.timed and col.key in widths)
        self.set_columns(columns)

    def on_resize(self, event: events.Resize) -> None:
        self.refit()

    def refit(self) -> None:
        """Lay the columns out again if what fits changed (the room, or the hidden columns)."""
        if self.columns_spec and self._fit() != self.widths:
            self._relayout()

    def _relayout(self) -> None:
        """Show the columns at the widths that fit now, with the rows the table holds."""
        selected = self.current_key
        self._build_columns(self._fit())
        if selected is not None:
            self.select_key(selected)

    # -- sorting -----------------------------------------------------------------------------

    def _sort_col(self) -> Column | None:
        for col in self.columns_spec:
            if col.key == self.sort_column:
                return col
        return self.columns_spec[0] if self.columns_spec else None

    def _sort_col_key(self) -> str | None:
        col = self._sort_col()
        return None if col is None else col.key

    def set_sort(self, column: str | None, descending: bool | None = None) -> None:
        """Sort by ``column``; ``descending`` None: the column's natural direction (numbers
        largest first)."""
        col = next((c for c in self.columns_spec if c.key == column), None)
        if descending is None:
            descending = col is not None and descending_first(col)
        self.sort_column = column
        self.sort_descending = descending
        if self.columns_spec:
            selected = self.current_key
            self._sort_keys = {key: self._sort_key(key) for key in self._order}
            self._build_columns(self._fit())  # the arrow moves to this column's header
            self._apply_sort()
            if selected is not None:
                self.select_key(selected)
            if self._unmeasured:
                self._measure_on_screen()

    def cycle_sort(self) -> str:
        """Sort by the next column; return its title."""
        keys = [c.key for c in self.columns_spec]
        current = self._sort_col()
        index = keys.index(current.key) if current else -1
        col = self.columns_spec[(index + 1) % len(keys)]
        self.set_sort(col.key)
        return col.title

    def sort_title(self) -> str:
        col = self._sort_col()
        if col is None:
            return ""
        return title_of(col, col.key, self.sort_descending)

    def _sort_key(self, key: str) -> tuple[Any, ...]:
        col = self._sort_col()
        if col is None:
            return (0,)
        sorts = self._known_of(key, self.objects[key])[1]
        value = sorts.get(id(col))
        if value is None:
            value = sorts[id(col)] = sort_value(col, self.objects[key])
        return (*value, key)

    def _apply_sort(self) -> None:
        """Order the rows by their sort keys. The order is sorted from the previous one, which
        is nearly sorted already (new rows at its end), so this is close to linear."""
        col = self._sort_col()
        if col is None:
            return
        # Ages are times: the largest age is the smallest time.
        reverse = self.sort_descending != col.timed
        self._order.sort(key=self._sort_keys.__getitem__, reverse=reverse)
        self.set_row_order(self._order)

    # -- refresh -----------------------------------------------------------------------------

    def _known_of(self, key: str, obj: IpcObject) -> tuple[dict[int, str],
                                                            dict[int, tuple[Any, ...]]]:
        entry = self._known.get(key)
        if entry is None or entry[0] is not obj:
            entry = self._known[key] = (obj, {}, {})
        return entry[1], entry[2]

    def _row_texts(self, row: Row) -> tuple[str, ...]:
        """The marker and every column's text, escaped for the terminal (names and commands
        come from other users), so the filter matches what is shown; worked out once per
        object instance and column."""
        now = self._now.now
        known = self._known_of(row.key, row.obj)[0]
        texts = [MARKS.get(row.state, " ")]
        for col in self.columns_spec:
            text = known.get(id(col))
            if text is None:
                text = escaped(col.text(row.obj, now))
                if not col.timed:
                    known[id(col)] = text
            texts.append(text)
        return tuple(texts)

    def matches(self, obj: IpcObject) -> bool:
        """Does the filter being typed let ``obj`` through?"""
        return filter_matches(obj, self.filter_text)

    def _grow_natural(self, texts: Iterable[tuple[str, ...]]) -> None:
        widest = self._natural
        keys = [c.key for c in self.columns_spec]
        for row_texts in texts:
            for key, text in zip(keys, row_texts[1:], strict=True):
                if len(text) > widest.get(key, 0):
                    widest[key] = len(text)

    def sync(self, live: LiveState, index: ObjectIndex, view: View, now: float) -> bool:
        """Show ``view``'s rows of the live state (``index`` knows which objects the view lists
        and the filter passes). When the table shows the previous poll of the same view and
        filter, only the rows the latest poll touched are looked at; otherwise every row of
        the view. Return as ``show``."""
        stamp = (self._view_id, index.needle)
        synced, self._synced = self._synced, (live.polls, *stamp)
        if synced == (live.polls, *stamp):
            return self._update((), (), now)  # the same poll again: only ages can move
        if synced == (live.polls - 1, *stamp) and self.columns:
            rows: list[Row] = []
            gone: list[str] = []
            for key in live.touched:
                obj = live.objects.get(key)
                state = NEW if key in live.fresh else ""
                if obj is None:
                    obj, state = live.ghosts.get(key), GONE
                if obj is not None and view.match(obj):
                    rows.append(Row(key, obj, state))
                else:
                    gone.append(key)
            try:
                return self.patch(rows, gone, now)
            finally:
                for key in live.touched:
                    if key not in live.objects and key not in self.objects:
                        self._known.pop(key, None)
        for key in [k for k in self._known if k not in live.objects and k not in self.objects
                    and k not in live.ghosts]:
            del self._known[key]
        rows = [Row(key, live.objects[key], NEW if key in live.fresh else "")
                for key in index.listed(view.id)]
        rows += [Row(key, obj, GONE) for key, obj in live.ghosts.items()
                 if view.match(obj) and self.matches(obj)]
        listed = {row.key for row in rows}
        return self._update(rows, [key for key in self.objects if key not in listed], now)

    def show(self, rows: Iterable[Row], now: float) -> bool:
        """Make the table show exactly ``rows`` (already matched to the view; the filter is
        applied here); return True if the set of rows or their order changed. Call inside
        ``app.batch_update()``."""
        wanted = {row.key: row for row in rows if self.matches(row.obj)}
        return self._update(wanted.values(), [k for k in self.objects if k not in wanted], now)

    def patch(self, rows: Iterable[Row], gone: Iterable[str], now: float) -> bool:
        """Update only these rows (already matched to the view; the filter is applied here)
        and drop the rows ``gone``; every other row stays as it is. Return as ``show``."""
        keep: list[Row] = []
        drop = set(gone)
        for row in rows:
            if self.matches(row.obj):
                keep.append(row)
            else:
                drop.add(row.key)
        return self._update(keep, drop, now)

    def _update(self, rows: Iterable[Row], gone: Iterable[str], now: float) -> bool:
        self._now.now = now
        selected = self.current_key
        selected_index = self.cursor_row
        structural = False
        gone = [key for key in gone if key in self.objects]
        if gone:
            self.remove_rows(gone)
            drop = set(gone)
            self._order = [key for key in self._order if key not in drop]
            for key in gone:
                del self.objects[key]
                self.states.pop(key, None)
                self._unmeasured.pop(key, None)
                self._sort_keys.pop(key, None)
            structural = True
        added: list[tuple[str, RowCells]] = []
        changed: list[tuple[str, tuple[str, ...] | None, bool, Row]] = []
        resort = False
        rows = list(rows)
        later = len(rows) >= MEASURE_LATER_FROM
        for row in rows:
            key = row.key
            old_obj = self.objects.get(key)
            if old_obj is row.obj and self.states.get(key) == row.state:
                continue
            texts = None if later else self._row_texts(row)
            self.objects[key] = row.obj
            self.states[key] = row.state
            changed.append((key, texts, old_obj is None, row))
            sort_key = self._sort_key(key)
            if self._sort_keys.get(key) != sort_key:
                self._sort_keys[key] = sort_key
                resort = True
        self._grow_natural(texts for _key, texts, _new, _row in changed if texts is not None)
        widths = self._fit()
        if widths != self.widths or not self.columns:
            self._build_columns(widths)
            structural = True
        layout = self._layout
        redrawn: list[tuple[str, RowCells]] = []
        for key, texts, new, row in changed:
            cells = RowCells(layout, key, row.obj, texts, row.state)
            if texts is None:
                self._unmeasured[key] = cells
            else:
                self._unmeasured.pop(key, None)
            if new:
                added.append((key, cells))
                self._order.append(key)
            else:
                redrawn.append((key, cells))
        if redrawn:
            self.replace_rows(redrawn)
        if added:
            self.add_rows_keyed(added)
            structural = resort = True
        if resort:
            self._apply_sort()
            structural = True
        elif not structural and not changed:
            self._redraw_ages()
        if selected is not None and selected in self.objects:
            self.select_key(selected)
        elif self.row_count:
            self.move_cursor(row=min(selected_index, self.row_count - 1))
        if self._unmeasured:
            self._measure_on_screen()
        return structural

    # -- texts worked out later (MEASURE_LATER_FROM) ------------------------------------------

    def _measure(self, cells: RowCells) -> tuple[str, ...]:
        """The texts of a row built without them (see RowCells); its columns' natural widths
        grow with them (the columns themselves are widened by ``_measure_some``)."""
        texts = self._row_texts(Row(cells.key, cells.obj, cells.state))
        cells.texts = texts
        if self._unmeasured.get(cells.key) is cells:
            del self._unmeasured[cells.key]
            self._grow_natural((texts,))
        if self._unmeasured and not self._measuring:
            self._measuring = True
            self.call_after_refresh(self._measure_some)
        return texts

    def _measure_on_screen(self) -> None:
        """Measure the rows on screen now, so the columns fit them from the first draw."""
        top = max(0, int(self.scroll_y))
        for key in self._order[top:top + max(self.size.height, 1)]:
            cells = self._unmeasured.get(key)
            if cells is not None:
                self._measure(cells)
        self.refit()

    def _measure_some(self) -> None:
        """Measure a slice of the rows not measured yet; the next slice on the next turn of the
        event loop; widen the columns once all are measured."""
        self._measuring = False
        for cells in list(itertools.islice(self._unmeasured.values(), MEASURE_SLICE)):
            self._measure(cells)
        if not self._unmeasured:
            self.refit()

    def _measure_all(self) -> None:
        while self._unmeasured:
            self._measure(next(iter(self._unmeasured.values())))

    def _redraw_ages(self) -> None:
        """Re-draw the rows on screen if an age in them now reads differently."""
        if not self._timed or not self.row_count:
            return
        now = self._now.now
        top = max(0, int(self.scroll_y))
        for index in range(top, min(self.row_count, top + self.size.height)):
            cells = self._data.get(self._row_locations.get_key(index))  # type: ignore[arg-type]
            drawn = cells.drawn if isinstance(cells, RowCells) else None
            if not drawn or not isinstance(cells, RowCells):
                continue
            for col in self._layout.columns:
                if col.key in drawn and escaped(col.text(cells.obj, now)) != drawn[col.key]:
                    self._update_count += 1
                    self.refresh()
                    return
