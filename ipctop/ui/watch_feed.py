"""Between the inotify thread and the UI: a bounded buffer that wakes the UI once per burst.

The watcher (ipctop/watch.py) already reports in bursts, a few a second at most. Here the UI side
keeps that bounded whatever the UI's own pace: at most ``limit`` events wait (the rest are only
counted), and the watcher's thread asks for one wake-up message per drain, not one per event, so
the UI's message queue never fills with inotify news (each message posted from another thread
costs the event loop a wake-up). No Textual here: the app posts the message.
"""

from __future__ import annotations

import threading

from ipctop.events import CHANGED, CREATED, REMOVED, Event
from ipctop.model import Kind
from ipctop.ui.live_state import LiveState
from ipctop.watch import MISSED, WatchEvent

LIMIT = 500
"""inotify events waiting for the UI at most; beyond, they are counted, not kept."""


class WatchFeed:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._events: list[WatchEvent] = []
        self._missed = 0
        self._unknown = False
        self._missed_at = 0.0
        self._woken = False

    def push(self, event: WatchEvent) -> bool:
        """From the watcher's thread: keep ``event``; True when the UI must be woken (no wake-up
        is pending since the last drain)."""
        with self._lock:
            if event.action == MISSED:
                self._missed += event.count
                self._unknown |= event.count == 0
                self._missed_at = event.at
            elif len(self._events) < self.limit:
                self._events.append(event)
            else:
                self._missed += 1
                self._missed_at = event.at
            wake, self._woken = not self._woken, True
            return wake

    def drain(self, live: LiveState) -> list[Event]:
        """On the UI thread: the events to log, announced to ``live`` so that the next poll does
        not log them again; what was only counted becomes one line."""
        with self._lock:
            batch, self._events = self._events, []
            missed, unknown, at = self._missed, self._unknown, self._missed_at
            self._missed, self._unknown, self._woken = 0, False, False
        logged = []
        for w in batch:
            if w.kind is None or w.id is None:
                continue
            action = CREATED if w.action == CREATED else REMOVED
            live.announce(action, (w.kind, w.id, None))  # inotify: our own /dev/shm
            logged.append(Event(w.at, action, w.kind, w.id, w.id, source="inotify",
                                detail=w.path))
        if missed or unknown:
            many = "many more" if unknown else f"{missed} more"
            logged.append(Event(at, CHANGED, Kind.POSIX_SHM, "", "(burst)", source="inotify",
                                detail=f"{many} files created or removed in /dev/shm or "
                                       "/dev/mqueue, too fast to list one by one; the next "
                                       "poll shows what is there"))
        return logged
