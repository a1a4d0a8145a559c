"""The process pivot: one process, all the IPC it holds, and its signals.

Enter on an object dismisses the screen with that object's row key so the app can select it.
``k`` or F9 (htop's keys) send the process a signal: a chooser, then a Yes/No box that names the
process; the signal goes through a pidfd checked against the process shown (see
ipctop.actions.signals), in a thread.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from ipctop.display import shown
from ipctop.model import IpcObject, Process, Snapshot
from ipctop.ui.widgets.object_table import row_key_of


def held_by(snapshot: Snapshot, pid: int) -> list[tuple[IpcObject, str, str, str]]:
    """(object, fd-or-via, access) for every use of every object by ``pid``."""
    out = []
    for obj in snapshot.objects:
        for u in obj.users:
            if u.pid == pid:
                out.append((obj, str(u.fd) if u.fd is not None else u.via, u.access or "-",
                            u.via))
    return out


class ProcessScreen(Screen[str | None]):
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("k,f9", "kill", "Signal/kill", key_display="k"),
    ]

    def __init__(self, pid: int, snapshot: Snapshot) -> None:
        super().__init__()
        self.pid = pid
        self.snapshot = snapshot

    def compose(self) -> ComposeResult:
        yield Static(id="proc-info")
        yield Static(id="proc-signals")
        yield Label("IPC held (Enter: show it in the list)", id="proc-held-heading",
                    classes="detail-heading")
        table: DataTable[str] = DataTable(id="proc-held", cursor_type="row")
        table.add_column("KIND", key="kind")
        table.add_column("ID/NAME", key="ident")
        table.add_column("FD", key="fd")
        table.add_column("ACCESS", key="access")
        table.add_column("VIA", key="via")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.update_snapshot(self.snapshot)
        self.query_one("#proc-held", DataTable).focus()

    def update_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        proc = snapshot.process(self.pid)
        self.query_one("#proc-info", Static).update(self._info(proc))
        self.query_one("#proc-signals", Static).update(self._signals(proc))
        table = self.query_one("#proc-held", DataTable)
        keep = None
        if table.row_count:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for obj, fd, access, via in held_by(snapshot, self.pid):
            key = row_key_of(obj)
            if key in table.rows:
                continue
            table.add_row(*(Text(shown(cell)) for cell in (
                obj.kind.label, obj.name or obj.id, fd, access, via)), key=key)
        self.query_one("#proc-held-heading", Label).update(
            f"IPC held: {table.row_count} objects (Enter: show it in the list)")
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))

    def _info(self, proc: Process | None) -> Text | Table:
        if proc is None:
            return Text(f"Process {self.pid}: gone, or not readable", style="bold")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        rows = [("Process", f"{proc.pid} {proc.comm}"), ("command", proc.cmdline or "-"),
                ("user", f"{proc.user} ({proc.uid})"), ("parent", str(proc.ppid)),
                ("state", proc.state or "-"),
                ("ipc ns", str(proc.ipc_ns) if proc.ipc_ns else "-")]
        if proc.container is not None:  # set for processes outside ipctop's namespaces only
            rows += [("mnt ns", str(proc.mnt_ns) if proc.mnt_ns else "-"),
                     ("container", proc.container)]
        for label, value in rows:
            grid.add_row(Text(label), Text(shown(value)))
        return grid

    def _signals(self, proc: Process | None) -> Table | Text:
        if proc is None:
            return Text("")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        sig = proc.signals
        grid.add_row("pending", ", ".join(sig.pending) or "none")
        grid.add_row("blocked", ", ".join(sig.blocked) or "none")
        grid.add_row("ignored", ", ".join(sig.ignored) or "none")
        grid.add_row("caught", ", ".join(sig.caught) or "none")
        return grid

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        self.dismiss(None if key is None else str(key))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_kill(self) -> None:
        from ipctop.ui.screens.signal_choice import SignalScreen

        proc = self.snapshot.process(self.pid)
        if proc is None:
            self.app.notify(f"Process {self.pid} is gone.", title="Signal", severity="warning")
            return
        self.app.push_screen(SignalScreen(proc.pid, proc.comm),
                             lambda signum: self._confirm_signal(proc, signum))

    def _confirm_signal(self, proc: Process, signum: int | None) -> None:
        from ipctop.actions.signals import signal_name
        from ipctop.ui.screens.confirm import ConfirmScreen

        if signum is None:
            return
        name = signal_name(signum)
        held = len({row_key_of(obj) for obj, *_rest in held_by(self.snapshot, proc.pid)})
        details = [f"{proc.pid} {proc.comm}  ({proc.user})", f"command: {proc.cmdline or '-'}",
                   f"It holds {held} IPC object{'' if held == 1 else 's'}."]

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(proc, signum)

        self.app.push_screen(ConfirmScreen(f"Send {name} to process {proc.pid} {proc.comm}?",
                                           details, yes_label=f"Send {name}"), answered)

    def _send(self, proc: Process, signum: int) -> None:
        from ipctop.actions.signals import send_signal
        from ipctop.errors import IpcError

        app = self.app

        def job() -> None:
            try:
                text, severity = send_signal(proc.pid, signum, proc.start_time), "information"
            except IpcError as err:
                text, severity = str(err), "error"
            app.call_from_thread(app.notify, text, title="Signal", severity=severity)
            request = getattr(app, "request_poll", None)
            if callable(request):
                app.call_from_thread(request)

        app.run_worker(job, thread=True, exit_on_error=False, group="signal", name="signal")
