"""The top line: host, time, refresh interval, live/paused, object count, unreadable, filter."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from ipctop.display import shown
from ipctop.fmt import human_bytes
from ipctop.model import Snapshot
from ipctop.ui.widgets.unchanged import update_static


def _interval(seconds: float) -> str:
    return f"{seconds:g}s"


class StatusBar(Static):
    """One line of status; ``update_status`` re-renders it from plain values."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; background: $panel; color: $text; }
    """

    def update_status(self, snapshot: Snapshot | None, *, now: float, interval: float,
                      paused: bool, polling: bool, filter_text: str, sort: str) -> None:
        host = shown(snapshot.hostname) if snapshot else "…"
        clock = time.strftime("%H:%M:%S", time.localtime(now))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ipctop ", style="bold reverse")
        text.append(f" {host}  {clock}  ")
        if paused:
            text.append("PAUSED", style="bold reverse")
        else:
            text.append(f"every {_interval(interval)}")
        text.append(" *" if polling else "  ")
        if filter_text:  # early: the end of the line is cut on narrow terminals
            text.append(" filter: ", style="bold")
            text.append(shown(filter_text), style="reverse")
            text.append(" ")
        if snapshot is not None:
            text.append(f" {len(snapshot.objects)} objects")
            text.append(f"  {len(snapshot.processes)} procs")
            if snapshot.unreadable.count:
                text.append(f"  {snapshot.unreadable.count} unreadable", style="bold")
            leaks = [o for o in snapshot.objects if o.leak is not None and o.leak.status == "leak"]
            if leaks:  # what reclaiming the leaks would free
                freed = human_bytes(sum(o.leak.reclaim_bytes for o in leaks if o.leak))
                text.append(f"  {len(leaks)} leak{'s' if len(leaks) != 1 else ''}, {freed} "
                            "reclaimable", style="bold red")
        if sort:
            text.append(f"  sort {sort}")
        update_static(self, text, layout=False)  # one line, always: never re-arrange for it
