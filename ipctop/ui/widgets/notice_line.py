"""A notice line under the table, for what the app wants to say without covering anything.

Start-up news (processes ipctop cannot read, a missing /dev/mqueue) used to be toasts, which at
80x24 covered half the table for seconds. This line takes its own rows below the table (the
table gives them up while it shows), says the latest notice for a while, then goes. A notice
too long for three lines at 80 columns is said short here, and in full in the help screen (``?``),
which lists every notice of the session.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ipctop.display import shown
from ipctop.model import Snapshot

SHOW_FOR = 12.0
"""Seconds a notice stays."""


def unreadable_notice(snap: Snapshot, is_root: bool) -> str:
    """Say how many processes could not be read, why, and what to do about it (in full)."""
    from ipctop.snapshot import unreadable_advice

    n = snap.unreadable.count
    why = f" ({snap.unreadable.sample[0]})" if snap.unreadable.sample else ""
    return (f"{n} process{'es' if n != 1 else ''} could not be read{why}: "
            f"{unreadable_advice(is_root)}.")


def unreadable_short(snap: Snapshot, is_root: bool) -> str:
    """The same in two lines at 80 columns: the count, the first reason, what is missing."""
    n = snap.unreadable.count
    why = snap.unreadable.sample[0] if snap.unreadable.sample else ""
    why = f" ({why[:37] + '…' if len(why) > 38 else why})" if why else ""
    who = "even as root" if is_root else "not root"
    return (f"{n} process{'es' if n != 1 else ''} could not be read, {who}{why}: their pipes "
            f"and maps are missing. ? says more.")


class NoticeLine(Static):
    DEFAULT_CSS = """
    NoticeLine { height: auto; max-height: 3; padding: 0 1; background: $boost; display: none; }
    NoticeLine.-warning { color: $text-warning; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current: list[tuple[str, str]] = []
        """(text, severity) shown now, oldest first."""
        self.history: list[str] = []
        """Every notice said, in full (the help screen and tests read it)."""

    def say(self, text: str, severity: str = "information", more: str = "") -> None:
        """Show ``text`` (escaped: it quotes what the machine said) for SHOW_FOR seconds;
        ``more``: the whole story, for the help screen."""
        self.history.append(more or text)
        item = (text, severity)
        self.current.append(item)
        self._show()
        self.set_timer(SHOW_FOR, lambda: self._expire(item))

    def _expire(self, item: tuple[str, str]) -> None:
        if item in self.current:
            self.current.remove(item)
        self._show()

    def _show(self) -> None:
        self.display = bool(self.current)
        self.set_class(any(sev != "information" for _t, sev in self.current), "-warning")
        self.update(Text("\n".join(shown(t) for t, _sev in self.current)))
