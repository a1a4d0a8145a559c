"""Update a Static only when what it shows changes.

``Static.update`` always re-renders the widget and, by default, re-arranges the whole screen
(it cannot know the new content has the old size). Most of what ipctop shows is the same from one
poll to the next, and re-arranging a screen of tables for nothing is most of an idle TUI's CPU.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from textual.visual import VisualType
from textual.widgets import Static

_SHOWN: WeakKeyDictionary[Static, object] = WeakKeyDictionary()


def changed(widget: Static, shown: object) -> bool:
    """Note that ``widget`` now shows ``shown`` (content, or what stands for it: the rows of a
    rich Table, which does not compare by value); False if it already did."""
    if widget in _SHOWN and _SHOWN[widget] == shown:
        return False
    _SHOWN[widget] = shown
    return True


def update_static(widget: Static, content: VisualType, *, layout: bool = True) -> None:
    """``widget.update(content)`` unless it was last given equal content. ``layout=False`` for
    a widget whose size the content cannot change."""
    if changed(widget, content):
        widget.update(content, layout=layout)
