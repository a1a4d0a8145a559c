"""The live TUI: a top for IPC.

Shape: the poll loop and the inotify feed are in polling.py (a thread worker collects, the UI
thread applies, polls never overlap), the filter line in filtering.py. Applying a snapshot
computes the events (``ipctop.ui.live_state``), then, inside ``batch_update()``, updates the
header, the tab counts, the keyed table (only changed cells) and the detail pane.

Contract for the mixins that act on objects and hunt leaks (object_actions, leak_actions):

* ``IpcTopApp`` inherits ``ObjectActions`` and ``LeakActions``; their ``BINDINGS`` are appended
  to the app's, and they show in the footer and the help screen. They see the app through the
  ``ipctop.ui.host.Host`` protocol and never import this module.
* ``app.selected_object`` -- the IpcObject under the cursor in the current view (None for none,
  or for a row that is fading out because the object is gone).
* ``app.snapshot`` -- the latest Snapshot (None before the first poll).
* ``app.request_poll()`` -- poll now; if a poll is running, one more follows it (never overlaps).
* ``app.current_view`` -- the active :class:`ipctop.ui.views.View` (None on the events log).
* Adding a view: ``ipctop.ui.views.register_view(View(id, title, match, columns))`` at import
  time of your module (leak_actions.py is imported before the app is built); it gets a tab with a
  count and a key (1..9 by position, Tab cycles). See ipctop/ui/views.py.
* Time is injectable (``clock``) and so is the collector, for tests and screenshots.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Tab, Tabs

from ipctop.columns import Column, with_container
from ipctop.display import shown
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.preview import Preview, preview
from ipctop.ui.arrange import Arrange
from ipctop.ui.column_prefs import ColumnPrefs
from ipctop.ui.filtering import Filtering
from ipctop.ui.gc_pace import GcPace
from ipctop.ui.leak_actions import LeakActions
from ipctop.ui.live_state import LiveState, row_key
from ipctop.ui.object_actions import ObjectActions
from ipctop.ui.object_index import ObjectIndex
from ipctop.ui.palette import palette_commands
from ipctop.ui.polling import WATCH_BURST, Polling
from ipctop.ui.screens.detail import DetailScreen
from ipctop.ui.screens.form import FormScreen
from ipctop.ui.screens.help import HelpScreen
from ipctop.ui.screens.process import ProcessScreen
from ipctop.ui.screens.process_tree import ProcessTreeScreen
from ipctop.ui.views import View, all_views
from ipctop.ui.widgets.detail_pane import DetailPane
from ipctop.ui.widgets.event_log import EventLog
from ipctop.ui.widgets.filter_box import FilterBox
from ipctop.ui.widgets.limit_meters import LimitMeters
from ipctop.ui.widgets.notice_line import NoticeLine, unreadable_notice, unreadable_short
from ipctop.ui.widgets.object_table import GONE, ObjectTable, row_key_of
from ipctop.ui.widgets.status_bar import StatusBar
from ipctop.watch import DEFAULT_DIRS, Watcher

EVENTS_TAB = "view-events"
SIDE_PANE_WIDTH = 140
"""From this width the detail pane sits beside the table (narrower, the table would lose the
columns that say who uses what)."""
BELOW_PANE_HEIGHT = 34
"""Narrower, from this height it sits below the table; smaller still, Enter opens it as a
screen (the table keeps every row the terminal has)."""
COMPACT_WIDTH = 120
"""Below this width: short tab labels, meters without bars."""


def pane_place(width: int, height: int) -> str:
    """Where the detail pane goes on a terminal of this size: "side", "below" or "none"."""
    if width >= SIDE_PANE_WIDTH:
        return "side"
    return "below" if height >= BELOW_PANE_HEIGHT else "none"


def default_collector() -> Callable[[], Snapshot]:
    """The real collector: ``take()`` made incremental for polling (snapshot.LiveTake)."""
    from ipctop.snapshot import LiveTake

    return LiveTake()


class IpcTopApp(Polling, Filtering, ObjectActions, LeakActions, Arrange, App[int]):
    """Every IPC object on the machine, live."""

    CSS_PATH = "ipctop.tcss"
    TITLE = "ipctop"
    BINDINGS: ClassVar[list[BindingType]] = [  # type: ignore[misc]
        Binding("q", "quit_app", "Quit"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        # Priority: handled when the key arrives, before the keys typed after it are routed,
        # so the filter box has the focus for them however fast they come.
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("escape", "clear_filter", "Clear filter", show=False, key_display="Esc",
                priority=True),
        Binding("enter", "filter_done", "In the filter or search: keep it, back to the list",
                show=False, priority=True, key_display="Enter"),
        Binding("f3", "search", "Search", priority=True, key_display="F3"),
        Binding("shift+f3", "search_prev", "Previous match", show=False, priority=True,
                key_display="Shift+F3"),
        Binding("ctrl+f", "open_search", "Search: change the term", show=False, priority=True,
                key_display="Ctrl+F"),
        # The footer lists these in this order, and only those that apply to the selection.
        *ObjectActions.BINDINGS,
        *LeakActions.BINDINGS,
        Binding("o", "cycle_sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
        *Arrange.BINDINGS,
        Binding("p,space", "toggle_pause", "Pause", key_display="p"),
        Binding("l", "show_events", "Events log", priority=True),
        Binding("H", "toggle_short_lived", "Brief objects"),
        Binding("plus,equals_sign", "interval(1)", "Slower", key_display="+", show=False),
        Binding("minus", "interval(-1)", "Faster", key_display="-", show=False),
        Binding("tab", "next_view", "Next view", show=False, priority=True, key_display="Tab"),
        Binding("shift+tab", "prev_view", "Previous view", show=False, priority=True,
                key_display="Shift+Tab"),
        # View keys are priority too, so that F2 or F5 typed right after one acts on the new
        # view (a priority key is handled as it arrives, before keys queued at the table).
        *(Binding(str(n), f"view({n - 1})", "", show=False, priority=True)
          for n in range(1, 10)),
        *ObjectActions.FALLBACKS,
        *LeakActions.FALLBACKS,
    ]

    def __init__(
        self,
        collector: Callable[[], Snapshot] | None = None,
        *,
        interval: float = 2.0,
        filter_text: str = "",
        clock: Callable[[], float] = time.time,
        watch: bool = True,
        watch_dirs: Iterable[Path] = DEFAULT_DIRS,
        previewer: Callable[[IpcObject], Preview] = preview,
        freeze_gc: bool = False,
        column_prefs: ColumnPrefs | None = None,
    ) -> None:
        """``freeze_gc``: the garbage collector paced for one long run (ipctop/ui/gc_pace.py:
        off until the first snapshot is drawn, then what is alive frozen after each poll);
        tests leave it off. ``column_prefs``: the columns chosen per view (default: none)."""
        super().__init__()
        self.column_prefs = column_prefs or ColumnPrefs()
        self._gc_pace = GcPace() if freeze_gc else None
        self.collector = collector or default_collector()
        self.interval = interval
        self.clock = clock
        self.paused = False
        self.views: list[View] = all_views()
        self.view_index = 0
        self.initial_filter = filter_text
        self.live = LiveState()
        self.index = ObjectIndex(self.views)
        """Which objects each view lists and the filter lets through (tab counts, rows)."""
        self.previewer = previewer
        self._watch = watch
        self._watch_dirs = tuple(watch_dirs)
        self.watcher: Watcher | None = None
        self._seen_notices: set[str] = set()
        self._bindings_for: object = None
        self._init_polling()

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield LimitMeters(id="meters")
        tabs = [Tab(self._tab_label(i, v, None), id=f"view-{v.id}")
                for i, v in enumerate(self.views)]
        yield Tabs(*tabs, Tab("Events", id=EVENTS_TAB), id="views")
        with Horizontal(id="body"):
            with ContentSwitcher(initial="objects", id="switcher"):
                yield ObjectTable(id="objects")
                yield EventLog(id="events")
            yield DetailPane(id="detail")
        yield NoticeLine(id="notice")
        # select_on_focus off: the focus event comes after the keys typed with "/" at once,
        # and selecting them then would let the next key replace them.
        yield FilterBox(value=self.initial_filter, id="filter", select_on_focus=False,
                        placeholder="filter all columns as you type; Enter keeps it, Esc clears")
        yield FilterBox(id="search", select_on_focus=False,
                        placeholder="search: the cursor jumps to a match as you type; F3 next, "
                        "Shift+F3 previous, Enter keeps, Esc closes")
        yield Footer()

    @property
    def main_screen(self) -> Screen[Any]:
        """The screen with the table, whatever screen is on top."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    @property
    def table(self) -> ObjectTable:
        return self.main_screen.query_one("#objects", ObjectTable)

    @property
    def event_log(self) -> EventLog:
        return self.main_screen.query_one("#events", EventLog)

    def on_mount(self) -> None:
        view = self.views[0]
        self.table.hidden = self.column_prefs.hidden  # the chooser's choices, shared
        self.table.set_view(*self._columns(view))
        self.table.filter_text = self.initial_filter
        self._filter_box().display = bool(self.initial_filter)
        self.table.focus()
        self._layout_for(self.size.width, self.size.height)
        self.set_interval(1.0, self._tick)
        if self._gc_pace is not None:
            self.set_timer(self._gc_pace.start_at_the_latest, self._gc_pace.start)
        if self._watch:
            self.watcher = Watcher(self._on_watch_thread, self._watch_dirs, clock=self.clock,
                                   max_burst=WATCH_BURST)
            for notice in self.watcher.start():
                self._notice_once(notice, severity="warning")
        self._refresh_status()
        self.request_poll()

    def on_unmount(self) -> None:
        self._stop_polling()

    def on_resize(self, event: events.Resize) -> None:
        if self._live():
            self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        body = self.main_screen.query_one("#body")
        place = pane_place(width, height)
        for name in ("side", "below", "none"):
            body.set_class(place == name, f"-pane-{name}")
        meters = self.main_screen.query_one(LimitMeters)
        compact = width < COMPACT_WIDTH
        if meters.compact != compact:
            meters.compact = compact
            if self.snapshot is not None:
                meters.update_meters(self.snapshot)
        self._refresh_tabs()
        self._refresh_detail()
        self._refresh_status()

    # -- contract -----------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot (None before the first poll)."""
        return self.live.snapshot

    @property
    def polls(self) -> int:
        """Successful polls so far."""
        return self.live.polls

    @property
    def current_view(self) -> View | None:
        return None if self.view_index >= len(self.views) else self.views[self.view_index]

    @property
    def selected_object(self) -> IpcObject | None:
        """The object under the cursor in the current view (None for a fading row)."""
        if self.current_view is None:
            log = self.event_log
            if not log.row_count or log.cursor_row >= len(log.events):
                return None
            ev = log.events[log.cursor_row]
            return self.live.objects.get(row_key(ev.kind, ev.id, ev.where))
        key = self.table.current_key
        if key is None or self.table.states.get(key) == GONE:
            return None
        return self.live.objects.get(key)

    # -- applying a snapshot ------------------------------------------------------------------

    def _apply_snapshot(self, snap: Snapshot, changed: frozenset[Kind] | None = None) -> None:
        fresh_events = self.live.update(snap, changed)
        self.index.update(self.live.objects, self.live.touched)
        if self._gc_pace is not None:
            self.call_after_refresh(self._gc_pace.after_poll)
        for notice in snap.notices:
            self._notice_once(notice)
        if snap.unreadable.count:
            root = os.geteuid() == 0
            self._notice_once(unreadable_short(snap, root), severity="warning",
                              tag="unreadable", more=unreadable_notice(snap, root))
        with self.batch_update():
            if fresh_events:
                self.event_log.add_events(fresh_events)
            self.main_screen.query_one(LimitMeters).update_meters(snap)
            self._refresh_tabs()
            self._refresh_table()
            self._refresh_detail()
            self._refresh_screens()
            self._refresh_status()
        self._refresh_bindings_if_changed()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification, from any screen or action, shows its text literally: messages
        quote names and errors other users chose, so no markup is parsed and each line is
        escaped for the terminal (``markup`` is accepted for Textual's signature, and ignored)."""
        super().notify("\n".join(shown(line) for line in message.split("\n")),
                       title=shown(title), severity=severity, timeout=timeout, markup=False)

    def refresh_all(self) -> None:
        """Redraw the tabs, the table, the detail pane and the status from the snapshot."""
        with self.batch_update():
            self._refresh_tabs()
            self._refresh_table()
            self._refresh_detail()
        self._refresh_status()

    def _notice_once(self, text: str, severity: str = "information", tag: str = "",
                     more: str = "") -> None:
        key = tag or text
        if key in self._seen_notices:
            return
        self._seen_notices.add(key)
        self.main_screen.query_one(NoticeLine).say(text, severity, more=more)

    # -- refreshing the widgets ---------------------------------------------------------------

    def _tab_label(self, index: int, view: View, count: int | None) -> str:
        prefix = f"{index + 1} " if index < 9 else ""
        title = view.short_title if self.size.width < COMPACT_WIDTH else view.title
        return f"{prefix}{title}" + ("" if count is None else f" {count}")

    def _refresh_tabs(self) -> None:
        """Tab labels with counts; the counts follow the filter, like the tables."""
        snap = self.snapshot
        tabs = self.main_screen.query_one("#views", Tabs)
        self.index.set_filter(self.table.filter_text, self.live.objects)
        for i, view in enumerate(self.views):
            count = None if snap is None else self.index.count(view.id)
            label = self._tab_label(i, view, count)
            tab = tabs.query_one(f"#view-{view.id}", Tab)
            if tab.label_text != label:
                tab.label = label
        brief = self.live.short_lived if not self.live.keep_short_lived else 0
        events_label = f"{'Ev' if self.size.width < COMPACT_WIDTH else 'Events'} " \
                       f"{len(self.event_log.events)}" + (f" +{brief} brief" if brief else "")
        tab = tabs.query_one(f"#{EVENTS_TAB}", Tab)
        if tab.label_text != events_label:
            tab.label = events_label

    def _refresh_table(self) -> None:
        view = self.current_view
        if view is None or self.snapshot is None:
            return
        self.index.set_filter(self.table.filter_text, self.live.objects)
        self.table.set_view(*self._columns(view))
        self.table.sync(self.live, self.index, view, self.clock())

    def _columns(self, view: View) -> tuple[str, list[Column]]:
        """(table layout id, columns) of ``view``: its own, and CONTAINER after the id while
        objects of other namespaces are listed (hidden when everything is ipctop's own)."""
        objects = self.snapshot.objects if self.snapshot is not None else ()
        columns = with_container(self.column_prefs.ordered(view.id, view.columns), objects)
        return (view.id if len(columns) == len(view.columns) else f"{view.id}+container",
                columns)

    def _detail_args(self, key: str | None) -> dict[str, Any]:
        obj = None if key is None else self.live.objects.get(key)
        gone = False
        if obj is None and key is not None and key in self.live.ghosts:
            obj, gone = self.live.ghosts[key], True
        prev = None  # the pane reads it off the UI thread, with self.previewer
        history = self.live.depths(key) if key else []
        return {"obj": obj, "history": history, "preview": prev, "gone": gone}

    def _refresh_detail(self) -> None:
        pane = self.main_screen.query_one("#detail", DetailPane)
        if not pane.display or pane.has_class("-hidden"):
            return
        key = self.table.current_key if self.current_view is not None else None
        if self.current_view is None:
            obj = self.selected_object
            key = row_key_of(obj) if obj is not None else None
        args = self._detail_args(key)
        pane.show(args["obj"], self.snapshot, now=self.clock(), history=args["history"],
                  preview=args["preview"], gone=args["gone"])

    def _refresh_screens(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.is_mounted:
                self._fill_detail(screen.key, screen.pane)
            elif isinstance(screen, (ProcessScreen, ProcessTreeScreen)) and self.snapshot:
                screen.update_snapshot(self.snapshot)

    def _refresh_status(self) -> None:
        self.main_screen.query_one(StatusBar).update_status(
            self.snapshot, now=self.clock(), interval=self.interval, paused=self.paused,
            polling=self._polling, filter_text=self.table.filter_text)

    def _tick(self) -> None:
        if self._live():
            self._refresh_status()

    # -- events from widgets ------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id in ("objects", "events") and self._live():
            self._refresh_detail()
            self._refresh_bindings_if_changed()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "objects" and event.row_key.value is not None:
            self._open_detail(str(event.row_key.value))
        elif event.data_table.id == "events":
            obj = self.selected_object
            if obj is not None:
                self._open_detail(row_key_of(obj))

    def _open_detail(self, key: str) -> None:
        self.push_screen(DetailScreen(key, self._fill_detail))

    def _fill_detail(self, key: str, pane: DetailPane) -> None:
        args = self._detail_args(key)
        pane.show(args["obj"], self.snapshot, now=self.clock(), history=args["history"],
                  preview=args["preview"], gone=args["gone"] or args["obj"] is None)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.data_table.id != "objects" or event.column_key.value == "mark":
            return
        column = str(event.column_key.value)
        if column == self.table.sort_column or (
                self.table.sort_column is None and event.column_index == 1):
            self.set_sort(column, not self.table.sort_descending)
        else:
            self.set_sort(column)

    def set_sort(self, column: str, descending: bool | None = None) -> None:
        """Sort the current view by ``column`` (None: numbers largest first, names A..Z); the
        view keeps it."""
        with self.batch_update():
            self.table.set_sort(column, descending)
        self._refresh_status()

    def on_detail_pane_process_requested(self, event: DetailPane.ProcessRequested) -> None:
        self.open_process(event.pid)

    def open_process(self, pid: int) -> None:
        """The process pivot: all IPC ``pid`` holds and its signals."""
        if self.snapshot is None:
            return

        def chosen(key: str | None) -> None:
            if key is None:
                return
            while isinstance(self.screen, (DetailScreen, ProcessScreen, ProcessTreeScreen)):
                self.pop_screen()
            self.show_object(key)

        self.push_screen(ProcessScreen(pid, self.snapshot), chosen)

    def show_object(self, key: str) -> None:
        """Select the row ``key`` (switching to "All" if the current view does not list it)."""
        view = self.current_view
        obj = self.live.objects.get(key)
        if view is None or obj is None or not view.match(obj):
            self._switch_view(0)
        if not self.table.select_key(key) and self.table.filter_text:
            self.set_filter("")
            self.table.select_key(key)
        self.main_screen.set_focus(self.table)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        ids, tab_id = [f"view-{v.id}" for v in self.views] + [EVENTS_TAB], event.tab.id or ""
        if self._live():  # not once the screens are gone (a quit with this message queued)
            self._switch_view(ids.index(tab_id) if tab_id in ids else 0)

    def _switch_view(self, index: int) -> None:
        """Show view ``index`` (len(views): the events log) now, not when the tab bar's
        message arrives: the keys typed after a view key act on the new view."""
        switcher = self.main_screen.query_one("#switcher", ContentSwitcher)
        self.view_index = index
        if index >= len(self.views):
            switcher.current = "events"
            self.main_screen.set_focus(self.event_log)
        else:
            switcher.current = "objects"
            with self.batch_update():
                self._refresh_table()
            self.main_screen.set_focus(self.table)
        tabs = self.main_screen.query_one("#views", Tabs)
        tab_id = EVENTS_TAB if index >= len(self.views) else f"view-{self.views[index].id}"
        if tabs.active != tab_id:
            tabs.active = tab_id
        self._refresh_detail()
        self._refresh_status()
        self._refresh_bindings_if_changed()

    # -- actions ------------------------------------------------------------------------------

    def _on_main(self) -> bool:
        return not isinstance(self.screen, (DetailScreen, ProcessScreen, HelpScreen)) and \
            self.screen is self.screen_stack[0]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        main_only = {"filter", "cycle_sort", "reverse_sort", "view", "show_events",
                     "clear_filter", "filter_done", "search", "search_prev", "open_search",
                     "choose_columns", "process_tree"}
        if action in main_only and not self._on_main():
            return False
        if action in ("view", "show_events") and isinstance(self.focused, FilterBox):
            return False  # a digit or "l" typed in the filter
        if action == "toggle_short_lived":  # about the events log: offered there
            return self._on_main() and self.current_view is None
        for check in (self.filter_check, self.object_action_check, self.leak_action_check,
                      self.arrange_check):
            answer = check(action)
            if answer is not None:
                return answer
        return True

    def _refresh_bindings_if_changed(self) -> None:
        """The footer shows only the keys that apply to the selection: ask it to look again
        when what they depend on changed (the selection's kind, the view, leaks or none)."""
        obj = self.selected_object
        snap = self.snapshot
        signature = (self.view_index, obj.kind if obj else None, bool(snap and self.live.leaks))
        if signature != self._bindings_for:
            self._bindings_for = signature
            self.refresh_bindings()

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key) or event.is_forwarded or not self.screen_stack:
            return await super().on_event(event)
        if isinstance(top := self.screen_stack[-1], FormScreen) and top.hold_key(event):
            return  # a form still opening takes the keys in order (see FormScreen.hold_key)
        if isinstance(box := self.focused, FilterBox):  # see FilterBox: keys in order, at once
            if not await self._check_bindings(event.key, priority=True):
                await box.take_key(event)
            return
        # Keys for the table act at once, in order: queued there, "e7" would do view 7 first.
        if box is not None and box is self.table and (
                await self._check_bindings(event.key, priority=True) or
                await self._check_bindings(event.key)):
            return
        await super().on_event(event)

    def action_quit_app(self) -> None:
        self.exit(0)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        names = [v.title for v in self.views] + ["Events"]
        self.push_screen(HelpScreen(list(self.BINDINGS), names,
                                    self.main_screen.query_one(NoticeLine).history))

    def action_cycle_sort(self) -> None:
        self.table.cycle_sort()  # the status bar names the sort column
        self._refresh_status()

    def action_reverse_sort(self) -> None:
        self.table.set_sort(self.table.sort_column, not self.table.sort_descending)
        self._refresh_status()

    def action_view(self, index: int) -> None:
        if 0 <= index <= len(self.views):
            self._switch_view(index)

    def action_show_events(self) -> None:
        self._switch_view(len(self.views))

    def action_next_view(self) -> None:
        if not self._on_main():
            self.screen.focus_next()
            return
        self.main_screen.query_one("#views", Tabs).action_next_tab()

    def action_prev_view(self) -> None:
        if not self._on_main():
            self.screen.focus_previous()
            return
        self.main_screen.query_one("#views", Tabs).action_previous_tab()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from palette_commands(self)


def run(interval: float = 2.0, filter_text: str = "") -> int:
    """Run the TUI until the user quits (or SIGTERM or SIGHUP ends it); the exit status."""
    from ipctop.ui.signals import exit_on_signals

    app = IpcTopApp(interval=interval, filter_text=filter_text, freeze_gc=True,
                    column_prefs=ColumnPrefs.saved())
    ended = exit_on_signals(app)
    result = app.run()
    ended()
    return result if isinstance(result, int) else 0
