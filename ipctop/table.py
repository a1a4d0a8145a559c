"""The command line's one table renderer; the util-linux output options that choose how it
prints (``-o/--output``, ``--raw``, ``--width``...) are parsed in :mod:`ipctop.output_options`.

It follows libsmartcols, the library behind lsipc, lsfd and lsblk:

- the header of a column is its name, the word ``-o`` takes (``USED-BY``, never ``USED BY``);
- on a terminal the table fits the terminal's width: columns marked ``trunc`` (command lines,
  users, reasons: long free text) are cut, widest first, and end in "…"; identifiers (ids, keys,
  names, paths) are never cut, so what is printed can be typed back. Piped, nothing is cut unless
  ``--width N`` asks; ``--notruncate`` keeps everything on a terminal too;
- ``--raw``: one space between columns, no padding, and every byte of a cell that is not
  printable ASCII (spaces, backslashes, controls, non-ASCII characters) written as ``\\xHH``,
  as lsfd and lsipc do, so every line splits on spaces;
- every cell goes through :func:`ipctop.display.shown` once (its raw spelling with ``--raw``):
  names, paths and commands are chosen by other users, and a terminal must never interpret
  them.

No Textual; the TUI draws its own tables from the same :class:`ipctop.columns.Column` objects.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ipctop.columns import Connections
from ipctop.display import shown
from ipctop.output_options import Style, terminal_width

if TYPE_CHECKING:
    from ipctop.columns import Column
    from ipctop.model import IpcObject

T = TypeVar("T")

ELLIPSIS = "…"
MIN_TRUNC_WIDTH = 8
"""A truncated column keeps at least this many characters (or its header, if wider)."""
PLAIN = Style()
"""The default style: headings, human sizes, nothing cut."""


@dataclass(frozen=True, slots=True)
class Header:
    """One column of a table of plain cells."""

    name: str
    right: bool = False
    trunc: bool = False
    priority: int = 0
    """0: never hidden; the higher, the sooner hidden when the table does not fit (Style.hide)."""
    min_width: int = 0
    """A ``trunc`` column is not cut below this (nor below MIN_TRUNC_WIDTH or its header)."""


def cell_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, ending in "…" when something was cut."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def _line_width(widths: Sequence[int]) -> int:
    return sum(widths) + 2 * (len(widths) - 1)


def _visible(widths: list[int], headers: Sequence[Header], limit: int,
             hide: bool) -> tuple[list[int], list[int]]:
    """The columns to print (indexes) and their widths in ``limit`` columns: the ``trunc``
    columns cut first; if that is not enough (and ``hide``), the least important column hidden
    (highest priority, the rightmost of equals), and the rest fitted again, until the line fits
    or only priority-0 columns are left."""
    keep = list(range(len(headers)))
    while True:
        fitted = _fit([widths[i] for i in keep], [headers[i] for i in keep], limit)
        hideable = [i for i in keep if headers[i].priority > 0]
        if not hide or not hideable or _line_width(fitted) <= limit:
            return keep, fitted
        keep.remove(max(hideable, key=lambda i: (headers[i].priority, i)))


def _fit(widths: list[int], headers: Sequence[Header], limit: int) -> list[int]:
    """Narrow the ``trunc`` columns, widest first, until the line fits in ``limit`` columns or
    each is at its minimum (then the line is left longer: identifiers are never cut)."""
    widths = list(widths)
    excess = _line_width(widths) - limit
    floor = [min(w, max(MIN_TRUNC_WIDTH, cell_width(h.name), h.min_width)) if h.trunc else w
             for h, w in zip(headers, widths, strict=True)]
    while excess > 0:
        candidates = [i for i, h in enumerate(headers) if h.trunc and widths[i] > floor[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        others = [widths[i] for i in candidates if i != widest]
        # Down to the next widest (so the widest columns shrink together), or by the excess.
        step = min(excess, widths[widest] - max([floor[widest], *others]) or 1)
        widths[widest] -= step
        excess -= step
    return widths


def render_cells(headers: Sequence[Header], rows: Iterable[Sequence[object]],
                 style: Style = PLAIN) -> str:
    """The table as text, one line per row (and a header line unless ``style.headings`` is
    off), each line ending in a newline; "" for no rows and no header. None prints as "-"."""
    names = [h.name for h in headers]
    if style.raw:  # escaped once, util-linux's way (display.shown's raw spelling)
        lines = ([names] if style.headings else []) + [list(row) for row in rows]
        return "".join(" ".join("-" if c is None else shown(str(c), raw=True) for c in line)
                       + "\n" for line in lines)
    cells = [["-" if c is None else shown(str(c)) for c in row] for row in rows]
    widths = [cell_width(n) if style.headings else 0 for n in names]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], cell_width(c))
    if style.width is not None:
        keep, widths = _visible(widths, headers, style.width, style.hide)
        if len(keep) < len(headers):
            headers, names = [headers[i] for i in keep], [names[i] for i in keep]
            cells = [[row[i] for i in keep] for row in cells]

    def line(values: Sequence[str]) -> str:
        parts = []
        for h, w, v in zip(headers, widths, values, strict=True):
            v = _cut(v, w) if h.trunc else v
            pad = " " * max(0, w - cell_width(v))
            parts.append(pad + v if h.right else v + pad)
        return "  ".join(parts).rstrip() + "\n"

    return (line(names) if style.headings else "") + "".join(line(r) for r in cells)


def cell(column: Column, obj: IpcObject, now: float, style: Style) -> str:
    """One object's text in one column: sizes as bytes with ``--bytes``, times in the
    ``--time-format`` asked for (a listener's queue stays "2 conn": it counts connections)."""
    value = column.get(obj)
    if style.bytes and column.unit == "bytes" and value is not None \
            and not isinstance(value, Connections):  # a listener's queue is never bytes
        return str(value)
    if column.unit == "time" and style.time_format != "short":
        from ipctop.fmt import format_time

        return format_time(value, style.time_format)
    return column.show(value, now)


def priority(column: Column) -> int:
    """How soon a column is hidden when a table does not fit the terminal: the column's own
    ``priority``, else the TUI's for the same column (ipctop.ui.column_fit, pure Python), so
    both drop the same columns first; 0 (identity, the verdict) never."""
    if column.priority is not None:
        return column.priority
    from ipctop.ui.column_fit import fit_of

    return fit_of(column).priority


def render(columns: Sequence[Column], objects: Iterable[IpcObject], now: float,
           style: Style = PLAIN) -> str:
    """A table of ``objects``, one row each, in ``columns``."""
    headers = [Header(c.name, c.right, c.trunc, priority(c), c.min_width) for c in columns]
    return render_cells(headers, ([cell(c, o, now, style) for c in columns] for o in objects),
                        style)


def _norm(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


def find_column(name: str, available: Sequence[Column]) -> Column | None:
    """The column ``name`` means, by its name (any case, "-", "_" and spaces ignored: USED-BY,
    used_by, usedby) or its key."""
    want = _norm(name)
    for c in available:
        if _norm(c.name) == want or _norm(c.key) == want:
            return c
    return None


def select_columns(spec: str | None, available: Sequence[Column],
                   defaults: Sequence[Column]) -> tuple[list[Column], list[str]]:
    """The columns ``-o spec`` asks for among ``available`` (``+LIST`` adds to ``defaults``;
    no spec: the defaults), and the names asked for that are not available."""
    return _select(spec, available, defaults, find_column)


def select_names(spec: str | None, available: Sequence[str],
                 defaults: Sequence[str]) -> tuple[list[str], list[str]]:
    """:func:`select_columns` for a table whose columns are plain names."""

    def find(name: str, names: Sequence[str]) -> str | None:
        return next((n for n in names if _norm(n) == _norm(name)), None)

    return _select(spec, available, defaults, find)


def _select(spec: str | None, available: Sequence[T], defaults: Sequence[T],
            find: Callable[[str, Sequence[T]], T | None]) -> tuple[list[T], list[str]]:
    if spec is None:
        return list(defaults), []
    text = spec.strip()
    chosen = list(defaults) if text.startswith("+") else []
    unknown: list[str] = []
    for name in text.lstrip("+").split(","):
        if not name.strip():
            continue
        column = find(name, available)
        if column is None:
            unknown.append(name.strip())
        elif column not in chosen:
            chosen.append(column)
    return chosen, unknown


def column_list(columns: Sequence[Column], defaults: Sequence[Column]) -> str:
    """--list-columns: each column's name, a * when shown by default, and what it shows."""
    rows = [[c.name + ("*" if c in defaults else ""), c.help or c.title]
            for c in columns]
    return render_cells([Header("COLUMN"), Header("DESCRIPTION", trunc=True)], rows,
                        Style(width=terminal_width()))
