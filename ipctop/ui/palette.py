"""Command palette entries (ctrl+p) for ipctop: views, pause, poll now, a filter per container,
sort by any column.

Textual's own entries (themes, quit, keys, screenshot) come first; these follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from textual.app import SystemCommand

from ipctop.columns import CONTAINER
from ipctop.ui.host import Host


def palette_commands(app: Host) -> Iterator[SystemCommand]:
    def view(index: int) -> Callable[[], None]:
        return lambda: app.action_view(index)

    def sort(column: str) -> Callable[[], None]:
        return lambda: app.set_sort(column)

    for i, v in enumerate(app.views):
        yield SystemCommand(f"View: {v.title}", f"Show {v.title} (key {i + 1})"
                            if i < 9 else f"Show {v.title}", view(i))
    yield SystemCommand("View: Events log", "Objects created, removed, changed (key l)",
                        app.action_show_events)
    yield SystemCommand("Pause / resume", "Stop or restart polling (key p)",
                        app.action_toggle_pause)
    yield SystemCommand("Poll now", "Collect a snapshot at once", app.request_poll)
    def only(name: str) -> Callable[[], None]:
        return lambda: app.set_filter(name)

    # As the CONTAINER column spells them: a name, or "ns INODE" where nothing names one.
    containers = sorted({where for o in app.snapshot.objects
                         if (where := CONTAINER.get(o)) is not None}) \
        if app.snapshot is not None else []
    for name in containers:
        yield SystemCommand(f"Filter: container {name}", "Show only this container's objects "
                            "(the / filter; Esc clears it)", only(name))
    for col in app.table.columns_spec:
        yield SystemCommand(f"Sort by {col.title}", "Sort the table by this column (key o)",
                            sort(col.key))
