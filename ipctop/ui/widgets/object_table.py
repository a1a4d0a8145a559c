"""The main table: one row per IPC object, keyed by (kind, id), updated in place.

Each refresh compares the new rows with what the table shows: vanished keys are removed, changed
cells are updated with ``update_cell``, new keys are added, and the table is re-sorted only when
something that affects the order changed. The cursor follows the object it was on, not the row
index. New objects are marked ("+", bold) for one poll; removed objects stay one poll dimmed with
"-" before they go, so rows fade rather than jump. Markers are characters as well as styles, so
the table reads the same without colour.

Columns have fixed widths chosen by ipctop.ui.column_fit from the room the table has: the less
important ones hide first, the LEAK column and the identity never. The widths change only when
the room, the view, the sort or the texts' needs change; then the table is rebuilt from what it
holds. Each view remembers its sort (the sorted column's header carries the arrow); names sort
naturally (s2 before s10) and numbers largest first on the first press, as in htop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from ipctop.columns import Column, columns_for
from ipctop.display import shown as escaped
from ipctop.model import IpcObject
from ipctop.snapshot import natural_key
from ipctop.ui.column_fit import PADDING, fit_columns, title_of
from ipctop.ui.live_state import row_key
from ipctop.ui.widgets.row_table import RowTable

NEW = "new"
GONE = "gone"

MARK_COLUMN = "mark"
SCROLLBAR = 2
"""Cells kept free for the vertical scrollbar, so the layout does not flap when it comes."""
ASCENDING_NUMBERS = frozenset({"id", "inode", "peer", "cpid", "lpid", "lspid", "lrpid"})
"""Right-aligned columns that are identifiers, sorted smallest first like names."""
MIDDLE_CUT = frozenset({"ident", "name", "path"})
"""Columns of names and paths, shortened in the middle (they keep their start and their end)."""


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
    if width <= 1:
        return text[:width]
    head = (width - 1) // 4  # the end of a name or path tells more than its start
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key that orders the digits in a name by value (s1, s2, s10, s11), as the command
    line sorts; case aside."""
    return natural_key(text.lower())


def sort_value(col: Column, obj: IpcObject) -> tuple[Any, ...]:
    rank, value = col.sort_key(obj)
    if rank == 2:
        value = natural(value if isinstance(value, str) else str(value))
    return (rank, value)


def descending_first(col: Column) -> bool:
    """Numbers (sizes, counts, ages) sort largest first on the first press, as in htop."""
    return col.right and col.key not in ASCENDING_NUMBERS


_HAYSTACKS: dict[int, tuple[IpcObject, str]] = {}


def haystack(obj: IpcObject) -> str:
    """What the filter searches in an object, the same in every view (so a tab's count is the
    rows its table shows): the texts of the overview's and of its kind's columns (not the ages,
    which move), its ids, its users, its leak reason; lowercase. Cached per object: the live
    collector hands out the same instance while an object does not change."""
    cached = _HAYSTACKS.get(id(obj))
    if cached is not None and cached[0] is obj:
        return cached[1]
    texts = [escaped(col.text(obj, 0.0))
             for col in (*columns_for(None), *columns_for(obj.kind)) if not col.timed]
    texts += [obj.kind.label, obj.id, obj.name or "", obj.key or "", obj.container or "",
              *(u.comm for u in obj.users), *(str(u.pid) for u in obj.users),
              obj.leak.reason if obj.leak else ""]
    hay = " ".join(texts).lower()
    if len(_HAYSTACKS) > 50_000:
        _HAYSTACKS.clear()
    _HAYSTACKS[id(obj)] = (obj, hay)
    return hay


def filter_matches(obj: IpcObject, needle: str) -> bool:
    """Does ``obj`` pass the filter ``needle`` (case-insensitive, across all columns)?"""
    needle = needle.strip().lower()
    return not needle or needle in haystack(obj)


