"""What a row of the object table says about an object, without Textual: the texts the filter
searches, how long cells are shortened, and the sort keys.

Shared by the table widget, the filter/search and the per-view index (ipctop.ui.object_index).
"""

from __future__ import annotations

from typing import Any

from ipctop.columns import CONTAINER, Column, columns_for
from ipctop.display import shown as escaped
from ipctop.model import IpcObject
from ipctop.snapshot import natural_key

ASCENDING_NUMBERS = frozenset({"id", "inode", "peer", "cpid", "lpid", "lspid", "lrpid"})
"""Right-aligned columns that are identifiers, sorted smallest first like names."""
MIDDLE_CUT = frozenset({"ident", "name", "path"})
"""Columns of names and paths, shortened in the middle (they keep their start and their end)."""
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


def haystack_text(obj: IpcObject) -> str:
    """What the filter searches in an object, the same in every view (so a tab's count is the
    rows its table shows): the texts of the overview's and of its kind's columns (not the ages,
    which move), its ids, its users, its leak reason, its CONTAINER text (a name, or "ns INODE"
    for a namespace nothing names); lowercase."""
    texts = [escaped(col.text(obj, 0.0))
             for col in (*columns_for(None), *columns_for(obj.kind)) if not col.timed]
    texts += [obj.kind.label, obj.id, obj.name or "", obj.key or "", CONTAINER.get(obj) or "",
              *(u.comm for u in obj.users), *(str(u.pid) for u in obj.users),
              obj.leak.reason if obj.leak else ""]
    return " ".join(texts).lower()


_HAYSTACKS: dict[int, tuple[IpcObject, str]] = {}


def haystack(obj: IpcObject) -> str:
    """``haystack_text``, cached per object instance (the live collector hands out the same
    instance while an object does not change); for the search, which looks at a few rows."""
    cached = _HAYSTACKS.get(id(obj))
    if cached is not None and cached[0] is obj:
        return cached[1]
    hay = haystack_text(obj)
    if len(_HAYSTACKS) > 50_000:
        _HAYSTACKS.clear()
    _HAYSTACKS[id(obj)] = (obj, hay)
    return hay


def filter_matches(obj: IpcObject, needle: str) -> bool:
    """Does ``obj`` pass the filter ``needle`` (case-insensitive, across all columns)?"""
    needle = needle.strip().lower()
    return not needle or needle in haystack(obj)
