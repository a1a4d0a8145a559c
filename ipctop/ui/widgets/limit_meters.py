"""Usage against the kernel's limits, as text meters: "shm mem [███▍    ] 42% 1.2G/3.0G".

Percentages and numbers are text, so the meters read the same without colour. What the meters
measure is computed in ipctop/meters.py (the exporter reports the same figures). The bar is drawn
in eighths of a cell, so 0.1% is an empty bar (never a full block) and the percentage says "<1%".
On a narrow terminal the bars go and the numbers stay: "shm mem  1% 57M/4.0G".
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Grid
from textual.widgets import Static

from ipctop.fmt import human_bytes
from ipctop.meters import Meter, meters
from ipctop.model import Snapshot
from ipctop.ui.widgets.unchanged import update_static

BAR = 8
EIGHTHS = " ▏▎▍▌▋▊▉"
"""A cell filled 0/8 .. 7/8 from the left."""


def percent(meter: Meter) -> str:
    """"42%", "<1%" for a little above nothing, "-%" without a limit."""
    frac = meter.fraction
    if frac is None:
        return "-%"
    if meter.used and round(frac * 100) == 0:
        return "<1%"
    return f"{round(frac * 100)}%"


def bar(meter: Meter) -> str:
    """BAR cells filled in eighths: "███▌    "."""
    frac = meter.fraction or 0.0
    full, part = divmod(round(frac * BAR * 8), 8)
    cells = "█" * full + (EIGHTHS[part] if part and full < BAR else "")
    return cells.ljust(BAR)


def render_meter(meter: Meter, compact: bool = False) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{meter.label:<9}", style="bold")
    frac = meter.fraction
    if not compact:
        style = ("" if frac is None else "red" if frac >= 0.9 else
                 "yellow" if frac >= 0.7 else "green")
        text.append("[")
        text.append(bar(meter) if frac is not None else "·" * BAR, style=style)
        text.append("]")
    text.append(f"{percent(meter):>4} ")
    fmt = human_bytes if meter.bytes else str
    limit = "?" if meter.limit is None else "∞" if meter.unlimited else fmt(meter.limit)
    text.append(f"{fmt(meter.used)}/{limit}")
    return text


class LimitMeters(Grid):
    """Two rows of three meters."""

    DEFAULT_CSS = """
    LimitMeters { grid-size: 3 2; grid-gutter: 0 1; height: 2; padding: 0 1; }
    LimitMeters > Static { height: 1; width: 1fr; }
    """

    compact = False
    """No bars, numbers only (set by the app on a narrow terminal)."""

    def compose(self):  # type: ignore[no-untyped-def]
        for i in range(6):
            yield Static(id=f"meter-{i}", classes="meter")

    def update_meters(self, snapshot: Snapshot) -> None:
        for i, meter in enumerate(meters(snapshot)):
            update_static(self.query_one(f"#meter-{i}", Static),
                          render_meter(meter, self.compact),
                          layout=False)  # each meter is one line of fixed width
