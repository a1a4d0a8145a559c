"""The base of every action form: labelled inputs, one error line, OK and Cancel.

A form parses its inputs into a call of one function from ipctop.actions and runs it in a thread
worker while the form stays open. Success dismisses the form with the action's result; an
IpcError (bad input the action refused before touching anything, permission denied, a full
queue...) shows as the form's error line so the user can fix the input and try again. Nothing here
reads /proc.

For an object of another namespace (a container's) the caller sets ``where``: the form says so
under its title, and the action runs in a forked helper inside those namespaces
(:class:`ipctop.nsenter.Inside`), still in the thread worker. What the action returns then
crosses a pipe as plain data, so ``build`` returns plain data and :meth:`FormScreen.finish` turns
it into the form's result here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from ipctop.display import shown
from ipctop.errors import IpcError
from ipctop.nsenter import Inside

R = TypeVar("R")


class FormError(Exception):
    """An input the form itself can tell is wrong (not a number, empty)."""


def field(label: str, field_id: str, value: str = "", placeholder: str = "") -> Widget:
    """A row: a label and an input with id ``field_id`` (the row's id is "row-" + field_id)."""
    return Horizontal(
        Label(label, classes="field-label"),
        Input(value=value, placeholder=placeholder, id=field_id, classes="field-input"),
        classes="field", id=f"row-{field_id}",
    )


class FormScreen(ModalScreen[R | None], Generic[R]):
    """Subclasses compose their fields in ``compose_fields`` and return the action to run from
    ``build`` (raising FormError for input they can reject themselves)."""

    DEFAULT_CSS = """
    FormScreen {
        align: center middle;
    }
    FormScreen > #form {
        width: 76;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    FormScreen .form-title {
        text-style: bold;
        margin-bottom: 1;
    }
    FormScreen .form-note {
        color: $text-muted;
        margin-bottom: 1;
    }
    FormScreen .field {
        height: auto;
    }
    FormScreen .field-label {
        width: 16;
        padding: 1 1 0 0;
    }
    FormScreen .field-input {
        width: 1fr;
    }
    FormScreen #form-error {
        color: $error;
        height: auto;
        margin-top: 1;
    }
    FormScreen #form-buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    FormScreen #form-buttons Button {
        margin-left: 2;
    }
    /* On a short terminal (80x24) every field is one line and the buttons stay on screen. */
    FormScreen.-compact > #form {
        padding: 0 1;
        border: round $accent;
    }
    FormScreen.-compact .form-title, FormScreen.-compact .form-note {
        margin-bottom: 0;
    }
    FormScreen.-compact .field-label {
        padding: 0 1 0 0;
    }
    FormScreen.-compact Input, FormScreen.-compact SelectCurrent {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FormScreen.-compact .field {
        margin-bottom: 1;
    }
    FormScreen.-compact #form-error, FormScreen.-compact #form-buttons {
        margin-top: 0;
    }
    FormScreen.-compact #form-buttons Button {
        height: 1;
        min-width: 10;
        border: none;
    }
    """
    COMPACT_BELOW = 40
    """Terminal heights below this get the compact form."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    title_text = "Form"
    ok_label = "OK"
    where: Inside | None = None
    """The namespaces of another container the action runs in; None: ipctop's own."""

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def build(self) -> Callable[[], Any]:
        """The action to run, returning plain data (see :meth:`finish`)."""
        raise NotImplementedError

    def finish(self, result: Any) -> R:
        """What ``build``'s action returned -> the form's result (here, on the UI thread)."""
        return result  # type: ignore[no-any-return]

    def target(self) -> Inside | None:
        """Where the action runs: ``where`` unless the form lets the user choose."""
        return self.where

    def where_text(self) -> str:
        where = self.where
        if where is None:
            return ""
        return f"Inside {where.label} (entered through process {where.pid})"

    def busy_text(self) -> str:
        return "Working…"

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            # the title names the object, the error line quotes errors: shown literally
            yield Static(shown(self.title_text), classes="form-title", id="form-title",
                         markup=False)
            if self.where_text():
                yield Static(shown(self.where_text()), classes="form-note", id="form-where",
                             markup=False)
            yield from self.compose_fields()
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button(self.ok_label, variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _first_input(self) -> Input | None:
        return next(iter(self.query(Input).results(Input)), None)

    def on_mount(self) -> None:
        first = self._first_input()
        if first is not None:
            first.focus()

    def on_key(self, event: events.Key) -> None:
        """A printable key that reached the form itself (an input stops every one it gets):
        typed in one burst with the key that opened the form, it was routed here before the
        first input had the focus. It goes to the input, as it would a moment later."""
        if not event.is_printable:
            return
        target = self.focused
        if target is None:
            target = self._first_input()
            if target is not None:
                self.set_focus(target)  # at once: Widget.focus() waits for the queue
        if isinstance(target, Input):
            target.post_message(events.Key(event.key, event.character))
            event.stop()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < self.COMPACT_BELOW, "-compact")

    # -- helpers for build() -------------------------------------------------------------------

    def text(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

    def int_value(self, field_id: str, name: str) -> int | None:
        """The field as an integer (decimal or 0x hex); None when blank."""
        raw = self.text(field_id).strip()
        if not raw:
            return None
        try:
            return int(raw, 0)
        except ValueError:
            raise FormError(f"{name} must be a whole number: {raw!r}") from None

    def size_value(self, field_id: str, name: str) -> int | None:
        """The field as bytes, read as the command line reads sizes ("4096", "64K", "1M");
        None when blank."""
        raw = self.text(field_id).strip()
        if not raw:
            return None
        from ipctop.fmt import parse_size

        try:
            return parse_size(raw)
        except ValueError as err:
            raise FormError(f"{name}: {err}") from None

    def seconds(self, field_id: str) -> float:
        raw = self.text(field_id).strip()
        if not raw:
            return 0.0
        from ipctop.fmt import parse_duration

        try:
            return parse_duration(raw)
        except ValueError as err:
            raise FormError(str(err)) from None

    def show_error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(shown(message))

    # -- flow ----------------------------------------------------------------------------------

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_button(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def submit(self) -> None:
        if self.query_one("#ok", Button).disabled:
            return
        try:
            job = self.build()
        except (FormError, IpcError) as err:
            self.show_error(str(err))
            return
        where = self.target()
        if where is not None:
            job = functools.partial(where.run, job)
        self.show_error("")
        self.query_one("#ok", Button).disabled = True
        self.query_one("#form-error", Static).update(self.busy_text())
        self.run_worker(job, thread=True, exit_on_error=False, group="form", exclusive=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker: Worker[Any] = event.worker
        if worker.group != "form":
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(self.finish(worker.result))
        elif event.state == WorkerState.ERROR:
            err = worker.error
            text = str(err) if isinstance(err, IpcError) else \
                f"internal error: {type(err).__name__}: {err}"
            self.show_error(text)
            self.query_one("#ok", Button).disabled = False
