"""The rows of the object table: what a row is (one object, its cells made only when drawn) and
what a view kept aside holds. ObjectTable (object_table.py) keys, sorts and updates them.

A row is one object (RowCells) whose cells are made, and built into Rich text, only when drawn,
so only the rows on screen cost anything to draw, and the ages in them are computed then. Each
row has a cell for every column of the view, so a width change re-labels the columns and keeps
the rows. Markers are characters as well as styles, so the table reads the same without colour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from ipctop.columns import Column
from ipctop.display import shown as escaped
from ipctop.model import IpcObject
from ipctop.ui.live_state import row_key
from ipctop.ui.row_text import MIDDLE_CUT, clip

NEW = "new"
GONE = "gone"

MARK_COLUMN = "mark"
MARKS = {NEW: "+", GONE: "-"}
STYLES = {NEW: "bold", GONE: "dim strike"}


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


class Now:
    """The time the ages on screen are counted to (the table's last refresh)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0


class Cell:
    """A table cell: its text and its row's style, made into Rich text when drawn."""

    __slots__ = ("right", "style", "text")

    def __init__(self, text: str, style: str = "", right: bool = False) -> None:
        self.text = text
        self.style = style
        self.right = right

    def plain(self) -> str:
        """The text as shown."""
        return self.text

    def __rich__(self) -> Text:
        return Text(self.plain(), style=self.style, justify="right" if self.right else "left",
                    no_wrap=True, overflow="ellipsis", end="")

    def __str__(self) -> str:
        return self.plain()


class TimedCell(Cell):
    """An age: computed when drawn, to the table's ``Now``; its row remembers what it drew."""

    __slots__ = ("column", "row")

    def __init__(self, row: RowCells, column: Column) -> None:
        super().__init__("", row.style, column.right)
        self.row = row
        self.column = column

    def plain(self) -> str:
        return escaped(self.column.text(self.row.obj, self.row.layout.clock.now))

    def __rich__(self) -> Text:
        text = super().__rich__()
        if self.row.drawn is None:
            self.row.drawn = {}
        self.row.drawn[self.column.key] = text.plain
        return text


class Layout:
    """What the rows of a view share: its columns, the table's widths and clock, and how a row
    built without its texts gets them (``measure``, see RowCells)."""

    __slots__ = ("clock", "columns", "index", "measure", "widths")

    def __init__(self, columns: Sequence[Column], widths: dict[str, int], clock: Now,
                 measure: Callable[[RowCells], tuple[str, ...]] | None = None) -> None:
        self.columns = tuple(columns)
        self.index = {MARK_COLUMN: -1, **{col.key: i for i, col in enumerate(self.columns)}}
        self.widths = widths
        self.clock = clock
        self.measure = measure


class RowCells(Mapping[str, Cell]):
    """A row's cells by column key, for every column of the view (shown or not), made only
    when DataTable asks for one: to draw a row on screen, or a test to read it. One object per
    row, however many columns: a view of 16,000 rows is built in a blink.

    ``texts`` (the marker and every column's text) may be None: a row built in bulk gets them
    from ``layout.measure`` when first drawn, or when the table measures it later."""

    __slots__ = ("drawn", "key", "layout", "obj", "state", "texts")

    def __init__(self, layout: Layout, key: str, obj: IpcObject,
                 texts: tuple[str, ...] | None, state: str) -> None:
        self.layout = layout
        self.key = key
        self.obj = obj
        self.texts = texts
        self.state = state
        self.drawn: dict[str, str] | None = None
        """Column key -> the age text last drawn (see ObjectTable._redraw_ages)."""

    @property
    def style(self) -> str:
        return STYLES.get(self.state, "")

    def __getitem__(self, column: str) -> Cell:
        layout = self.layout
        texts = self.texts
        if texts is None:
            assert layout.measure is not None, "a row without texts in a layout that cannot measure"
            texts = self.texts = layout.measure(self)
        index = layout.index[column]
        if index < 0:
            return Cell(texts[0], self.style)
        col = layout.columns[index]
        if col.timed:
            return TimedCell(self, col)
        text = texts[index + 1]
        if col.key in MIDDLE_CUT:
            width = layout.widths.get(col.key)
            if width is not None:
                text = clip(text, width)
        return Cell(text, self.style, col.right)

    def __iter__(self) -> Iterator[str]:
        return iter(self.layout.index)

    def __len__(self) -> int:
        return len(self.layout.index)


@dataclass(slots=True)
class KeptView:
    """The rows of a view while another one is shown (see ObjectTable.set_view)."""

    columns: tuple[Column, ...]
    sort: tuple[str | None, bool]
    layout: Layout
    data: Any
    rows: Any
    locations: Any
    objects: dict[str, IpcObject]
    states: dict[str, str]
    order: list[str]
    sort_keys: dict[str, tuple[Any, ...]]
    natural: dict[str, int]
    synced: tuple[int, str | None, str] | None
    cursor_row: int
    scroll_y: float
