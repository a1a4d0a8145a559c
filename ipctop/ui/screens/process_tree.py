"""Processes and the IPC each holds (htop's F5 tree, lsfd grouped by process).

Every process that holds an object the main filter lets through, with those objects beneath it;
as a tree by parent (the ancestors that hold nothing are listed, dimmed, to keep the tree whole)
or, ``t``, grouped by process in pid order; ``/`` filters the processes by command, pid or user
(htop's F4), within what the main filter lets through. Enter on an object goes to it in the main
list; Enter on a process opens the process pivot (signals, ``k`` to send one). The rows are worked
out by :func:`tree_rows`, a pure function; the screen refreshes with every poll and keeps the
cursor on the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label

from ipctop.display import shown
from ipctop.model import IpcObject, Process, Snapshot
from ipctop.ui.row_text import clip
from ipctop.ui.views import SHORT_TITLES
from ipctop.ui.widgets.filter_box import FilterBox
from ipctop.ui.widgets.object_table import row_key_of


@dataclass(frozen=True, slots=True)
class TreeRow:
    key: str
    """"pid:PID" for a process, "obj:PID:ROWKEY" for an object it holds."""
    text: str
    """Tree branches, then "PID command" or "KIND name"."""
    user: str = ""
    fds: str = ""
    access: str = ""
    leak: str = ""
    holds: bool = True
    """False for an ancestor listed only to keep the tree whole."""
    object_key: str | None = None
    """The main table's row key of the object (None on a process row)."""
    pid: int = 0
    lead: int = 0
    """How many characters of ``text`` are tree branches (kept whole when the rest is cut)."""


def _holdings(objects: Iterable[IpcObject]) -> dict[int, dict[str, tuple[IpcObject, list[str],
                                                                        set[str]]]]:
    """pid -> row key -> (object, fds or "map", accesses)."""
    out: dict[int, dict[str, tuple[IpcObject, list[str], set[str]]]] = {}
    for obj in objects:
        key = row_key_of(obj)
        for user in obj.users:
            held = out.setdefault(user.pid, {})
            _obj, fds, acc = held.setdefault(key, (obj, [], set()))
            fds.append(str(user.fd) if user.fd is not None else user.via)
            if user.access:
                acc.update(user.access)
    return out


def _leak_mark(obj: IpcObject) -> str:
    if obj.leak is None:
        return ""
    return {"leak": "LEAK", "pending_removal": "rmid"}.get(obj.leak.status, "?")


def process_matches(text: str, pid: int, proc: Process | None, comm: str) -> bool:
    """Whether a process passes the list's own filter: every word of ``text`` is in its pid,
    command, command line or user (case does not matter)."""
    hay = f"{pid} {comm} {proc.cmdline if proc else ''} {proc.user if proc else ''}".lower()
    return all(word in hay for word in text.lower().split())