class Cell(Text):
    """A table cell (the marker cell also carries its row's key, for sorting)."""

    row_key: str = ""


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
        """View id -> columns the user hid (the column chooser)."""
        self.widths: dict[str, int] = {}
        """Column key -> width, for the columns shown now."""
        self._shown: dict[str, tuple[str, ...]] = {}
        """Row key -> the texts of every column of the row (to update only what changed)."""
        self._rows: dict[str, Row] = {}
        self._natural: dict[str, int] = {}
        self._sorts: dict[str, tuple[str | None, bool]] = {}
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

    @property
    def view_id(self) -> str | None:
        return self._view_id

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
        """Switch to other columns (the view's own sort comes back): rebuilt on the next
        ``show``."""
        if view_id == self._view_id:
            return
        if self._view_id is not None:  # a view's layouts ("all", "all+container") share it
            self._sorts[self._view_id.split("+")[0]] = (self.sort_column, self.sort_descending)
        self._view_id = view_id
        self.columns_spec = tuple(columns)
        self.sort_column, self.sort_descending = self._sorts.get(view_id.split("+")[0],
                                                                 (None, False))
        self._natural = {}
        self._forget_rows()

    def _forget_rows(self) -> None:
        self.clear(columns=True)
        self.widths = {}
        self._shown.clear()
        self._rows.clear()
        self.objects.clear()
        self.states.clear()

    def _room(self) -> int:
        width = self.scrollable_content_region.width or self.size.width or 80
        return max(0, width - SCROLLBAR - (1 + PADDING))

    def _fit(self) -> dict[str, int]:
        hidden = self.hidden.get(self._view_id or "", frozenset())
        return fit_columns(self.columns_spec, self._room(), self._natural,
                           self._sort_col_key(), hidden)

    def _build_columns(self, widths: dict[str, int]) -> None:
        self.clear(columns=True)
        self._shown.clear()
        self.widths = widths
        self.add_column(" ", key=MARK_COLUMN, width=1)
        for col in self.columns_spec:
            if col.key in widths:
                title = title_of(col, self._sort_col_key(), self.sort_descending)
                self.add_column(Text(title, justify="right" if col.right else "left"),
                                key=col.key, width=widths[col.key])

    def on_resize(self, event: events.Resize) -> None:
        if self.columns_spec and self._fit() != self.widths:
            self._relayout()

    def _relayout(self) -> None:
        """Rebuild at the widths that fit now, with the rows the table holds."""
        selected = self.current_key
        rows = [(self._rows[key], self._shown[key]) for key in self.row_keys_in_order()
                if key in self._rows and key in self._shown]
        self._build_columns(self._fit())
        for row, texts in rows:
            self.add_row(*self._cells(row, texts), key=row.key)
            self._shown[row.key] = texts
        self._apply_sort()
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
            self._relayout()  # the arrow moves to this column's header

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

    def _apply_sort(self) -> None:
        col = self._sort_col()
        if col is None or self.row_count == 0:
            return
        key = self.current_key
        values = {k: (*sort_value(col, row.obj), k) for k, row in self._rows.items()}
        # Ages are times: the largest age is the smallest time.
        reverse = self.sort_descending != col.timed
        self.sort(MARK_COLUMN, key=lambda cell: values[cell.row_key], reverse=reverse)
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
        """Styled cells of the columns shown: built only for rows that are new or changed."""
        style = {NEW: "bold", GONE: "dim strike"}.get(row.state, "")
        mark = Cell(texts[0], style=style)
        mark.row_key = row.key
        cells: list[Cell] = [mark]
        for col, text in zip(self.columns_spec, texts[1:], strict=True):
            width = self.widths.get(col.key)
            if width is None:
                continue
            shown = clip(text, width) if col.key in MIDDLE_CUT else text
            cells.append(Cell(shown, style=style, justify="right" if col.right else "left",
                              no_wrap=True, overflow="ellipsis"))
        return cells

    def matches(self, obj: IpcObject) -> bool:
        """Does the filter being typed let ``obj`` through?"""
        return filter_matches(obj, self.filter_text)

    def _grow_natural(self, texts: Iterable[tuple[str, ...]]) -> None:
        natural = self._natural
        keys = [c.key for c in self.columns_spec]
        for row_texts in texts:
            for key, text in zip(keys, row_texts[1:], strict=True):
                if len(text) > natural.get(key, 0):
                    natural[key] = len(text)

    def show(self, rows: Iterable[Row], now: float) -> bool:
        """Make the table show ``rows`` (already matched to the view); return True if the set of
        rows or their order changed. Call inside ``app.batch_update()``."""
        selected = self.current_key
        selected_index = self.cursor_row
        wanted: dict[str, tuple[Row, tuple[str, ...]]] = {}
        for row in rows:
            if self.matches(row.obj):
                wanted[row.key] = (row, self._texts(row, now))
        self._grow_natural(texts for _row, texts in wanted.values())
        structural = False
        resort = False
        widths = self._fit()
        if widths != self.widths:
            self._build_columns(widths)  # every row is added again below
            self._rows.clear()
            structural = True
        for key in list(self._shown):
            if key not in wanted:
                self.remove_row(key)
                del self._shown[key]
                self._rows.pop(key, None)
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
            self._rows[key] = row
            if old is None:
                self.add_row(*self._cells(row, texts), key=key)
                structural = resort = True
            elif old != texts:
                cells = iter(self._cells(row, texts))
                restyle = old[0] != texts[0]
                for i, (a, b) in enumerate(zip(old, texts, strict=True)):
                    if i and col_keys[i] not in self.widths:
                        continue  # a hidden column
                    cell = next(cells)
                    if a != b or restyle:
                        self.update_cell(key, col_keys[i], cell)
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
