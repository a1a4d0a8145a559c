"""A notice line under the table, for what the app wants to say without covering anything.

Start-up news (processes ipctop cannot read, a missing /dev/mqueue) used to be toasts, which at
80x24 covered half the table for seconds. This line takes its own rows below the table (the
table gives them up while it shows), says the latest notice for a while, then goes.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ipctop.display import shown

SHOW_FOR = 12.0
"""Seconds a notice stays."""


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
        """Every notice said (the help screen and tests read it)."""

    def say(self, text: str, severity: str = "information") -> None:
        """Show ``text`` (escaped: it quotes what the machine said) for SHOW_FOR seconds."""
        self.history.append(text)
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
