"""The poll loop and the inotify feed of the TUI (dolphie's loop, toolong's watcher).

A thread worker calls the collector; its success handler applies the snapshot on the UI thread
and schedules the next poll with ``set_timer``, so polls never overlap. A failed poll shows a
notice; the next one tries again. ``ipctop.watch.Watcher`` reports /dev/shm and /dev/mqueue
changes from its thread; they are logged at once and trigger a poll.

A mixin of the app (see ipctop/ui/host.py for what it relies on); the app calls
``_apply_snapshot`` with each new snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from ipctop.model import Kind, Snapshot
from ipctop.ui.host import host_of
from ipctop.ui.watch_feed import WatchFeed
from ipctop.watch import Watcher, WatchEvent

INTERVALS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
WATCH_POLL_GAP = 1.0
"""inotify news triggers a poll at once, but not sooner than this after the last poll it
triggered started: under churn, about one such poll a second instead of polls back to back."""
WATCH_BURST = 20
"""inotify events logged one by one per burst (a few bursts a second at most); the rest of a
burst is one line with their count: nobody reads hundreds of lines a second."""


class Polled:
    """A poll's result: the snapshot, and the kinds the collector says changed since its
    previous call (``LiveTake.changed``; None from a collector that does not say).

    Handed over once: ``take`` empties it. Textual keeps a finished worker, and its result,
    in reference cycles that only the cyclic garbage collector frees; the app freezes what is
    alive after each poll (ui/gc_pace.py), so a snapshot held there would stay until the next
    full collection instead of going as soon as the next one replaces it."""

    __slots__ = ("call", "changed", "snapshot")

    def __init__(self, snapshot: Snapshot, changed: frozenset[Kind] | None, call: int) -> None:
        self.snapshot: Snapshot | None = snapshot
        self.changed = changed
        self.call = call
        """The collector's call this came from, counted by the app: ``changed`` is only
        worth anything when the previous call's snapshot is the one on screen (a cancelled
        or failed poll's result never reached the screen)."""

    def take(self) -> tuple[Snapshot | None, frozenset[Kind] | None]:
        snap, changed = self.snapshot, self.changed
        self.snapshot = self.changed = None
        return snap, changed


