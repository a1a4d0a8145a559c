"""Usage against the kernel's limits, as text meters: "shm mem ▕███░░░▏ 42% 1.2G/3.0G".

Percentages and numbers are text, so the meters read the same without colour.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.containers import Grid
from textual.widgets import Static

from ipctop.fmt import human_bytes
from ipctop.model import Kind, Snapshot, SysvShm
from ipctop.ui.widgets.unchanged import update_static

BAR = 8
UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class Meter:
    label: str
    used: int
    limit: int | None
    bytes: bool = False

    @property
    def unlimited(self) -> bool:
        """The kernel's "no limit" values (shmall defaults to nearly 2**64 pages)."""
        return self.limit is not None and self.limit >= UNLIMITED

    @property
    def fraction(self) -> float | None:
        if not self.limit or self.unlimited:
            return None
        return min(1.0, self.used / self.limit)

    def render_text(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{self.label:<9}", style="bold")
        frac = self.fraction
        if frac is None:
            text.append("▕" + "·" * BAR + "▏   -% ")
        else:
            filled = round(frac * BAR)
            if self.used and not filled:
                filled = 1
            style = "red" if frac >= 0.9 else "yellow" if frac >= 0.7 else "green"
            text.append("▕")
            text.append("█" * filled, style=style)
            text.append("░" * (BAR - filled))
            text.append(f"▏{round(frac * 100):>3}% ")
        fmt = human_bytes if self.bytes else str
        limit = "?" if self.limit is None else "unlimited" if self.unlimited else fmt(self.limit)
        text.append(f"{fmt(self.used)}/{limit}")
        return text


def meters(snapshot: Snapshot) -> list[Meter]:
    """The six meters the header shows, from one snapshot."""
    lim = snapshot.limits
    shm = [o for o in snapshot.objects if isinstance(o, SysvShm)]
    shm_bytes = sum(o.size or 0 for o in shm)
    shmall = lim.shmall * lim.page_size if lim.shmall is not None else None

    def count(kind: Kind) -> int:
        return sum(1 for o in snapshot.objects if o.kind is kind)

    return [
        Meter("shm mem", shm_bytes, shmall, bytes=True),
        Meter("shm segs", len(shm), lim.shmmni),
        Meter("msg qs", count(Kind.SYSV_MSG), lim.msgmni),
        Meter("sem sets", count(Kind.SYSV_SEM), lim.semmni),
        Meter("posix mq", count(Kind.POSIX_MQ), lim.mq_queues_max),
        Meter("/dev/shm", lim.devshm_used or 0, lim.devshm_size, bytes=True),
    ]


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
            update_static(self.query_one(f"#meter-{i}", Static), meter.render_text(),
                          layout=False)  # each meter is one line of fixed width
