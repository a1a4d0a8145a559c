"""The filter line ("/") and the search line (F3), as in htop.

"/" filters as you type across all columns, Enter keeps the filter, Esc clears it. F3 searches
without hiding anything: the cursor jumps to the next row that matches as you type; Enter keeps
the term, then F3 finds the next match and Shift+F3 the previous one ("n" is "new object" here);
Ctrl+F opens the line again to change the term.

The keys that follow "/" or F3 go to the box however fast they come (see FilterBox); "/", F3,
Enter and Esc are priority bindings of the app, whose actions are here. A mixin of the app (see
ipctop/ui/host.py).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input

from ipctop.ui.host import host_of
from ipctop.ui.row_text import filter_matches
from ipctop.ui.widgets.filter_box import FilterBox


class Filtering:
    search_term = ""
    """What F3 looks for (kept after the search line closes)."""

    def _filter_box(self) -> FilterBox:
        _host, app = host_of(self)
        return app.screen_stack[0].query_one("#filter", FilterBox)

    def _search_box(self) -> FilterBox:
        _host, app = host_of(self)
        return app.screen_stack[0].query_one("#search", FilterBox)

    def _list_widget(self) -> DataTable[Any]:
        host, _app = host_of(self)
        return host.table if host.current_view is not None else host.event_log

    def filter_check(self, action: str) -> bool | None:
        """check_action for the filter's actions (None: not one of them)."""
        _host, app = host_of(self)
        box = self._filter_box()
        search = self._search_box()
        if action == "filter":  # "/" inside a text box is text
            return not isinstance(app.focused, Input)
        if action in ("search", "search_prev", "open_search"):  # the object table's rows
            host, _app = host_of(self)
            return app.focused is search or (not isinstance(app.focused, Input)
                                            and host.current_view is not None)
        if action == "filter_done":
            return app.focused is box or app.focused is search
        if action == "clear_filter":
            return app.focused in (box, search) or bool(box.value) or box.display
        return None

    def action_filter(self) -> None:
        _host, app = host_of(self)
        box = self._filter_box()
        box.display = True
        app.screen_stack[0].set_focus(box)  # at once: Widget.focus() waits for the queue

    def action_filter_done(self) -> None:
        _host, app = host_of(self)
        if app.focused is self._search_box():
            self._close_search()
            return
        box = self._filter_box()
        box.display = bool(box.value)
        app.screen_stack[0].set_focus(self._list_widget())

    def action_clear_filter(self) -> None:
        _host, app = host_of(self)
        if app.focused is self._search_box():
            self._close_search()
            return
        self.set_filter("")
        app.screen_stack[0].set_focus(self._list_widget())

    # -- search (F3) ---------------------------------------------------------------------------

    def action_search(self) -> None:
        """F3: the next match of the search term; with none yet, the search line."""
        _host, app = host_of(self)
        if app.focused is self._search_box() or self.search_term:
            self.find(1)
        else:
            self.action_open_search()

    def action_open_search(self) -> None:
        """Ctrl+F: the search line, with the last term to edit."""
        _host, app = host_of(self)
        box = self._search_box()
        self._filter_box().display = False  # the two lines share the bottom row
        box.value = self.search_term
        box.display = True
        app.screen_stack[0].set_focus(box)

    def action_search_prev(self) -> None:
        if self.search_term:
            self.find(-1)

    def _close_search(self) -> None:
        _host, app = host_of(self)
        self._search_box().display = False
        self._filter_box().display = bool(self._filter_box().value)
        app.screen_stack[0].set_focus(self._list_widget())

    def find(self, step: int, *, here: bool = False) -> bool:
        """Move the cursor to the next (step 1) or previous (-1) row matching the search term,
        wrapping around; ``here``: the current row counts. False (and a notice) when none."""
        host, app = host_of(self)
        table = host.table
        keys = table.row_keys_in_order()
        if not keys or not self.search_term:
            return False
        start = table.cursor_row if here else table.cursor_row + step
        for i in range(len(keys)):
            index = (start + i * step) % len(keys)
            obj = table.objects.get(keys[index])
            if obj is not None and filter_matches(obj, self.search_term):
                table.move_cursor(row=index)
                return True
        app.notify(f"no row matches {self.search_term!r}", title="Search", severity="warning",
                   timeout=3)
        return False

    def set_filter(self, text: str) -> None:
        """Filter every view by ``text`` (the box shows it; hidden when empty)."""
        box = self._filter_box()
        box.value = text
        box.display = bool(text)
        self._filter_changed(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._filter_changed(event.value)
        elif event.input.id == "search":
            self.search_term = event.value
            if event.value:
                self.find(1, here=True)

    def _filter_changed(self, text: str) -> None:
        host, _app = host_of(self)
        host.table.filter_text = text
        host.refresh_all()
