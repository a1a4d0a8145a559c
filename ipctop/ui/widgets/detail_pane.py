"""Everything about one object: every field, its users, queue depth over time, semaphore values,
and a hex preview of shared memory (read without attaching; see ipctop/preview.py).

The preview is read off the UI thread (ipctop/ui/preview_loader.py) with the app's
``previewer``: the pane shows "reading…" until it arrives, says so when the read does not
answer at once, and keeps the last contents of the same object while a fresh read is out.

Selecting a user row (Enter or click) posts :class:`DetailPane.ProcessRequested`, which the app
answers with the process pivot screen.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Label, Sparkline, Static

from ipctop.columns import listener_field_text, listening
from ipctop.display import shown
from ipctop.fmt import human_age, human_bytes
from ipctop.kinds import SysvSem
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.preview import PREVIEWED, Preview, hexdump
from ipctop.preview import preview as preview_of
from ipctop.ui.preview_loader import PreviewLoader
from ipctop.ui.widgets.unchanged import changed, update_static

_BYTE_FIELDS = frozenset({"size", "bytes", "rss", "swap", "capacity", "msgsize", "send_bytes",
                          "allocated"})
_TIME_FIELDS = frozenset({"ctime", "atime", "dtime", "stime", "rtime", "otime", "mtime"})
MAX_USERS = 500
"""Uses listed in the users table (a shared library map can have thousands)."""
_USERS_MAX_HEIGHT = 12
"""Lines of the users table, header included; it scrolls beyond."""
_TIME_NOTES: dict[tuple[Kind, str], str] = {
    (Kind.POSIX_MQ, "mtime"): "last send or receive",
    (Kind.POSIX_MQ, "ctime"): "moved by every read of its file, ipctop's too",
}
"""What a time means where its name would mislead: a queue's ctime moves whenever anyone reads
/dev/mqueue/NAME (each poll of ipctop's own), its mtime only with send and receive."""
_FIRST_TIME = {Kind.POSIX_MQ: "mtime"}
"""The time that says most about the kind, shown where ctime would be (ctime follows it)."""
_SKIP = frozenset({"users", "leak", "values", "sempids", "ncnt", "zcnt"})
_ONLY_WHEN_SET = frozenset({"in_use", "in_use_why", "ipc_ns", "mnt_ns", "container", "ns_pid"})
"""Fields shown only when they say something (the lease probe ran; namespaces were read)."""


def field_text(name: str, value: Any, now: float, obj: IpcObject | None = None) -> str:
    """A field's value for people: sizes human and exact, times as age and UTC."""
    if value is None:
        return "-"
    if obj is not None and listening(obj) and isinstance(value, int):
        text = listener_field_text(name, value)
        if text is not None:
            return text
    if name in _BYTE_FIELDS and isinstance(value, int):
        return f"{human_bytes(value)} ({value})"
    if name in _TIME_FIELDS and isinstance(value, (int, float)):
        if not value:
            return "never"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))
        return f"{human_age(value, now)} ago ({stamp} UTC)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):  # a memfd with no seals has seals (), which is not unknown
        return ", ".join(str(v) for v in value) or ("none" if name == "seals" else "-")
    return str(value)


def uses_text(obj: IpcObject) -> str:
    """"2 processes" or "1 process, 2 uses" (an fd and a mapping are two uses)."""
    procs = len(obj.pids)
    text = f"{procs} process{'' if procs == 1 else 'es'}"
    if len(obj.users) != procs:
        text += f", {len(obj.users)} uses"
    return text


def title_of(obj: IpcObject) -> str:
    if obj.name:
        return f"{obj.kind.label} {obj.name}"
    return f"{obj.kind.label} {obj.id}" + (f" (key {obj.key})" if obj.key else "")