def tree_rows(snapshot: Snapshot, objects: Iterable[IpcObject], tree: bool = True,
              wide: bool = True, only: str = "") -> list[TreeRow]:
    """The rows: each holder of ``objects`` and what it holds; ``tree``: under its parent;
    ``wide``: kinds spelled in full ("posix-shm"), else as the narrow tabs ("pshm"); ``only``:
    the holders :func:`process_matches` lets through (their ancestors still keep the tree)."""
    holdings = _holdings(objects)
    procs = {p.pid: p for p in snapshot.processes}
    comms = {u.pid: u.comm for o in objects for u in o.users}
    if only.strip():
        holdings = {pid: held for pid, held in holdings.items() if process_matches(
            only, pid, procs.get(pid), procs[pid].comm if pid in procs else comms.get(pid, ""))}
    listed = set(holdings)
    if tree:
        for pid in list(holdings):
            parent = procs[pid].ppid if pid in procs else 0
            while parent in procs and parent not in listed:
                listed.add(parent)
                parent = procs[parent].ppid
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for pid in sorted(listed):
        parent = procs[pid].ppid if pid in procs else 0
        if tree and parent in listed and parent != pid:
            children.setdefault(parent, []).append(pid)
        else:
            roots.append(pid)
    rows: list[TreeRow] = []

    def add(pid: int, lead: str, branch: str) -> None:
        proc: Process | None = procs.get(pid)
        held = holdings.get(pid, {})
        comm = proc.comm if proc else comms.get(pid, "?")
        rows.append(TreeRow(f"pid:{pid}", f"{lead}{branch}{pid} {comm}",
                            user=proc.user if proc else "", holds=bool(held), pid=pid,
                            fds=f"{len(held)} obj" if held else "",
                            lead=len(lead) + len(branch)))
        inner = lead + ("   " if branch == "└─ " else "│  " if branch else "")
        kids = children.get(pid, [])
        for obj_key, (obj, fds, acc) in sorted(held.items()):
            stem = "│ " if kids else "  "
            kind = obj.kind.word if wide else SHORT_TITLES.get(obj.kind.value, obj.kind.word)
            rows.append(TreeRow(
                f"obj:{pid}:{obj_key}", f"{inner}{stem}· {kind} {obj.name or obj.id}",
                lead=len(inner) + len(stem) + 2,
                user=obj.owner or "", fds=",".join(dict.fromkeys(fds)),
                access="".join(c for c in "rw" if c in acc) or "-", leak=_leak_mark(obj),
                object_key=obj_key, pid=pid))
        for i, kid in enumerate(kids):
            add(kid, inner, "└─ " if i == len(kids) - 1 else "├─ ")

    for pid in roots:
        add(pid, "", "")
    return rows


class ProcessFilter(FilterBox):
    """The list's ``/`` line. A FilterBox so that the app hands it every key in order (keys
    typed fast right after ``/`` land here, and ``q`` or ``t`` are letters); Esc, which the
    app does not bind off the main screen, clears it."""

    async def take_key(self, event: events.Key) -> None:
        if event.key == "escape":
            await self.app.run_action("back", self.screen)
            return
        await super().take_key(event)


