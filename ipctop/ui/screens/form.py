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
from collections import deque
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
    AUTO_FOCUS = "Input"
    """The first input has the focus as soon as the form is composed."""

    title_text = "Form"
    ok_label = "OK"
    where: Inside | None = None
    """The namespaces of another container the action runs in; None: ipctop's own."""

    def __init__(self) -> None:
        super().__init__()
        self._held: deque[events.Key] = deque()
        """Keys routed to the form itself, not yet handed on (see :meth:`hold_key`)."""

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
        # Normally AUTO_FOCUS has focused the first input already, at once on compose. Not with
        # Widget.focus(): it waits in the app's queue behind keys typed meanwhile, and then
        # takes the focus back from the field a Tab among them moved to.
        first = self._first_input()
        if self.focused is None and first is not None:
            self.set_focus(first)

    def hold_key(self, event: events.Key) -> bool:
        """Called by the app with each key typed while this form is on top, before it routes
        the key. Until the form has the focus and has handled every key routed to it, the key
        goes to the form, behind those: routed at once, it would overtake them (Tab, a priority
        key, moves the focus as it arrives; the next key goes to the field focused meanwhile).
        True if held."""
        if self.focused is not None and not self._held:
            return False
        self._held.append(event)
        self._forward_event(event)
        return True

    def on_key(self, event: events.Key) -> None:
        """A key the form held (see :meth:`hold_key`), in the order typed: Tab moves the focus
        as the app's binding would; any other key goes to the focused field (a printable one
        with nothing focused to the first input), as if typed a moment later."""
        if not self._held or event is not self._held[0]:
            return  # bubbled up from a field: Textual's bindings take it from here
        self._held.popleft()
        if event.key in ("tab", "shift+tab"):
            (self.focus_next if event.key == "tab" else self.focus_previous)()
        else:
            target = self.focused or (self._first_input() if event.is_printable else None)
            if target is None:
                return  # nothing to type into: its binding (Escape) acts as the key bubbles up
            self.set_focus(target)
            # Routed as the app routes a typed key, so that it bubbles up to the app's binding
            # check (Escape, Enter) instead of stopping at the form that made it.
            target._forward_event(events.Key(event.key, event.character).set_sender(self.app))
        event.stop()
        event.prevent_default()

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
