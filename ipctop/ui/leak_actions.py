"""Key bindings and actions for leak hunting in the TUI (issue 5: the reclaim action).

Same contract as object_actions.py: the app inherits the mixin and appends its BINDINGS.
"""

from __future__ import annotations

from textual.binding import BindingType


class LeakActions:
    BINDINGS: list[BindingType] = []
