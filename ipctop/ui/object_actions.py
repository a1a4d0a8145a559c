"""Key bindings and actions that act on the selected object: n, s, r, a, e, d/Del.

Contract with app.py: ``IpcTopApp`` inherits this mixin and appends ``ObjectActions.BINDINGS`` to
its own (Textual only merges BINDINGS of DOMNode classes). The app provides ``selected_object``
(IpcObject | None), ``snapshot`` (Snapshot | None), ``current_view`` and ``request_poll()``.

Every action is a function of ipctop.actions run in a thread worker (a form runs its own; the
removal runs here), so a full queue or a semaphore wait never freezes the screen, and each waits
at most the timeout the user gave. Results and errors are notifications; a change also asks for a
poll so the table shows it at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Protocol, TypeVar, cast

from textual.app import App
from textual.binding import Binding, BindingType

from ipctop import actions, nsenter
from ipctop.actions import Message
from ipctop.errors import IpcError
from ipctop.model import IpcObject, Kind, Snapshot, User

MAX_USERS_LISTED = 6


class _Host(Protocol):
    """What the app gives the mixin (see the module docstring)."""

    @property
    def selected_object(self) -> IpcObject | None: ...

    snapshot: Snapshot | None

    def request_poll(self) -> None: ...


def inside(obj: IpcObject, job: Callable[[], object]) -> object:
    """``job()`` run where ``obj`` lives: here for ipctop's own namespaces, else in a helper
    inside its namespaces (see :class:`ipctop.nsenter.Inside`: through a member process, checked
    to be still in them). ``job`` returns plain data."""
    return nsenter.run_where(nsenter.Inside.of(obj), job)


def offer_for_create(snap: Snapshot | None, filter_text: str,
                     obj: IpcObject | None) -> nsenter.Inside | None:
    """The container (other namespaces) the New form offers to create in: the one the view is
    filtered to (the filter names exactly one, as the CONTAINER column spells it), else the one
    of the object under the cursor; None: the host."""
    if snap is None:
        return None
    foreign = _foreign(snap)
    wanted = filter_text.strip().lower()
    named = [label for label in foreign if wanted in label.lower()] if wanted else []
    if len(named) == 1:
        return foreign[named[0]]
    if obj is not None and obj.ns_pid is not None and obj.place is not None:
        return foreign.get(obj.place) or nsenter.Inside(
            obj.ns_pid, obj.ipc_ns, obj.mnt_ns, obj.place)
    return None


def _foreign(snap: Snapshot) -> dict[str, nsenter.Inside]:
    """label -> its namespaces, for every namespace of another container ipctop read. One
    container's IPC and mount namespaces go together; so do those of a member process when no
    container name joins them."""
    records = [n for n in snap.namespaces if not n.own and n.read]
    by_inode = {(n.type, n.inode): n for n in records}
    out: dict[str, nsenter.Inside] = {}
    for n in records:
        label = n.container or f"ns {n.inode}"
        have = out.get(label) or nsenter.Inside(n.pid, None, None, label)
        ipc, mnt = (n.inode, have.mnt) if n.type == "ipc" else (have.ipc, n.inode)
        if n.container is None:  # the member's other namespace, if it is a foreign one too
            now_ipc, now_mnt = nsenter.ns_inodes("/proc", n.pid)
            if n.type == "ipc" and ("mnt", now_mnt) in by_inode:
                mnt = now_mnt
            if n.type == "mnt" and ("ipc", now_ipc) in by_inode:
                ipc = now_ipc
        out[label] = replace(have, ipc=ipc, mnt=mnt)
    return out


_S = TypeVar("_S", str, None)


def _at(text: _S, where: nsenter.Inside | None) -> _S:
    """A result line, saying where it happened when that is not ipctop's own namespaces."""
    return text if text is None or where is None else f"{text} (inside {where.label})"


def users_lines(users: Sequence[User]) -> list[str]:
    """"Used by:" lines for the confirm box: one process per line, at most a few."""
    if not users:
        return ["Used by: no process (that ipctop can see)."]
    by_pid: dict[int, list[User]] = {}
    for u in users:
        by_pid.setdefault(u.pid, []).append(u)
    lines = [f"Used by {len(by_pid)} process{'es' if len(by_pid) != 1 else ''}:"]
    for pid, uses in list(by_pid.items())[:MAX_USERS_LISTED]:
        how = ", ".join(
            (f"fd {u.fd}" if u.fd is not None else "mapped") + (f" {u.access}" if u.access else "")
            for u in uses[:3])
        lines.append(f"  {pid} {uses[0].comm} ({how})")
    if len(by_pid) > MAX_USERS_LISTED:
        lines.append(f"  … and {len(by_pid) - MAX_USERS_LISTED} more")
    return lines


