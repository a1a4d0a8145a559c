"""A live hex + ASCII view of shared memory (key ``a``), highlighting bytes that changed.

Every ``interval`` seconds the visible window is read again with ``ipctop.actions.read_shm_report``
(SysV segments through an attacher's mapping, or else attached read-only and detached at once,
which the title says as it changes the segment's lpid and atime; POSIX objects read with pread).
The reads and writes open files other users may have planted and read /proc, so they run in a
thread worker, one at a time; a refresh asked for while one is out follows it. Bytes that
differ from the previous read stay highlighted for a few refreshes.

For a container's object (``where``) every read, write and search runs in a forked helper inside
its namespaces (:class:`ipctop.nsenter.Inside`), from the same worker: the screen never waits on
the fork, and the title says where.

The view is read-only. ``w`` asks for confirmation and then opens a line to write
"OFFSET DATA" (text) or "OFFSET hex:de ad be ef"; ``w`` again goes back to read-only.
``g`` goes to an offset (decimal or 0x hex); ``/`` finds text or "hex:de ad" from the window on,
``n`` finds the next match (the search reads at most SEARCH_LIMIT bytes per press).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from ipctop import actions, display, nsenter
from ipctop.errors import IpcError, NotFound
from ipctop.hexdump import WIDTH, byte_columns, changed_offsets, format_line
from ipctop.model import Kind
from ipctop.ui.screens.confirm import ConfirmScreen

KEEP = 4
SEARCH_CHUNK = 1 << 20
SEARCH_LIMIT = 64 << 20
"""Bytes one search press reads at most (a segment can be gigabytes; press n to go on)."""
"""Refreshes a changed byte stays highlighted."""
CHANGED_STYLE = "bold black on yellow"
_T = TypeVar("_T")


def parse_write(text: str) -> tuple[int, bytes]:
    """"16 hello" -> (16, b"hello"); "0x10 hex:de ad" -> (16, b"\\xde\\xad")."""
    head, _sep, rest = text.strip().partition(" ")
    try:
        offset = int(head, 0)
    except ValueError:
        raise IpcError(f"start with the offset, like `16 hello` or `0x10 hex:de ad`: got "
                       f"{head!r}") from None
    body = rest.lstrip(" ")
    data = actions.parse_hex(body[4:]) if body.lower().startswith("hex:") else body.encode()
    if not data:
        raise IpcError("nothing to write after the offset")
    return offset, data


def _last_line_start(size: int) -> int:
    return max(0, (size - 1) // WIDTH * WIDTH)


def read_window(kind: Kind, ident: str, start: int, rows: int
                ) -> tuple[int, int, bytes, str] | str | None:
    """(size, first byte read, the bytes, how they were read) for ``rows`` lines from ``start``
    (kept within the object), or an error line; None when the object is gone. Plain data: it
    may be read inside another namespace."""
    try:
        size = actions.shm_size(kind, ident)
        start = max(0, min(start, _last_line_start(size)))
        length = max(0, min(rows * WIDTH, size - start))
        read = actions.read_shm_report(kind, ident, start, length)
    except NotFound:
        return None
    except IpcError as err:
        return str(err)
    return size, start, read.data, read.how


def write_at(kind: Kind, ident: str, data: bytes, offset: int) -> tuple[int, int] | str:
    """(bytes written, offset), or an error line."""
    try:
        return actions.write_shm(kind, ident, data, offset), offset
    except IpcError as err:
        return str(err)


def find_at(kind: Kind, ident: str, needle: bytes, origin: int
            ) -> tuple[int | None, int, int] | str:
    """:func:`find_in_shm`, or an error line."""
    try:
        return find_in_shm(kind, ident, needle, origin)
    except IpcError as err:
        return str(err)


def find_in_shm(kind: Kind, ident: str, needle: bytes, origin: int
                ) -> tuple[int | None, int, int]:
    """(offset of the first ``needle`` from ``origin`` or None, where the search stopped, the
    segment's size): at most SEARCH_LIMIT bytes read, SEARCH_CHUNK at a time (in a thread)."""
    size = actions.shm_size(kind, ident)
    overlap = len(needle) - 1
    at = origin
    end = min(size, origin + SEARCH_LIMIT)
    while at < end:
        length = min(SEARCH_CHUNK + overlap, size - at)
        hit = actions.read_shm_report(kind, ident, at, length).data.find(needle)
        if hit >= 0:
            return at + hit, end, size
        at += SEARCH_CHUNK
    return None, end, size


class AttachScreen(Screen[None]):
    DEFAULT_CSS = """
    AttachScreen #attach-title {
        background: $boost;
        padding: 0 1;
        text-style: bold;
    }
    AttachScreen #attach-title.-write {
        background: $error;
    }
    AttachScreen #attach-body {
        height: 1fr;
    }
    AttachScreen #attach-dump {
        padding: 0 1;
    }
    AttachScreen #attach-input {
        display: none;
    }
    AttachScreen #attach-input.-visible {
        display: block;
    }
    AttachScreen #attach-seek {
        display: none;
    }
    AttachScreen #attach-seek.-visible {
        display: block;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back"),
        Binding("w", "toggle_write", "Write mode"),
        Binding("down", "scroll_lines(1)", "Down", show=False),
        Binding("up", "scroll_lines(-1)", "Up", show=False),
        Binding("pagedown", "scroll_pages(1)", "Page down", show=False),
        Binding("pageup", "scroll_pages(-1)", "Page up", show=False),
        Binding("home", "scroll_to(0)", "Start", show=False),
        Binding("end", "scroll_to(-1)", "End", show=False),
        Binding("g", "seek('goto')", "Go to offset"),
        Binding("slash", "seek('find')", "Find", key_display="/"),
        Binding("n", "find_next", "Next match"),
    ]

    def __init__(self, kind: Kind, ident: str, *, interval: float = 0.5,
                 rows: int | None = None, where: nsenter.Inside | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.ident = ident
        self.where = where
        """The namespaces the object is in (None: ipctop's own); every access happens there."""
        self.interval = interval
        self.fixed_rows = rows
        self.start = 0
        """First byte shown (a multiple of WIDTH)."""
        self.size_bytes: int | None = None
        self.data = b""
        """The bytes last read, starting at ``start``."""
        self.write_mode = False
        self.error: str | None = None
        self.how = ""
        """How the last read was made (through a mapping, or attached), for the title."""
        self.refreshes = 0
        self._changed_at: dict[int, int] = {}
        """Absolute offset -> the refresh that saw it change."""
        self._timer: Timer | None = None
        self._read: Worker[Any] | None = None
        """The read in flight: only its end is applied (one read at a time)."""
        self._read_again = False
        self._asked_start = 0
        self.seeking = ""
        """"goto" or "find" while the seek line is open."""
        self.needle = b""
        """What the last find looked for."""
        self.found: int | None = None
        """Offset of the last match."""

    @property
    def name_text(self) -> str:
        name = actions.object_name(self.kind, self.ident)
        return name if self.where is None else f"{name} (inside {self.where.label})"

    def _there(self, job: Callable[[], _T]) -> _T | str:
        """``job()`` where the object is (in a thread worker); an error entering there becomes
        the error line."""
        try:
            return cast("_T", nsenter.run_where(self.where, job))
        except IpcError as err:
            return str(err)

    @property
    def rows(self) -> int:
        if self.fixed_rows is not None:
            return self.fixed_rows
        return max(4, self.app.size.height - 4)

    @property
    def highlighted(self) -> frozenset[int]:
        """Absolute offsets shown as changed right now."""
        return frozenset(o for o, at in self._changed_at.items() if self.refreshes - at < KEEP)

    def compose(self) -> ComposeResult:
        yield Static("", id="attach-title", markup=False)
        with VerticalScroll(id="attach-body"):
            yield Static("", id="attach-dump")
        yield Input(placeholder="OFFSET DATA, or OFFSET hex:de ad be ef  (Enter writes)",
                    id="attach-input")
        yield Input(id="attach-seek")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()
        self._timer = self.set_interval(self.interval, self.refresh_view)

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    # -- reading -------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Read the visible window again (in a thread) and redraw, marking bytes that changed."""
        if self._read is not None:
            self._read_again = True
            return
        self._asked_start = self.start
        self._read = self.run_worker(functools.partial(self._read_window, self.start, self.rows),
                                     thread=True, exit_on_error=False, group="attach-read")

    def _read_window(self, start: int, rows: int) -> tuple[int, int, bytes, str] | str | None:
        """In the worker: (size, start, data, how), or an error line; None when it is gone."""
        return self._there(functools.partial(read_window, self.kind, self.ident, start, rows))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        # The state this message reports, not the worker's state now: under load a read may be
        # over by the time its RUNNING message is handled; taken for its end, the read was
        # applied twice, and its SUCCESS then redrew (and moved back to) a window the view had
        # left meanwhile. A read that is not the one in flight is never applied.
        if group not in ("attach-read", "attach-write") or event.state not in (
                WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED) or (
                group == "attach-read" and event.worker is not self._read):
            return
        event.stop()
        result = event.worker.result if event.state == WorkerState.SUCCESS else (
            f"{type(event.worker.error).__name__}: {event.worker.error}")
        if group == "attach-write":
            if isinstance(result, tuple):
                n, offset = result
                self.notify(f"wrote {n} bytes at offset {offset} of {self.name_text}",
                            title="Write")
                self.query_one("#attach-input", Input).value = ""
            else:
                self.notify(str(result), title="Write", severity="error", timeout=8)
            self.refresh_view()
            return
        self._read = None
        if self._asked_start == self.start:  # else the view moved meanwhile: read again
            self._show_window(result)  # type: ignore[arg-type]
        else:
            self._read_again = True
        if self._read_again:
            self._read_again = False
            self.refresh_view()

    def _show_window(self, result: tuple[int, int, bytes, str] | str | None) -> None:
        previous, previous_start = self.data, self.start
        if result is None:
            self.error = f"{self.name_text} is gone"
            if self._timer is not None:
                self._timer.stop()
            self._draw()
            return
        if isinstance(result, str):
            self.error = result
            self._draw()
            return
        self.size_bytes, self.start, data, self.how = result
        self.error = None
        self.refreshes += 1
        if previous_start == self.start and previous:
            for i in changed_offsets(previous, data):
                self._changed_at[self.start + i] = self.refreshes
        self.data = data
        self._draw()

    @staticmethod
    def _last_line_start(size: int) -> int:
        return _last_line_start(size)

    def dump_text(self) -> Text:
        """The window as a hexdump with changed bytes styled."""
        text = Text()
        marks = self.highlighted
        for start in range(0, len(self.data), WIDTH):
            chunk = self.data[start:start + WIDTH]
            line = Text(format_line(chunk, self.start + start))
            line.stylize("dim", 0, 8)
            for i in range(len(chunk)):
                if self.start + start + i in marks:
                    hex_col, ascii_col = byte_columns(i)
                    line.stylize(CHANGED_STYLE, hex_col, hex_col + 2)
                    line.stylize(CHANGED_STYLE, ascii_col, ascii_col + 1)
            if start:
                text.append("\n")
            text.append_text(line)
        return text

    def _draw(self) -> None:
        title = self.query_one("#attach-title", Static)
        mode = "WRITE MODE" if self.write_mode else "read-only"
        size = "?" if self.size_bytes is None else f"{self.size_bytes} bytes"
        shown = f"{self.start:#x}..{self.start + len(self.data):#x}"
        status = self.error or (f"{size}, showing {shown}, {len(self.highlighted)} changed"
                                + (f" · {self.how}" if self.how else ""))
        title.update(display.shown(f"{self.name_text} · {mode} · {status}"))
        title.set_class(self.write_mode, "-write")
        self.query_one("#attach-dump", Static).update(self.dump_text())

    # -- keys ----------------------------------------------------------------------------------

    def _move(self, offset: int) -> None:
        size = self.size_bytes or 0
        self.start = max(0, min(offset, self._last_line_start(size)))
        self.data = b""  # a different window: nothing to compare with
        self.refresh_view()

    def action_scroll_lines(self, lines: int) -> None:
        self._move(self.start + lines * WIDTH)

    def action_scroll_pages(self, pages: int) -> None:
        self._move(self.start + pages * self.rows * WIDTH)

    def action_scroll_to(self, where: int) -> None:
        self._move(0 if where >= 0 else self._last_line_start(self.size_bytes or 0))

    def action_close(self) -> None:
        if self.seeking:
            self._close_seek()
            return
        self.dismiss(None)

    def action_toggle_write(self) -> None:
        if self.write_mode:
            self._set_write(False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._set_write(True)

        self.app.push_screen(ConfirmScreen(
            f"Write into {self.name_text}?",
            ["Writes go straight into memory that other processes may be using.",
             "Nothing asks again until you leave write mode (w)."],
            yes_label="Write mode"), answered)

    def _set_write(self, on: bool) -> None:
        self.write_mode = on
        box = self.query_one("#attach-input", Input)
        box.set_class(on, "-visible")
        if on:
            box.focus()
        self._draw()

    def action_seek(self, what: str) -> None:
        box = self.query_one("#attach-seek", Input)
        self.seeking = what
        box.placeholder = ("offset: 4096 or 0x1000 (Enter goes, Esc cancels)" if what == "goto"
                           else "find: text, or hex:de ad be ef (Enter finds, n finds next)")
        box.value = ""
        box.add_class("-visible")
        self.set_focus(box)

    def _close_seek(self) -> None:
        self.seeking = ""
        self.query_one("#attach-seek", Input).remove_class("-visible")
        self.set_focus(None)

    def _seek_submitted(self, value: str) -> None:
        what = self.seeking
        self._close_seek()
        try:
            if what == "goto":
                try:
                    offset = int(value.strip(), 0)
                except ValueError:
                    raise IpcError(f"an offset is a number (4096 or 0x1000): {value!r}") from None
                if offset < 0 or (self.size_bytes is not None and offset >= self.size_bytes):
                    raise IpcError(f"offset {offset:#x} is outside the segment "
                                   f"({self.size_bytes} bytes)")
                self._move(offset // WIDTH * WIDTH)
                return
            body = value.strip()
            needle = (actions.parse_hex(body[4:]) if body.lower().startswith("hex:")
                      else value.encode())
            if not needle:
                raise IpcError("nothing to find")
            self.needle = needle
            self._find(self.start)
        except IpcError as err:
            self.notify(str(err), title="Find" if what == "find" else "Go to",
                        severity="error", timeout=8)

    def action_find_next(self) -> None:
        if not self.needle:
            self.notify("Nothing to find yet: / first.", title="Find", severity="warning")
            return
        self._find((self.found + 1) if self.found is not None else self.start)

    def _find(self, origin: int) -> None:
        """Find ``self.needle`` from ``origin`` on (in a thread); then move the window to it."""
        needle = self.needle
        app = self.app

        def search() -> None:
            result = self._there(functools.partial(find_at, self.kind, self.ident, needle,
                                                   origin))
            with contextlib.suppress(RuntimeError):  # the app is closing
                app.call_from_thread(self._found, origin, result)

        self.run_worker(search, thread=True, exclusive=True, exit_on_error=False,
                        group="attach-find")

    def _found(self, origin: int, result: tuple[int | None, int, int] | str) -> None:
        if isinstance(result, str):
            self.notify(result, title="Find", severity="error", timeout=8)
            return
        hit, end, size = result
        if hit is not None:
            self.found = hit
            self._move(hit // WIDTH * WIDTH)
            self.notify(f"found at offset {hit:#x} ({hit})", title="Find")
            return
        where = "to the end" if end >= size else f"in {SEARCH_LIMIT >> 20} MiB (n goes on)"
        if end < size:
            self.found = end - 1
        self.notify(f"not found from {origin:#x} {where}", title="Find", severity="warning")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "attach-seek":
            self._seek_submitted(event.value)
            return
        if not self.write_mode:
            return
        try:
            offset, data = parse_write(event.value)
        except IpcError as err:
            self.notify(str(err), title="Write", severity="error", timeout=8)
            return

        def write() -> tuple[int, int] | str:
            return self._there(functools.partial(write_at, self.kind, self.ident, data, offset))

        self.run_worker(write, thread=True, exit_on_error=False, group="attach-write")
