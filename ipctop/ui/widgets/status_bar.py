"""The top line: host, time, refresh interval, live/paused, leaks, filter, counts (the sort is
shown by the table's header).

The line is made of parts with priorities: when the terminal is narrow the least important parts
go first (the brand, the host, the process count...), so what matters (paused or not, the leak
count, the filter) stays whatever the width. The leak count is white on red and bold, so it
stands out in colour, in greyscale and under NO_COLOR alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from ipctop.display import shown
from ipctop.fmt import human_bytes
from ipctop.model import Snapshot
from ipctop.ui.widgets.unchanged import update_static

LEAK_STYLE = "bold #ffffff on #a40000"
POLLING_MARK = "⟳"
"""Shown after the interval while a poll runs (the help screen says so)."""


def _interval(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    style: str = ""
    keep: int = 5
    """0: always shown; the higher, the sooner dropped when the line is too long."""


_LEAKS: list[tuple[Snapshot, tuple[int, int]]] = []


def leak_summary(snapshot: Snapshot) -> tuple[int, int]:
    """(leaks, bytes reclaimable) in ``snapshot``; counted once per snapshot, not at each tick
    of the clock (a pass over every object: 16,000 of them on a big machine)."""
    if _LEAKS and _LEAKS[0][0] is snapshot:
        return _LEAKS[0][1]
    leaks = [o.leak for o in snapshot.objects if o.leak is not None and o.leak.status == "leak"]
    summary = (len(leaks), sum(leak.reclaim_bytes for leak in leaks))
    _LEAKS[:] = [(snapshot, summary)]
    return summary


def status_parts(snapshot: Snapshot | None, *, now: float, interval: float, paused: bool,
                 polling: bool, filter_text: str) -> list[Part]:
    """The parts of the line, in the order shown."""
    parts = [Part(" ipctop ", "bold reverse", 6)]
    parts.append(Part(f" {shown(snapshot.hostname) if snapshot else '…'}", keep=5))
    parts.append(Part(" " + time.strftime("%H:%M:%S", time.localtime(now)), keep=3))
    if paused:
        parts.append(Part(" "))
        parts.append(Part("PAUSED", "bold reverse", 0))
    else:
        parts.append(Part(f" every {_interval(interval)}", keep=1))
    parts.append(Part(" " + (POLLING_MARK if polling else " "), keep=1))
    if snapshot is not None:
        leaks, reclaim = leak_summary(snapshot)
        if leaks:
            freed = human_bytes(reclaim)
            parts.append(Part(" "))
            parts.append(Part(f" {leaks} leak{'s' if leaks != 1 else ''}, {freed} "
                              "reclaimable ", LEAK_STYLE, 0))
            parts.append(Part(" L: reclaim", "dim", 4))
    if filter_text:
        parts.append(Part("  filter: ", "bold", 0))
        parts.append(Part(shown(filter_text), "reverse", 0))
    if snapshot is not None:
        parts.append(Part(f"  {len(snapshot.objects)} objects", keep=2))
        parts.append(Part(f"  {len(snapshot.processes)} procs", keep=4))
        if snapshot.unreadable.count:
            parts.append(Part(f"  {snapshot.unreadable.count} unreadable", "bold", 2))
    return parts


def fit_parts(parts: list[Part], width: int) -> Text:
    """The parts that fit in ``width`` cells, dropping the least important first."""
    kept = list(parts)
    while sum(len(p.text) for p in kept) > width:
        worst = max(p.keep for p in kept)
        if worst == 0:
            break
        drop = max(i for i, p in enumerate(kept) if p.keep == worst)
        del kept[drop]
    text = Text(no_wrap=True, overflow="ellipsis")
    for part in kept:
        text.append(part.text, style=part.style)
    return text


class StatusBar(Static):
    """One line of status; ``update_status`` re-renders it from plain values."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; background: $panel; color: $text; }
    """

    def update_status(self, snapshot: Snapshot | None, *, now: float, interval: float,
                      paused: bool, polling: bool, filter_text: str) -> None:
        parts = status_parts(snapshot, now=now, interval=interval, paused=paused,
                             polling=polling, filter_text=filter_text)
        width = self.size.width or self.app.size.width
        update_static(self, fit_parts(parts, width), layout=False)  # one line, always