class DetailPane(VerticalScroll):
    """The selected object's details. Call ``show`` with each new snapshot."""

    DEFAULT_CSS = """
    DetailPane { height: 1fr; padding: 0 1; }
    DetailPane > .detail-heading { text-style: bold; margin-top: 1; }
    DetailPane > #detail-title { text-style: bold reverse; width: 1fr; }
    DetailPane > #detail-spark { height: 3; }
    """

    @dataclass
    class ProcessRequested(Message):
        """The user picked a process in the users table."""

        pid: int

    @dataclass
    class PreviewRead(Message):
        """A preview read in the loader's thread, for the object with ``key``."""

        key: Hashable
        preview: Preview

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.object: IpcObject | None = None
        self._preview: Preview | None = None
        self._preview_key: Hashable | None = None
        self._loader: PreviewLoader | None = None
        self._users_shown: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("No object selected", id="detail-title")
        yield Static(id="detail-leak")
        yield Static(id="detail-fields")
        yield Label("Semaphores", classes="detail-heading", id="detail-sems-heading")
        yield Static(id="detail-sems")
        yield Label("Queue depth", classes="detail-heading", id="detail-spark-heading")
        yield Sparkline([], id="detail-spark")
        yield Label("Users (Enter: process)", classes="detail-heading", id="detail-users-heading")
        users: DataTable[str] = DataTable(id="detail-users", cursor_type="row")
        users.add_column("PID", key="pid")
        users.add_column("COMMAND", key="comm")
        users.add_column("USER", key="user")
        users.add_column("FD", key="fd")
        users.add_column("ACCESS", key="access")
        yield users
        yield Label("Contents", classes="detail-heading", id="detail-hex-heading")
        yield Static(id="detail-hex")

    def _toggle(self, name: str, on: bool) -> None:
        for wid in (f"#detail-{name}", f"#detail-{name}-heading"):
            self.query_one(wid).display = on

    def show(self, obj: IpcObject | None, snapshot: Snapshot | None, *, now: float,
             history: Sequence[float] = (), preview: Preview | None = None,
             gone: bool = False) -> None:
        self.object = obj
        title = self.query_one("#detail-title", Static)
        if obj is None:
            self._preview_key = None
            update_static(title, "No object selected")
            for part in ("fields", "leak"):
                update_static(self.query_one(f"#detail-{part}", Static), "")
            for name in ("sems", "spark", "users", "hex"):
                self._toggle(name, False)
            return
        update_static(title, Text(shown(title_of(obj)) + ("  (removed)" if gone else "")))
        self._show_leak(obj)
        self._show_fields(obj, now)
        self._show_sems(obj)
        self._toggle("spark", bool(history))
        if history:
            self.query_one("#detail-spark", Sparkline).data = list(history)
            heading = self.query_one("#detail-spark-heading", Label)
            update_static(heading, f"Depth over {len(history)} polls: now {history[-1]:g}, "
                                   f"max {max(history):g}")
        self._show_users(obj, snapshot)
        if preview is not None or gone or not isinstance(obj, PREVIEWED):
            self._preview_key = None
            self._show_preview(preview)
        else:
            self._want_preview(obj)

    def _want_preview(self, obj: IpcObject) -> None:
        """Ask for a fresh preview of ``obj``; meanwhile show the last one of the same object,
        or "reading…"."""
        key = (obj.kind, obj.id)
        if self._loader is None:
            previewer = getattr(self.app, "previewer", preview_of)
            self._loader = PreviewLoader(previewer, lambda k, p: self.post_message(
                self.PreviewRead(k, p)))
        quick = self._loader.want(key, obj)
        if quick is not None:
            self._preview_key = key
            self._show_preview(quick)
            return
        if key != self._preview_key:
            self._preview_key = key
            self._show_preview(Preview(None, "reading…"))
        self.set_timer(self._loader.slow + 0.05, self._check_stuck)

    def _check_stuck(self) -> None:
        key = self._preview_key
        waited = None if self._loader is None or key is None else self._loader.stuck(key)
        if waited is not None:
            self._show_preview(Preview(None, f"cannot read at once: no answer after "
                                             f"{waited:.1f} s (a FIFO planted in /dev/shm, or "
                                             "a file that blocks); nothing is waiting on it"))

    def on_detail_pane_preview_read(self, message: PreviewRead) -> None:
        message.stop()
        if message.key == self._preview_key:
            self._show_preview(message.preview)

    def _show_leak(self, obj: IpcObject) -> None:
        leak = self.query_one("#detail-leak", Static)
        if obj.leak is None:
            leak.display = False
            return
        leak.display = True
        text = Text()
        text.append(f"{obj.leak.status.upper().replace('_', ' ')}: ", style="bold")
        text.append(shown(obj.leak.reason))
        if obj.leak.reclaim_bytes:
            text.append(f"  reclaims {human_bytes(obj.leak.reclaim_bytes)}")
        for item in obj.leak.evidence:
            text.append(f"\n • {shown(item)}")
        update_static(leak, text)

    def _show_fields(self, obj: IpcObject, now: float) -> None:
        names = [f.name for f in dataclasses.fields(obj) if f.name not in _SKIP
                 and (f.name not in _ONLY_WHEN_SET or getattr(obj, f.name) is not None)]
        first = _FIRST_TIME.get(obj.kind)
        if first in names and "ctime" in names:
            names.remove(first)
            names.insert(names.index("ctime"), first)
        rows = [("kind", obj.kind.label)]
        for name in names:
            text = field_text(name, getattr(obj, name), now, obj)
            note = _TIME_NOTES.get((obj.kind, name))
            rows.append((name, f"{text}: {note}" if note and text != "-" else text))
        rows.append(("users", uses_text(obj)))
        widget = self.query_one("#detail-fields", Static)
        if changed(widget, rows):
            table = Table.grid(padding=(0, 1))
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for name, value in rows:
                table.add_row(Text(name), Text(shown(value)))
            widget.update(table)

    def _show_sems(self, obj: IpcObject) -> None:
        if not isinstance(obj, SysvSem):
            self._toggle("sems", False)
            return
        self._toggle("sems", True)
        if obj.values is None:
            update_static(self.query_one("#detail-sems", Static),
                          "values unreadable (permission?)")
            return
        def at(seq: tuple[int, ...] | None, i: int) -> str:
            return "-" if seq is None or i >= len(seq) else str(seq[i])

        rows = [(str(i), str(value), at(obj.sempids, i), at(obj.ncnt, i), at(obj.zcnt, i))
                for i, value in enumerate(obj.values)]
        widget = self.query_one("#detail-sems", Static)
        if changed(widget, rows):
            table = Table(box=None, padding=(0, 1), show_edge=False)
            for head in ("#", "VALUE", "LAST PID", "NCNT", "ZCNT"):
                table.add_column(head, justify="right")
            for row in rows:
                table.add_row(*row)
            widget.update(table)

    def _show_users(self, obj: IpcObject, snapshot: Snapshot | None) -> None:
        table = self.query_one("#detail-users", DataTable)
        heading = self.query_one("#detail-users-heading", Label)
        # Each set once: showing then hiding the table re-arranged the whole screen twice at
        # every poll while an object without users was selected.
        heading.display = True
        table.display = bool(obj.users)
        if not obj.users:
            update_static(heading, "Users: none seen")
        else:
            more = len(obj.users) - MAX_USERS
            update_static(heading, f"Users: {uses_text(obj)} (Enter: process)"
                          + (f", first {MAX_USERS} uses shown" if more > 0 else ""))
        signature = (obj.kind, obj.id, obj.users)
        if signature == self._users_shown:
            return  # unchanged: keep the rows and the cursor as they are
        self._users_shown = signature
        selected = None
        if table.row_count:
            selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        procs = {p.pid: p for p in snapshot.processes} if snapshot else {}
        table.clear()
        for u in obj.users[:MAX_USERS]:
            proc = procs.get(u.pid)
            fd = str(u.fd) if u.fd is not None else u.via
            key = f"{u.pid}:{u.fd}:{u.via}"
            if key in table.rows:
                continue
            table.add_row(*(Text(shown(cell)) for cell in (
                str(u.pid), u.comm, proc.user if proc else "?", fd, u.access or "-")), key=key)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        # An explicit height (header + one line per row), not `auto`: the table measures its
        # rows later, on idle, and a pane laid out before that keeps it 0 lines high (seen
        # under Python 3.11, not 3.13, so the same screen drew with or without its users).
        table.styles.height = min(table.row_count + 1, _USERS_MAX_HEIGHT)

    def on_resize(self) -> None:
        self._show_preview(self._preview)

    def _show_preview(self, preview: Preview | None) -> None:
        self._preview = preview
        if preview is None or (preview.data is None and not preview.note):
            self._toggle("hex", False)
            return
        self._toggle("hex", True)
        heading = self.query_one("#detail-hex-heading", Label)
        update_static(heading, Text(f"Contents: first {len(preview.data)} bytes, "
                                    f"{shown(preview.note)}" if preview.data is not None
                                    else "Contents"))
        per_line = 16 if self.size.width - 4 >= 76 else 8
        body = ("\n".join(hexdump(preview.data, per_line)) if preview.data is not None
                else shown(preview.note))
        update_static(self.query_one("#detail-hex", Static), Text(body, no_wrap=True))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "detail-users":
            return
        event.stop()
        key = event.row_key.value
        if key is not None:
            self.post_message(self.ProcessRequested(int(str(key).split(":")[0])))
