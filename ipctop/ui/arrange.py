"""How the user arranges what the app shows: the column chooser (F2), the processes with the
IPC they hold (F5), and whether the events log lists objects that live less than a poll (H).
A mixin of the app (see ipctop/ui/host.py).

The chooser's choices live in a :class:`ipctop.ui.column_prefs.ColumnPrefs` the app holds: its
``hidden`` dict is the very dict ``ObjectTable.hidden`` reads, and its order is applied where the
app hands the view's columns to the table; closing the chooser saves them when the app was
given a file.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

from ipctop.ui.column_prefs import ColumnPrefs
from ipctop.ui.host import host_of
from ipctop.ui.screens.columns import ColumnChooser
from ipctop.ui.screens.process_tree import ProcessTreeScreen
from ipctop.ui.widgets.filter_box import FilterBox
from ipctop.ui.widgets.notice_line import NoticeLine


class Arrange:
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority, as "/" and the view keys: handled in the app's own queue as the key
        # arrives, and the action awaits the new screen, so the keys typed after F2 or F5
        # act in it (not on the table behind, where "t" would open a second list).
        Binding("f2,C", "choose_columns", "Columns", key_display="F2", priority=True),
        Binding("f5,t", "process_tree", "Processes", key_display="F5", priority=True),
    ]

    column_prefs: ColumnPrefs

    def arrange_check(self, action: str) -> bool | None:
        """Columns for a table view only (the events log has its own); neither while a text
        box has the keys ("t" and "C" are letters there)."""
        host, app = host_of(self)
        if action not in ("choose_columns", "process_tree"):
            return None
        if isinstance(app.focused, Input):
            return False
        return action == "process_tree" or host.current_view is not None

    async def action_choose_columns(self) -> None:
        host, app = host_of(self)
        view = host.current_view
        if view is None:
            return
        prefs = self.column_prefs
        defaults = list(view.columns)
        table = host.table

        def apply(order: tuple[str, ...], hidden: frozenset[str]) -> dict[str, int]:
            prefs.set(view.id, order, hidden, [c.key for c in defaults])
            host.refresh_all()
            return dict(table.widths)

        def closed(_result: None) -> None:
            problem = prefs.save()
            if problem:
                app.notify(problem, title="Columns", severity="warning")

        order = [c.key for c in prefs.ordered(view.id, defaults)]
        sort_key = table.sort_column or (order[0] if order else None)
        chooser = ColumnChooser(view.title, defaults, order,
                                prefs.hidden.get(view.id, frozenset()), sort_key, apply)
        await app.push_screen(chooser, closed)  # mounted before the next key is handled
        chooser.ready()

    async def action_process_tree(self) -> None:
        host, app = host_of(self)
        snap = host.snapshot
        if snap is None:
            app.notify("Nothing collected yet.", title="Processes")
            return

        def chosen(key: str | None) -> None:
            if key is not None:
                host.show_object(key)

        box = app.screen_stack[0].query_one("#filter", FilterBox)
        if box.value != host.table.filter_text:  # typed just before F5: its Changed waits
            host.set_filter(box.value)

        screen = ProcessTreeScreen(snap, host.table.matches, host.table.filter_text,
                                   host.open_process)
        await app.push_screen(screen, chosen)  # mounted before the next key is handled
        screen.ready()

    def action_toggle_short_lived(self) -> None:
        """Log objects seen by one poll only (pipes of shell pipelines...), or count them."""
        host, app = host_of(self)
        live = host.live
        live.keep_short_lived = not live.keep_short_lived
        app.screen_stack[0].query_one(NoticeLine).say(
            "Events log: objects that live less than a poll are logged from now on (H hides "
            "them)." if live.keep_short_lived else
            f"Events log: objects that live less than a poll are counted, not logged "
            f"({live.short_lived} so far; H shows them).")
        host.refresh_all()