class ProcessTreeScreen(Screen[str | None]):
    """Dismissed with the row key of the object chosen (None: back to the list)."""

    DEFAULT_CSS = """
    ProcessTreeScreen #tree-heading { padding: 0 1; text-style: bold; }
    ProcessTreeScreen #tree-table { height: 1fr; }
    ProcessTreeScreen #tree-filter { display: none; border: none; height: 1; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", key_display="Esc"),
        Binding("f5", "leave", "Back", show=False),
        # a mode of the main list, as htop's tree view: q quits ipctop, as it does there
        Binding("q", "app.quit_app", "Quit"),
        Binding("t", "toggle_tree", "Tree/grouped"),
        # priority: handled in the app's task as the key arrives, so the keys typed right after
        # it go to the box (a key the focused table received would be routed before it moved)
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("enter", "filter_done", "Keep the filter", show=False, priority=True),
    ]

    def __init__(self, snapshot: Snapshot, matches: Callable[[IpcObject], bool],
                 filter_text: str, open_process: Callable[[int], None]) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.matches = matches
        self.filter_text = filter_text
        self.open_process = open_process
        self.as_tree = True
        self.only = ""
        """The list's own filter (``/``): processes by command, pid or user."""
        self.rows: dict[str, TreeRow] = {}
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Label("", id="tree-heading")
        yield DataTable(id="tree-table", cursor_type="row")
        # select_on_focus off: the focus event comes after the keys typed with "/" at once
        yield ProcessFilter(placeholder="processes: command, pid or user (Enter keeps, Esc clears)",
                            id="tree-filter", select_on_focus=False)
        yield Footer()

    def on_mount(self) -> None:
        self.ready()

    def ready(self) -> None:
        """Fill the table and focus it, once; the app calls it as soon as the screen is
        mounted so that the keys typed right after F5 act here (on_mount may come after)."""
        if self._ready:
            return
        self._ready = True
        self._build_columns()
        self.update_snapshot(self.snapshot)
        self.set_focus(self.query_one(DataTable))

    def _build_columns(self) -> None:
        table = self.query_one(DataTable)
        width = self.size.width or self.app.size.width
        # PROCESS / IPC takes what USER, FDS, ACCESS, LEAK and the scrollbar leave
        self.text_width = max(20, width - (8 + 9 + 3 + 4) - 5 * 2 - 3)
        table.clear(columns=True)
        table.add_column("PROCESS / IPC", key="text", width=self.text_width)
        table.add_column("USER", key="user", width=8)
        table.add_column("FD", key="fds", width=9)
        table.add_column("RW", key="access", width=3)
        table.add_column("LEAK", key="leak", width=4)

    def on_resize(self, event: events.Resize) -> None:
        if not self._ready:
            return
        self._build_columns()
        self.update_snapshot(self.snapshot)

    def update_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        if not self._ready:
            return  # ready() fills it
        table = self.query_one(DataTable)
        keep = self.current_row
        objects = [o for o in snapshot.objects if self.matches(o)]
        rows = tree_rows(snapshot, objects, self.as_tree, wide=self.text_width >= 60,
                         only=self.only)
        self.rows = {r.key: r for r in rows}
        table.clear()
        for row in rows:
            style = "" if row.holds else "dim"
            bold = "bold" if row.object_key is None and row.holds else style
            lead, label = row.text[:row.lead], shown(row.text[row.lead:])
            room = max(8, self.text_width - len(lead))
            table.add_row(Text(lead + clip(label, room), style=bold, no_wrap=True),
                          *(Text(clip(shown(cell), width), style=style, no_wrap=True)
                            for cell, width in ((row.user, 8), (row.fds, 9), (row.access, 3))),
                          Text(row.leak, style="bold red" if row.leak == "LEAK" else ""),
                          key=row.key)
        holders = sum(1 for r in rows if r.object_key is None and r.holds)
        how = "tree by parent" if self.as_tree else "by process"
        where = f", filter {shown(self.filter_text)!r}" if self.filter_text else ""
        if self.only.strip():
            where += f", processes {shown(self.only)!r}"
        n = len({r.object_key for r in rows if r.object_key}) if self.only.strip() else len(objects)
        heading = (f"{holders} process{'' if holders == 1 else 'es'} hold"
                   f"{'s' if holders == 1 else ''} {n} object{'' if n == 1 else 's'} "
                   f"({how}{where})")
        if len(heading) + 17 <= (self.size.width or self.app.size.width) - 2:
            heading += ". Enter: go to it"
        self.query_one("#tree-heading", Label).update(Text(heading, no_wrap=True,
                                                           overflow="ellipsis"))
        if keep is not None and keep.key in self.rows:
            table.move_cursor(row=table.get_row_index(keep.key))

    @property
    def current_row(self) -> TreeRow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.rows.get(str(event.row_key.value))
        if row is None:
            return
        if row.object_key is not None:
            self.dismiss(row.object_key)
        else:
            self.open_process(row.pid)

    def action_toggle_tree(self) -> None:
        self.as_tree = not self.as_tree
        self.update_snapshot(self.snapshot)

    def action_filter(self) -> None:
        box = self.query_one(ProcessFilter)
        box.display = True
        self.set_focus(box)  # at once: Widget.focus() waits for the keys already queued

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.only = event.value
        self.update_snapshot(self.snapshot)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter_done":  # Enter in the box; elsewhere the table's own Enter
            return isinstance(self.focused, ProcessFilter)
        return True

    def action_filter_done(self) -> None:
        box = self.query_one(ProcessFilter)
        self.only = box.value
        box.display = bool(self.only.strip())
        self.set_focus(self.query_one(DataTable))
        self.update_snapshot(self.snapshot)

    def action_back(self) -> None:
        box = self.query_one(ProcessFilter)
        if box.has_focus:  # Esc in the filter clears it (htop's F4); the next Esc goes back
            box.value = self.only = ""
            box.display = False
            self.set_focus(self.query_one(DataTable))
            self.update_snapshot(self.snapshot)
            return
        self.dismiss(None)

    def action_leave(self) -> None:
        self.dismiss(None)
