"""The help screen (? or F1): every key binding of the app, the views, and what markers mean."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ipctop.display import shown

EXTRA_KEYS = (
    ("1..9", "Switch to view 1..9 (the numbers on the tabs)"),
    ("↑ ↓ PgUp PgDn", "Move in the table"),
    ("Enter", "Details of the object; on a user: the process"),
    ("ctrl+p", "Command palette (views, sort, themes)"),
    ("Space [ ]", "In the column chooser (F2): show/hide the column; move it up/down"),
    ("t", "In the processes (F5): tree by parent or grouped by process"),
    ("k / F9", "In the process pivot: send the process a signal (chooser, then Yes/No)"),
    ("g  /  n", "In the attach view: go to an offset; find text or hex:de ad; next match"),
)

ABOUT = """\
Kinds beyond SysV and POSIX: Anon shm is shared anonymous memory (mmap MAP_SHARED inherited
across fork, as PostgreSQL and nginx use it); memfd is memfd_create memory, held by fd or mapped;
eventfd is listed when two or more processes hold one; TCP/UDP shows connections whose two ends
are processes on this machine, and listeners with a local client. Shared maps lists files that
two or more processes map shared.

Rows: "+" marks an object that appeared in the last poll, "-" (dimmed) one that is gone and
will leave at the next poll. Enter opens the details; in the details, Enter on a user opens that
process with all the IPC it holds and its signals. Click a column header to sort by it (numbers
largest first, names in natural order), click again to reverse; the header's arrow shows the
sort, and each view keeps its own. "/" filters (the tab counts follow); F3 searches without
hiding rows. Narrow terminals hide the less important columns (never LEAK) and show the details
below the table or, smaller still, only on Enter.

Status line: "⟳" after the interval means a poll is running now. The Events tab counts objects
that lived less than one poll ("+N brief", the pipes of shell pipelines): H logs them too.

The footer shows only the keys that apply to the selected object; the others say why not.

The command palette (ctrl+p) switches views and themes. Escape or q closes this help."""
"""Paragraphs, blank-line separated; the screen joins each into one line so that it wraps at the
width of the help box (kept as they are, the lines wrapped again on a narrow terminal, every
other line a stub)."""


def about_text() -> str:
    """ABOUT as shown: one line per paragraph."""
    return "\n".join(" ".join(p.split()) for p in ABOUT.split("\n\n"))


def binding_rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) for each binding that has a description, merged by description."""
    out: dict[str, list[str]] = {}
    for b in bindings:
        binding = b if isinstance(b, Binding) else Binding(*b)
        if not binding.description:
            continue
        keys = [k.strip() for k in binding.key.split(",")]
        shown = binding.key_display or ", ".join(keys)
        out.setdefault(binding.description, []).append(shown)
    return [(" / ".join(dict.fromkeys(keys)), desc) for desc, keys in out.items()]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", show=False),
    ]

    def __init__(self, bindings: list[BindingType], views: list[str],
                 notices: Sequence[str] = ()) -> None:
        super().__init__()
        self.binding_list = bindings
        self._views = views
        self._notices = tuple(dict.fromkeys(notices))

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
        table.add_column("KEY", no_wrap=True)
        table.add_column("ACTION")
        for keys, desc in binding_rows(self.binding_list):
            table.add_row(keys, desc)
        for keys, desc in EXTRA_KEYS:
            table.add_row(keys, desc)
        views = Text("Views: ", style="bold")
        views.append("  ".join(f"{i}:{v}" if i <= 9 else v
                               for i, v in enumerate(self._views, 1)))
        with VerticalScroll(id="help-body"):
            yield Static(Text("ipctop help", style="bold"), id="help-title")
            if self._notices:  # first: the notice line sends the reader here for the rest
                said = Text("Notices of this session\n", style="bold")
                for notice in self._notices:
                    said.append(f"• {shown(notice)}\n", style="")
                yield Static(said, id="help-notices")
            yield Static(table, id="help-keys")
            yield Static(views, id="help-views")
            yield Static(about_text(), id="help-about")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
