"""How the main table's columns fit the terminal: by priority, at fixed widths.

Every column has a priority (0: always shown) and a width range. Given the room the table has,
the columns are taken in priority order while they fit (the most important as wide as their
texts need, the others at their narrowest), then widened toward what their texts need, most
important first; the rest are hidden. The LEAK column and the
object's identity have priority 0, so the leak status never falls off the right edge however
narrow the terminal or wide the other columns.

Widths are fixed once computed (Textual's DataTable then never re-measures a whole column when a
cell changes) and change only when the room, the view, the sort column or the texts' needs grow,
so a busy table does not jitter. No Textual here: a pure function, tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ipctop.columns import Column

PADDING = 2
"""Blank cells around each column (DataTable's cell padding of 1 on each side)."""
ROOMY = 20
"""Width the priority-1 columns keep before less important ones are shown."""
ARROW = " ▼"
"""The sort marker after the sorted column's title (" ▲" ascending)."""


@dataclass(frozen=True, slots=True)
class Fit:
    priority: int
    """0: always shown; the higher, the sooner hidden when room is short."""
    min: int
    """Narrowest useful width (the title is never cut: it is at least that wide)."""
    max: int
    """Widest the column gets, however long its texts."""


FITS: dict[str, Fit] = {
    # identity and the verdict: always there
    "leak": Fit(0, 4, 4),
    "ident": Fit(0, 10, 36),
    "name": Fit(0, 10, 36),
    "path": Fit(0, 12, 40),
    "id": Fit(0, 5, 12),
    "inode": Fit(0, 6, 10),
    # with an object of another namespace listed, the same id can be on two rows: which is which
    "container": Fit(1, 8, 24),
    # what the object is and how big or busy
    "kind": Fit(1, 8, 12),
    "size": Fit(1, 5, 6),
    "messages": Fit(1, 4, 6),
    "value": Fit(1, 5, 6),
    "reclaim": Fit(1, 7, 8),
    "reason": Fit(0, 16, 60),
    "state": Fit(1, 5, 11),
    "users": Fit(2, 12, 32),
    "bytes": Fit(2, 6, 7),
    "key": Fit(2, 10, 10),
    "nattch": Fit(2, 6, 6),
    "nsems": Fit(2, 5, 5),
    "values": Fit(2, 8, 24),
    "since": Fit(2, 5, 6),
    "owner": Fit(3, 5, 10),
    "rw": Fit(3, 3, 5),
    "status": Fit(3, 6, 11),
    "peer": Fit(3, 6, 10),
    "nusers": Fit(4, 5, 5),
    "atime": Fit(4, 8, 8),
    "stime": Fit(4, 5, 6),
    "otime": Fit(4, 7, 7),
    "age": Fit(4, 7, 7),
    "type": Fit(4, 6, 9),
    "mode": Fit(5, 4, 4),
    "cpid": Fit(5, 5, 7),
    "lpid": Fit(6, 5, 7),
    "lspid": Fit(5, 5, 7),
    "lrpid": Fit(6, 5, 7),
    "maxmsg": Fit(5, 6, 6),
    "msgsize": Fit(5, 7, 7),
    "capacity": Fit(5, 8, 8),
    "creator": Fit(7, 10, 40),
    "local": Fit(1, 10, 28),
    "remote": Fit(2, 10, 28),
    "proto": Fit(1, 5, 5),
    "count": Fit(1, 5, 12),
    "semaphore": Fit(3, 9, 9),
    "seals": Fit(4, 5, 16),
    "rss": Fit(4, 5, 6),
    "swap": Fit(5, 5, 6),
}
"""Per column key. A column not named here (one a later feature adds) gets DEFAULT."""
DEFAULT = Fit(3, 6, 20)


def fit_of(col: Column) -> Fit:
    return FITS.get(col.key, DEFAULT)


def title_of(col: Column, sort_key: str | None, descending: bool) -> str:
    """The header text: the title, and the sort arrow on the sorted column."""
    if col.key != sort_key:
        return col.title
    return col.title + (ARROW if descending else " ▲")


def fit_columns(columns: Sequence[Column], room: int, natural: Mapping[str, int],
                sort_key: str | None = None, hidden: frozenset[str] = frozenset()
                ) -> dict[str, int]:
    """Column key -> width for the columns to show (in the order of ``columns``).

    ``room``: cells available for the columns, padding included. ``natural``: the widest text
    each column has now (missing: unknown, use the narrowest). The sort column is kept like a
    priority-0 column (its arrow is in the header); ``hidden``: columns the user hid.
    """
    lows: dict[str, int] = {}
    wants: dict[str, int] = {}
    ranks: dict[str, tuple[int, int]] = {}
    for index, col in enumerate(columns):
        if col.key in hidden and col.key != sort_key and fit_of(col).priority > 0:
            continue
        fit = fit_of(col)
        head = len(title_of(col, sort_key, True))
        lows[col.key] = low = max(fit.min, head)
        wants[col.key] = max(low, min(natural.get(col.key, 0), max(fit.max, low)))
        priority = 0 if col.key == sort_key else fit.priority
        ranks[col.key] = (priority, index)
    order = sorted(ranks, key=ranks.__getitem__)
    # What a column takes: the most important ones (priority 0 and 1: identity, kind, size,
    # the verdict) as wide as their texts need (priority 1: up to ROOMY), the others their
    # narrowest. A less important column is shown only if it fits beside that, so a long name
    # is never squeezed to make room for, say, the list of users.
    # priority 0 (identity, verdict, reason) as wide as their texts need; priority 1 up to ROOMY
    roomies = {key: wants[key] if ranks[key][0] == 0 else min(wants[key], max(lows[key], ROOMY))
               for key in order}
    shown: list[str] = []
    used = 0
    for key in order:
        need = (roomies[key] if ranks[key][0] <= 1 else lows[key]) + PADDING
        if ranks[key][0] == 0 or used + need <= room:
            shown.append(key)
            used += need
    used = sum(lows[key] + PADDING for key in shown)
    widths = {key: lows[key] for key in shown}
    spare = room - used
    important = [key for key in shown if ranks[key][0] <= 1]
    for targets, keys in ((roomies, important), (wants, shown)):  # most important first
        for key in keys:
            grow = max(0, min(spare, targets[key] - widths[key]))
            widths[key] += grow
            spare -= grow
    return {col.key: widths[col.key] for col in columns if col.key in widths}
