"""The filter line ("/"): filter as you type across all columns, Enter keeps it, Esc clears it.

The keys that follow "/" go to the filter box however fast they come (see FilterBox); "/", Enter
and Esc are priority bindings of the app, whose actions are here. A mixin of the app (see
ipctop/ui/host.py).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from ipctop.ui.host import host_of
from ipctop.ui.widgets.filter_box import FilterBox


class Filtering:
    def _filter_box(self) -> FilterBox:
        _host, app = host_of(self)
        return app.screen_stack[0].query_one("#filter", FilterBox)

    def _list_widget(self) -> DataTable[Any]:
        host, _app = host_of(self)
        return host.table if host.current_view is not None else host.event_log

    def filter_check(self, action: str) -> bool | None:
        """check_action for the filter's actions (None: not one of them)."""
        _host, app = host_of(self)
        box = self._filter_box()
        if action == "filter":  # "/" inside a text box is text
            return not isinstance(app.focused, Input)
        if action == "filter_done":
            return app.focused is box
        if action == "clear_filter":
            return app.focused is box or bool(box.value) or box.display
        return None

    def action_filter(self) -> None:
        _host, app = host_of(self)
        box = self._filter_box()
        box.display = True
        app.screen_stack[0].set_focus(box)  # at once: Widget.focus() waits for the queue

    def action_filter_done(self) -> None:
        _host, app = host_of(self)
        box = self._filter_box()
        box.display = bool(box.value)
        app.screen_stack[0].set_focus(self._list_widget())

    def action_clear_filter(self) -> None:
        _host, app = host_of(self)
        self.set_filter("")
        app.screen_stack[0].set_focus(self._list_widget())

    def set_filter(self, text: str) -> None:
        """Filter every view by ``text`` (the box shows it; hidden when empty)."""
        box = self._filter_box()
        box.value = text
        box.display = bool(text)
        self._filter_changed(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._filter_changed(event.value)

    def _filter_changed(self, text: str) -> None:
        host, _app = host_of(self)
        host.table.filter_text = text
        host.refresh_all()
