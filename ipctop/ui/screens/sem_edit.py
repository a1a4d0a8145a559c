"""Edit a semaphore (key ``e``): P (take), V (post), add any amount, or set a value.

Shows the values the latest snapshot saw; for a SysV set the index picks the semaphore. The
operation runs ``ipctop.actions.sem_op`` / ``sem_set`` in a thread and never waits longer than the
"Wait" field (0: fail at once when it would block).
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.widgets import Button, Static

from ipctop import actions
from ipctop.kinds import PosixSem, SysvSem
from ipctop.model import IpcObject, Kind
from ipctop.ui.screens.form import FormError, FormScreen, field


def current_values(obj: IpcObject) -> str:
    if isinstance(obj, SysvSem):
        if obj.values is None:
            return f"{obj.nsems} semaphores, values unknown"
        return "values: " + ", ".join(f"[{i}]={v}" for i, v in enumerate(obj.values))
    if isinstance(obj, PosixSem):
        return "value: " + ("unknown" if obj.value is None else str(obj.value))
    return ""


class SemEditForm(FormScreen[str]):
    ok_label = "Apply"

    def __init__(self, obj: IpcObject) -> None:
        super().__init__()
        self.obj = obj
        self.title_text = f"Edit {actions.object_name(obj.kind, obj.id)}"
        self._preset: int | None = None

    def compose_fields(self) -> ComposeResult:
        yield Static(current_values(self.obj), id="sem-values", classes="form-note",
                     markup=False)
        if self.obj.kind is Kind.SYSV_SEM:
            yield field("Index", "index", "0", "which semaphore of the set")
        yield field("Add (op)", "op", "", "-1 takes (P), +1 posts (V); SysV 0 waits for zero")
        yield field("Or set to", "set", "", "a value; leave empty to use Add")
        yield field("Wait (s)", "timeout", "0", "seconds an op may wait; 0 = do not wait")
        yield Button("P  (-1)", id="p-op")
        yield Button("V  (+1)", id="v-op")

    def busy_text(self) -> str:
        return "Waiting…" if self.seconds("timeout") else "Working…"

    @on(Button.Pressed, "#p-op")
    def _p(self) -> None:
        self._preset = -1
        self.submit()

    @on(Button.Pressed, "#v-op")
    def _v(self) -> None:
        self._preset = 1
        self.submit()

    def build(self) -> Callable[[], str]:
        kind, ident = self.obj.kind, self.obj.id
        preset, self._preset = self._preset, None
        index = (self.int_value("index", "index") or 0) if kind is Kind.SYSV_SEM else 0
        op = preset if preset is not None else self.int_value("op", "op")
        value = None if preset is not None else self.int_value("set", "set")
        timeout = self.seconds("timeout")
        if op is None and value is None:
            raise FormError("fill in Add (like -1 or +1) or Set to, or press P or V")
        if op is not None and value is not None:
            raise FormError("fill in Add or Set to, not both")
        name = actions.object_name(kind, ident) + (f"[{index}]" if kind is Kind.SYSV_SEM else "")

        def job() -> str:
            if op is not None:
                new = actions.sem_op(kind, ident, op, index=index, timeout=timeout)
                return f"{name}: op {op:+d}, now {new}"
            assert value is not None
            new = actions.sem_set(kind, ident, value, index=index)
            return f"{name}: set to {new}"

        return job
