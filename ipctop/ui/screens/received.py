"""The messages a receive (or peek) returned: each with its type or priority, its size, its text
and a hex + ASCII dump. Escape or q closes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ipctop.actions import Message
from ipctop.display import shown
from ipctop.hexdump import hexdump
from ipctop.model import Kind

_MAX_DUMP = 4096
"""Bytes of each message dumped in hex (the text line shows it all)."""


def printable(data: bytes) -> str:
    """Message bytes as one line: UTF-8 with control characters, bidi and format characters
    and bytes that are not UTF-8 escaped (ipctop.display.shown)."""
    return shown(data)


def describe(message: Message, kind: Kind) -> str:
    label = {Kind.SYSV_MSG: "type", Kind.POSIX_MQ: "priority"}.get(kind)
    head = f"{label} {message.type} · " if label else ""
    return f"{head}{len(message.data)} bytes"


class ReceivedScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ReceivedScreen {
        align: center middle;
    }
    ReceivedScreen > #received {
        width: 90;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    ReceivedScreen .message-head {
        text-style: bold;
        margin-top: 1;
    }
    ReceivedScreen .message-dump {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, kind: Kind, messages: Sequence[Message]) -> None:
        super().__init__()
        self.title_text = title
        self.kind = kind
        self.messages = tuple(messages)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="received"):
            yield Static(shown(self.title_text), id="received-title", markup=False)
            for i, m in enumerate(self.messages):
                yield Static(f"#{i + 1}  {describe(m, self.kind)}", classes="message-head",
                             markup=False)
                yield Static(printable(m.data), classes="message-text", markup=False)
                if m.data:
                    more = len(m.data) - _MAX_DUMP
                    dump = hexdump(m.data[:_MAX_DUMP]).rstrip("\n")
                    if more > 0:
                        dump += f"\n… {more} more bytes"
                    yield Static(dump, classes="message-dump", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
