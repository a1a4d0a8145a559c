"""The signal chooser of the process pivot (``k`` or F9, as in htop): pick a signal; the pivot
then asks for confirmation naming the process before anything is sent."""

from __future__ import annotations

import signal
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ipctop.display import shown

COMMON = (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
          signal.SIGUSR1, signal.SIGUSR2, signal.SIGSTOP, signal.SIGCONT)
"""First in the list, in htop's spirit: SIGTERM (the default) then the usual ones."""


def signal_choices() -> list[signal.Signals]:
    rest = sorted((s for s in signal.Signals if s not in COMMON and s.name.startswith("SIG")
                   and not s.name.startswith("SIG_")), key=int)
    return [*COMMON, *rest]


class SignalScreen(ModalScreen[int | None]):
    DEFAULT_CSS = """
    SignalScreen { align: center middle; }
    SignalScreen > #signal-box {
        width: 44; max-width: 95%; height: auto; max-height: 90%;
        border: round $error; background: $surface; padding: 0 1;
    }
    SignalScreen #signal-list { height: auto; max-height: 16; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(self, pid: int, comm: str) -> None:
        super().__init__()
        self.pid = pid
        self.comm = comm

    def compose(self) -> ComposeResult:
        with Vertical(id="signal-box"):
            yield Static(f"Send a signal to {self.pid} {shown(self.comm)}", id="signal-title")
            yield OptionList(*(Option(f"{int(s):>2} {s.name}", id=str(int(s)))
                               for s in signal_choices()), id="signal-list")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0) or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
