"""Usage against the kernel's limits, as text meters: "shm mem ▕███░░░▏ 42% 1.2G/3.0G".

Percentages and numbers are text, so the meters read the same without colour. What the meters
measure is computed in ipctop/meters.py (the exporter reports the same figures).
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


def render_meter(meter: Meter) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{meter.label:<9}", style="bold")
    frac = meter.fraction
    if frac is None:
        text.append("▕" + "·" * BAR + "▏   -% ")
    else:
        filled = round(frac * BAR)
        if meter.used and not filled:
            filled = 1
        style = "red" if frac >= 0.9 else "yellow" if frac >= 0.7 else "green"
        text.append("▕")
        text.append("█" * filled, style=style)
        text.append("░" * (BAR - filled))
        text.append(f"▏{round(frac * 100):>3}% ")
    fmt = human_bytes if meter.bytes else str
    limit = "?" if meter.limit is None else "unlimited" if meter.unlimited else fmt(meter.limit)
    text.append(f"{fmt(meter.used)}/{limit}")
    return text


class LimitMeters(Grid):
    """Two rows of three meters."""

    DEFAULT_CSS = """
    LimitMeters { grid-size: 3 2; grid-gutter: 0 1; height: 2; padding: 0 1; }
    LimitMeters > Static { height: 1; width: 1fr; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        for i in range(6):
            yield Static(id=f"meter-{i}", classes="meter")

    def update_meters(self, snapshot: Snapshot) -> None:
        for i, meter in enumerate(meters(snapshot)):
            update_static(self.query_one(f"#meter-{i}", Static), render_meter(meter),
                          layout=False)  # each meter is one line of fixed width