class WatchBurst(Message):
    """inotify news is waiting in the app's buffer; bursts merge into one message."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WatchBurst)


class Polling:
    """Polls the collector, never two at once; feeds inotify news to the events log."""

    INTERVALS: ClassVar[tuple[float, ...]] = INTERVALS
    collector: Callable[[], Snapshot]
    interval: float
    paused: bool
    watcher: Watcher | None

    def _init_polling(self) -> None:
        self.watch_feed = WatchFeed()
        self._watch_poll = False
        """inotify asked for a poll that WATCH_POLL_GAP holds back."""
        self._watch_polled_at = -WATCH_POLL_GAP
        self._last_error: str | None = None
        self._polling = False
        self._poll_again = False
        self._timer: Timer | None = None
        self._calls = 0
        """Collector calls started."""
        self._applied_call = -1
        """The call whose snapshot is on screen."""

    # -- to be provided by the app -------------------------------------------------------------

    def _apply_snapshot(self, snap: Snapshot, changed: frozenset[Kind] | None = None) -> None:
        raise NotImplementedError

    def _refresh_status(self) -> None:
        raise NotImplementedError

    def _refresh_tabs(self) -> None:
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------------

    def request_poll(self) -> None:
        """Poll now; if a poll is running, poll once more when it ends."""
        if self._polling:
            self._poll_again = True
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._polling = True
        if self._watch_poll:
            self._watch_polled_at = time.monotonic()
        self._watch_poll = False
        self._refresh_status()
        _host, app = host_of(self)
        app.run_worker(self._collect_call(), thread=True, exclusive=True, exit_on_error=False,
                       group="poll", name="poll")

    def _collect_call(self) -> Callable[[], Polled]:
        """The next collector call, for a worker thread."""
        self._calls += 1
        call, collector = self._calls, self.collector

        def collect() -> Polled:
            snap = collector()
            changed = getattr(collector, "changed", None)
            return Polled(snap, changed if isinstance(changed, frozenset) else None, call)

        return collect

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "poll" or not self._live():
            return
        if event.state == WorkerState.SUCCESS:
            self._polling = False
            self._last_error = None
            result = worker.result
            if isinstance(result, Polled):
                follows = result.call == self._applied_call + 1
                snap, changed = result.take()
                if snap is not None:
                    self._applied_call = result.call
                    self._apply_snapshot(snap, changed if follows else None)
            self._after_poll()
        elif event.state == WorkerState.ERROR:
            self._polling = False
            message = f"Poll failed: {type(worker.error).__name__}: {worker.error}"
            if message != self._last_error:
                _host, app = host_of(self)
                app.notify(f"{message}. Retrying every {self.interval:g}s.",
                           title="ipctop", severity="error", timeout=8)
            self._last_error = message
            self._after_poll()
        elif event.state == WorkerState.CANCELLED:
            self._polling = False

    def _after_poll(self) -> None:
        if self._poll_again:
            self._poll_again = False
            self.request_poll()
            return
        self._schedule(self._watch_poll_delay() if self._watch_poll else None)
        self._refresh_status()

    def _schedule(self, delay: float | None = None) -> None:
        """The next poll in ``delay`` seconds (default: the interval)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.paused and not self._polling:
            _host, app = host_of(self)
            # never 0: Textual's timer divides by its delay when it runs late
            self._timer = app.set_timer(self.interval if delay is None else max(0.01, delay),
                                        self._timer_fired)

    def _watch_poll_delay(self) -> float:
        # Never 0: a Textual timer that fires late divides by its interval (ZeroDivisionError
        # in Timer._run, seen when a poll kept the loop busy past it).
        return max(0.001, min(self.interval,
                              self._watch_polled_at + WATCH_POLL_GAP - time.monotonic()))

    def _live(self) -> bool:
        """False while the app shuts down (timers and workers may still report then)."""
        _host, app = host_of(self)
        return app.is_running and bool(app.screen_stack)

    def _timer_fired(self) -> None:
        self._timer = None
        if not self.paused and self._live():
            self.request_poll()

    def _stop_polling(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self._timer is not None:
            self._timer.stop()

    # -- keys ----------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
        else:
            self.request_poll()
        self._refresh_status()

    def action_interval(self, step: int) -> None:
        steps = list(INTERVALS)
        nearest = min(range(len(steps)), key=lambda i: abs(steps[i] - self.interval))
        index = max(0, min(len(steps) - 1, nearest + step))
        if steps[nearest] != self.interval and step > 0 and steps[nearest] > self.interval:
            index = nearest
        self.interval = steps[index]
        if not self._polling:
            self._schedule()
        self._refresh_status()

    # -- inotify -------------------------------------------------------------------------------

    def _on_watch_thread(self, event: WatchEvent) -> None:
        if self.watch_feed.push(event):  # one message per burst, not one per event
            _host, app = host_of(self)
            app.post_message(WatchBurst())

    def on_watch_burst(self, _message: WatchBurst) -> None:
        if not self._live():
            return
        host, _app = host_of(self)
        logged = self.watch_feed.drain(host.live)
        if logged:
            host.event_log.add_events(logged)
            self._refresh_tabs()
            if not self.paused:
                self._poll_for_watch()

    def _poll_for_watch(self) -> None:
        """Poll for inotify news: now, or when WATCH_POLL_GAP allows (after the running poll,
        or by the timer), so a burst every moment does not keep the scanner running."""
        if self._polling or self._watch_poll:
            self._watch_poll = True
            return
        self._watch_poll = True
        delay = self._watch_poll_delay()
        if delay <= 0:
            self.request_poll()
        else:
            self._schedule(delay)
