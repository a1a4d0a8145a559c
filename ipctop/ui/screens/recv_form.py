"""The receive form (key ``r`` on a queue or FIFO): how many, how long to wait, a SysV type
filter, and peek (SysV queues only: copy without taking). Runs ``ipctop.actions.receive`` in a
thread and closes with the messages (an empty list when nothing arrived in time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Checkbox, Static

from ipctop import actions
from ipctop.actions import Message
from ipctop.model import IpcObject, Kind
from ipctop.ui.screens.form import FormScreen, field


class RecvForm(FormScreen[list[Message]]):
    ok_label = "Receive"

    def __init__(self, obj: IpcObject) -> None:
        super().__init__()
        self.obj = obj
        self.title_text = f"Receive from {actions.object_name(obj.kind, obj.id)}"

    def compose_fields(self) -> ComposeResult:
        yield field("Count", "count", "1", "take up to this many messages")
        yield field("Wait (s)", "timeout", "0", "seconds to wait in all; 0 = do not wait")
        if self.obj.kind is Kind.SYSV_MSG:
            yield field("Type", "type", "0", "0 any, N only type N, -N lowest type <= N")
            yield Checkbox("Peek: copy without taking them (by position)", id="peek")
        elif self.obj.kind is Kind.POSIX_MQ:
            yield Static("POSIX queues cannot be peeked: receiving takes the messages.",
                         classes="form-note")
        else:
            yield Static("Reading a FIFO takes the bytes out of it.", classes="form-note")

    def busy_text(self) -> str:
        return "Receiving…"

    def build(self) -> Callable[[], list[tuple[bytes, int]]]:
        kind, ident = self.obj.kind, self.obj.id
        count = self.int_value("count", "count")
        timeout = self.seconds("timeout")
        mtype: int | None = None
        peek = False
        if kind is Kind.SYSV_MSG:
            peek = self.query_one("#peek", Checkbox).value
            mtype = self.int_value("type", "type") or None  # 0 (any) is the default

        def job() -> list[tuple[bytes, int]]:  # plain data: it may come from another namespace
            return [(m.data, m.type) for m in actions.receive(
                kind, ident, mtype=mtype, timeout=timeout, peek=peek,
                count=1 if count is None else count)]

        return job

    def finish(self, result: Any) -> list[Message]:
        return [Message(data, mtype) for data, mtype in result]