_NEEDS: dict[str, tuple[Kind, ...]] = {
    "send_message": actions.QUEUE_KINDS,
    "receive_message": actions.QUEUE_KINDS,
    "attach_shm": actions.SHM_KINDS,
    "edit_semaphore": actions.SEM_KINDS,
    "remove_object": actions.ACTION_KINDS,
}
"""The kinds each action works on: the footer offers it only on a selected object of those."""


class ObjectActions:
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_object", "New"),
        Binding("s", "send_message", "Send"),
        Binding("r", "receive_message", "Receive"),
        Binding("a", "attach_shm", "Attach"),
        Binding("e", "edit_semaphore", "Edit sem"),
        Binding("d,delete", "remove_object", "Remove", key_display="d"),
    ]
    FALLBACKS: ClassVar[list[BindingType]] = [
        Binding(keys, f"why_not('{action}')", "", show=False)
        for keys, action in (("n", "new_object"), ("s", "send_message"),
                             ("r", "receive_message"), ("a", "attach_shm"),
                             ("e", "edit_semaphore"), ("d,delete", "remove_object"))
    ]
    """The same keys when the action does not apply (hidden from the footer): they say why."""

    def object_action_check(self, action: str) -> bool | None:
        """check_action for these actions (None: not one of them)."""
        if action == "why_not":
            return self._on_table()
        if action == "new_object":
            kind = getattr(getattr(self, "current_view", None), "kind", None)
            return self._on_table() and (kind is None or kind in actions.ACTION_KINDS)
        kinds = _NEEDS.get(action)
        if kinds is None:
            return None
        obj = self._host.selected_object if self._on_table() else None
        return obj is not None and obj.kind in kinds

    def action_why_not(self, action: str) -> None:
        """A key whose action does not apply here: run it anyway, it says why not."""
        method = getattr(self, f"action_{action}", None)
        if callable(method):
            method()

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _ui(self) -> App[Any]:
        return cast("App[Any]", self)

    @property
    def _host(self) -> _Host:
        return cast(_Host, self)

    def _on_table(self) -> bool:
        """The keys act on the table's selection: from the main screen or its detail screen,
        never from a form, a confirm box or the attach view (their keys are their own)."""
        from ipctop.ui.screens.detail import DetailScreen

        screen = self._ui.screen
        return screen is self._ui.screen_stack[0] or isinstance(screen, DetailScreen)

    def _target(self, kinds: tuple[Kind, ...], verb: str) -> IpcObject | None:
        """The selected object if it is one of ``kinds``; otherwise say why not and None."""
        if not self._on_table():
            return None
        obj = self._host.selected_object
        if obj is None:
            self._ui.notify("Select an object first.", title=verb, severity="warning")
            return None
        if obj.kind not in kinds:
            names = ", ".join(actions.kind_name(k) for k in kinds)
            self._ui.notify(f"{verb} works on {names}, not on a {actions.kind_name(obj.kind)}.",
                            title=verb, severity="warning")
            return None
        return obj

    def _done(self, title: str, result: str | None) -> None:
        """A form or worker finished: say so and poll so the table shows the change."""
        if result is None:
            return
        self._ui.notify(result, title=title)
        self._host.request_poll()

    def _in_thread(self, title: str, job: Callable[[], str]) -> None:
        """Run ``job`` in a thread worker; its result or error becomes a notification."""
        ui = self._ui

        def run() -> None:
            try:
                text = job()
            except IpcError as err:
                outcome: tuple[str, str] = (str(err), "error")
            except Exception as err:  # a bug must not kill the app; say what it was
                outcome = (f"internal error: {type(err).__name__}: {err}", "error")
            else:
                outcome = (text, "information")
            with contextlib.suppress(RuntimeError):  # the app is closing
                ui.call_from_thread(self._finish, title, *outcome)

        ui.run_worker(run, thread=True, exit_on_error=False, group="object-action", name=title)

    def _finish(self, title: str, text: str, severity: str) -> None:
        if severity == "error":
            self._ui.notify(text, title=title, severity="error", timeout=8)
        else:
            self._done(title, text)

    # -- actions -------------------------------------------------------------------------------

    def action_new_object(self) -> None:
        from ipctop.ui.screens.create_form import CreateForm

        if not self._on_table():
            return
        view = getattr(self, "current_view", None)
        kind = getattr(view, "kind", None)
        snap = self._host.snapshot
        form = CreateForm(kind if isinstance(kind, Kind) else None, snap.limits if snap else None)
        filter_text = getattr(getattr(self, "table", None), "filter_text", "")
        form.offer = offer_for_create(snap, filter_text if isinstance(filter_text, str) else "",
                                      self._host.selected_object)

        def created(result: str | None) -> None:
            made = form.created
            if made is not None and made[0] is Kind.FIFO and form.created_in is None:
                # found only through open fds otherwise; a container's path means nothing here
                self.remember_fifo(made[1])
            self._done("New", result)

        self._ui.push_screen(form, created)

    def remember_fifo(self, path: str) -> None:
        """Keep the FIFO ``path`` listed although no process holds it open (the collector lists
        FIFOs through open fds only): those made here, and any path given to the New form."""
        paths = getattr(getattr(self, "collector", None), "fifo_paths", None)
        if isinstance(paths, set):
            paths.add(path)

    def action_send_message(self) -> None:
        from ipctop.ui.screens.send_form import SendForm

        obj = self._target(actions.QUEUE_KINDS, "Send")
        if obj is not None:
            form = SendForm(obj)
            form.where = where = nsenter.Inside.of(obj)
            self._ui.push_screen(form, lambda result: self._done("Send", _at(result, where)))

    def action_receive_message(self) -> None:
        from ipctop.ui.screens.recv_form import RecvForm

        obj = self._target(actions.QUEUE_KINDS, "Receive")
        if obj is None:
            return
        target = obj

        def received(messages: list[Message] | None) -> None:
            if messages is None:
                return
            self._show_messages(target, messages)

        form = RecvForm(obj)
        form.where = nsenter.Inside.of(obj)
        self._ui.push_screen(form, received)

    def _show_messages(self, obj: IpcObject, messages: list[Message]) -> None:
        from ipctop.ui.screens.received import ReceivedScreen

        name = _at(actions.object_name(obj.kind, obj.id), nsenter.Inside.of(obj))
        if not messages:
            self._ui.notify(f"nothing to receive from {name}", title="Receive",
                            severity="warning")
            return
        self._ui.push_screen(ReceivedScreen(
            f"{len(messages)} message{'s' if len(messages) != 1 else ''} from {name}",
            obj.kind, messages))
        self._host.request_poll()

    def action_attach_shm(self) -> None:
        from ipctop.ui.screens.attach import AttachScreen

        obj = self._target(actions.SHM_KINDS, "Attach")
        if obj is not None:
            self._ui.push_screen(AttachScreen(obj.kind, obj.id, where=nsenter.Inside.of(obj)))

    def action_edit_semaphore(self) -> None:
        from ipctop.ui.screens.sem_edit import SemEditForm

        obj = self._target(actions.SEM_KINDS, "Edit semaphore")
        if obj is not None:
            form = SemEditForm(obj)
            form.where = where = nsenter.Inside.of(obj)
            self._ui.push_screen(form, lambda result: self._done("Semaphore", _at(result, where)))

    def action_remove_object(self) -> None:
        obj = self._target(actions.ACTION_KINDS, "Remove")
        if obj is None:
            return
        target = obj
        holders = len(obj.pids)
        ui = self._ui

        def consequence() -> None:  # in a thread: reads /proc/sysvipc, opens POSIX objects
            try:
                text = str(inside(target, lambda: actions.describe_removal(
                    target.kind, target.id, holders=holders)))
            except IpcError as err:
                with contextlib.suppress(RuntimeError):
                    ui.call_from_thread(ui.notify, str(err), title="Remove", severity="error")
                return
            with contextlib.suppress(RuntimeError):
                ui.call_from_thread(self._confirm_removal, target, text)

        ui.run_worker(consequence, thread=True, exit_on_error=False, group="object-action",
                      name="describe removal")

    def _confirm_removal(self, obj: IpcObject, consequence: str) -> None:
        from ipctop.ui.screens.confirm import ConfirmScreen

        name = actions.object_name(obj.kind, obj.id)
        where = nsenter.Inside.of(obj)
        details = [*users_lines(obj.users), "", f"Consequence: {consequence}."]
        if where is not None:
            details.append(f"Inside {where.label} (entered through process {where.pid}).")
        # A SysV segment with attachers is only marked: a choice of its own, said as such.
        attached = obj.kind is Kind.SYSV_SHM and bool(getattr(obj, "nattch", 0))
        question = (f"Remove {name} while attached? It is only marked, and destroyed when the "
                    "last process detaches" if attached else f"Remove {name}?")

        def answered(yes: bool | None) -> None:
            if yes:
                self._in_thread("Remove", lambda: _at(str(inside(obj, lambda: actions.remove(
                    obj.kind, obj.id, holders=len(obj.pids), force_attached=attached))), where))
            else:
                self._ui.notify(f"kept {name}", title="Remove")

        self._ui.push_screen(ConfirmScreen(question, details, yes_label="Remove while attached"
                                           if attached else "Remove"), answered)
