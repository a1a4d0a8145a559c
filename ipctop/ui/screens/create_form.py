"""The "new object" form (key ``n``): the kind, its name or key, and only the options that kind
takes, with defaults and hints from the kernel's limits (``Snapshot.limits``).

Submitting runs ``ipctop.actions.create`` in a thread; the form closes with a one-line result
("created sysv-shm 32781 (key 0x00001234)") or shows why the kernel or the validation refused.

When the caller offers a container's namespaces (``offer``: the view is filtered to a container,
or the cursor is on one of its objects), a "Where" choice says so and creates inside them by
default; "on the host" creates in ipctop's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Input, Label, Select, Static

from ipctop import actions, display
from ipctop.model import SYSV_KINDS, Kind, Limits
from ipctop.nsenter import Inside
from ipctop.ui.screens.form import FormError, FormScreen, field

OPTION_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.SYSV_SHM: ("size",),
    Kind.SYSV_MSG: (),
    Kind.SYSV_SEM: ("nsems", "value"),
    Kind.POSIX_SHM: ("size",),
    Kind.POSIX_MQ: ("maxmsg", "msgsize"),
    Kind.POSIX_SEM: ("value",),
    Kind.FIFO: (),
}
"""The options ``actions.create`` takes per kind (the others are hidden)."""

ALL_OPTIONS = ("size", "maxmsg", "msgsize", "nsems", "value")

_NAME_HINT = {
    Kind.SYSV_SHM: "key: 0x1234abcd, 4660 or private",
    Kind.SYSV_MSG: "key: 0x1234abcd, 4660 or private",
    Kind.SYSV_SEM: "key: 0x1234abcd, 4660 or private",
    Kind.POSIX_SHM: "/name",
    Kind.POSIX_MQ: "/name",
    Kind.POSIX_SEM: "/name",
    Kind.FIFO: "path, like /tmp/myfifo",
}


def _default_name(kind: Kind) -> str:
    """What the form fills in as the name: a private SysV object; nothing for a named one."""
    return "private" if kind in SYSV_KINDS else ""


def _limit(value: int | None) -> str:
    return "?" if value is None else str(value)


class CreateForm(FormScreen[str]):
    title_text = "New IPC object"
    ok_label = "Create"

    def __init__(self, kind: Kind | None, limits: Limits | None) -> None:
        super().__init__()
        self.initial_kind = kind if kind in actions.ACTION_KINDS else None
        self.limits = limits or Limits()
        self.created: tuple[Kind, str] | None = None
        """(kind, id) of what the form created or found existing, once it has."""
        self.created_in: Inside | None = None
        """Where it was: None for ipctop's own namespaces."""
        self.offer: Inside | None = None
        """A container's namespaces to offer (set before the form is shown)."""
        self._asked: tuple[Kind, Inside | None] = (Kind.SYSV_SHM, None)
        self._default_name = ""
        """The name the form filled in itself (it follows the kind until the user types)."""

    def compose_fields(self) -> ComposeResult:
        kind = self.initial_kind or Kind.SYSV_SHM
        if self.offer is not None:
            yield Label("Where", classes="field-label")
            yield Select(((f"inside {self.offer.label}", "inside"),
                          ("on the host (ipctop's own namespaces)", "host")),
                         value="inside", allow_blank=False, id="where")
            yield Static("", id="create-where", classes="form-note", markup=False)
        yield Label("Kind", classes="field-label")
        yield Select(((actions.kind_name(k), k) for k in actions.ACTION_KINDS), value=kind,
                     allow_blank=False, id="kind")
        lim = self.limits
        self._default_name = _default_name(kind)
        yield field("Name or key", "name", self._default_name, _NAME_HINT[kind])
        yield field("Mode", "mode", "0600", "octal permission bits")
        yield field("Size", "size", str(lim.page_size),
                    f"bytes, or 64K, 1M; at most {_limit(lim.shmmax)} (shmmax) for SysV")
        yield field("Max messages", "maxmsg", str(lim.mq_msg_default or 10),
                    f"1..{_limit(lim.mq_msg_max)} (fs.mqueue.msg_max)")
        yield field("Message size", "msgsize", str(lim.mq_msgsize_default or 8192),
                    f"1..{_limit(lim.mq_msgsize_max)} (fs.mqueue.msgsize_max)")
        yield field("Semaphores", "nsems", "1", f"1..{_limit(lim.semmsl)} (SEMMSL)")
        yield field("Initial value", "value", "0", "0..32767 (SysV)")

    def on_mount(self) -> None:
        self._show_fields(self.kind)  # Name, the first input, has the focus (AUTO_FOCUS)

    @property
    def kind(self) -> Kind:
        value = self.query_one("#kind", Select).value
        return value if isinstance(value, Kind) else Kind.SYSV_SHM

    def on_select_changed(self, event: Select.Changed) -> None:
        self._show_fields(self.kind)

    def target(self) -> Inside | None:
        if self.offer is None or self.query_one("#where", Select).value != "inside":
            return None
        return self.offer.for_kind(self.kind)

    def where_note(self) -> str:
        """Where the kind chosen is created, in words (with an offer only)."""
        offer, place = self.offer, self.target()
        if offer is None:
            return ""
        if self.query_one("#where", Select).value != "inside":
            return "Created in ipctop's own namespaces."
        what = actions.kind_name(self.kind)
        if place is None:
            return (f"{offer.label} shares ipctop's {'IPC' if offer.ipc is None else 'mount'} "
                    f"namespace: a {what} is created there, as on the host.")
        ns = f"IPC namespace {place.ipc}" if place.ipc else f"mount namespace {place.mnt}"
        return f"Created inside {offer.label}: {ns}, entered through process {place.pid}."

    def _show_fields(self, kind: Kind) -> None:
        if self.offer is not None:
            self.query_one("#create-where", Static).update(display.shown(self.where_note()))
        wanted = OPTION_FIELDS[kind]
        for name in ALL_OPTIONS:
            self.query_one(f"#row-{name}").display = name in wanted
        name_input = self.query_one("#name", Input)
        name_input.placeholder = _NAME_HINT[kind]
        if name_input.value == self._default_name:
            # What the form filled in follows the kind ("private" is a SysV key only); what
            # the user typed stays.
            name_input.value = self._default_name = _default_name(kind)
        self.show_error("")

    def build(self) -> Callable[[], tuple[str, str]]:
        kind = self.kind
        name = self.text("name").strip()
        if not name:
            raise FormError(f"a {actions.kind_name(kind)} needs a {_NAME_HINT[kind]}")
        options: dict[str, int | None] = {
            opt: self.size_value(opt, opt) if opt == "size" else self.int_value(opt, opt)
            for opt in OPTION_FIELDS[kind]
        }
        mode = actions.parse_mode(self.text("mode").strip() or "0600")
        self._asked = (kind, self.target())

        def job() -> tuple[str, str]:  # plain data: it may come from another namespace
            result = actions.create(kind, name, mode=mode, **options)  # type: ignore[arg-type]
            what = actions.object_name(kind, result.id)
            key = f" (key {result.key})" if result.key else ""
            text = f"created {what}{key}" if result.created else f"{what}{key} already existed"
            return text, result.id

        return job

    def finish(self, result: Any) -> str:
        text, ident = result
        kind, self.created_in = self._asked
        self.created = (kind, ident)
        return f"{text} inside {self.created_in.label}" if self.created_in else str(text)
