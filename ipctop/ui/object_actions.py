"""Key bindings and actions that act on the selected object (issue 4: n, s, r, a, e, d/Del).

Contract with app.py: ``IpcTopApp`` inherits this mixin and appends ``ObjectActions.BINDINGS`` to
its own (Textual only merges BINDINGS of DOMNode classes). The app provides:
``selected_object`` (IpcObject | None), ``snapshot`` (Snapshot | None), ``request_poll()``.
Until the actions land, the mixin adds no bindings.
"""

from __future__ import annotations

from textual.binding import BindingType


class ObjectActions:
    BINDINGS: list[BindingType] = []
