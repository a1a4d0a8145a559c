"""The send form (key ``s`` on a queue or FIFO): the message, as text or hex, its SysV type or
POSIX priority, and how long to wait for room. Runs ``ipctop.actions.send`` in a thread."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.widgets import Checkbox, Static

from ipctop import actions
from ipctop.model import IpcObject, Kind
from ipctop.ui.screens.form import FormScreen, field


class SendForm(FormScreen[str]):
    ok_label = "Send"

    def __init__(self, obj: IpcObject) -> None:
        super().__init__()
        self.obj = obj
        self.title_text = f"Send to {actions.object_name(obj.kind, obj.id)}"

    def compose_fields(self) -> ComposeResult:
        yield field("Message", "data", "", "text, or hex bytes with the box below ticked")
        yield Checkbox("Message is hex (de ad be ef)", id="hex")
        if self.obj.kind is Kind.SYSV_MSG:
            yield field("Type", "type", "1", "message type >= 1")
        elif self.obj.kind is Kind.POSIX_MQ:
            yield field("Priority", "priority", "0", "0..32767, higher first")
        else:
            yield Static("A FIFO needs a process reading it.", classes="form-note")
        yield field("Wait (s)", "timeout", "0", "seconds to wait for room; 0 = do not wait")

    def busy_text(self) -> str:
        return "Sending…"

    def build(self) -> Callable[[], str]:
        raw = self.text("data")
        data = actions.parse_hex(raw) if self.query_one("#hex", Checkbox).value else raw.encode()
        kind, ident = self.obj.kind, self.obj.id
        mtype = self.int_value("type", "type") if kind is Kind.SYSV_MSG else None
        priority = self.int_value("priority", "priority") if kind is Kind.POSIX_MQ else None
        timeout = self.seconds("timeout")

        def job() -> str:
            actions.send(kind, ident, data, mtype=mtype, priority=priority, timeout=timeout)
            return f"sent {len(data)} bytes to {actions.object_name(kind, ident)}"

        return job
