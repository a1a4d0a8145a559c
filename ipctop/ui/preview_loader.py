"""Read shared memory previews off the UI thread, one at a time. No Textual here.

A preview opens a file another user may have planted (/dev/shm/NAME can be a FIFO) or reads
/proc/PID/maps and map_files: I/O that may be slow or, at worst, never return. The UI must never
wait on it. So every read runs in a daemon thread of its own -- not in the event loop's executor,
which also runs the polls: a read that never returns would take an executor thread for good
and, at exit, make the app wait for it. One read at a time: while one is out, the newest
request waits (older ones are dropped), and a read that has not answered after ``slow``
seconds is reported as such, so the person sees why the contents do not show.

A read that answers within ``quick`` seconds (a file on tmpfs, almost always) is shown at once
instead of after a "reading…" flash: the UI thread waits that long for a new read, never more,
and not at all while a read is out. A read that never returns so costs the UI ``quick`` once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from ipctop.model import IpcObject
from ipctop.preview import Preview

SLOW = 0.5
"""Seconds after which a read that has not returned is shown as one that cannot open at once."""
QUICK = 0.05
"""Seconds the UI thread waits for a new read before showing "reading…"."""


class PreviewLoader:
    def __init__(self, previewer: Callable[[IpcObject], Preview],
                 deliver: Callable[[Hashable, Preview], object], *, slow: float = SLOW,
                 quick: float = QUICK) -> None:
        """``deliver(key, preview)`` is called from the reading thread: it must be thread-safe
        (Textual: ``post_message``)."""
        self.previewer = previewer
        self.deliver = deliver
        self.slow = slow
        self.quick = quick
        self._lock = threading.Lock()
        self._reading: Hashable | None = None
        self._since = 0.0
        self._next: tuple[Hashable, IpcObject] | None = None

    def want(self, key: Hashable, obj: IpcObject) -> Preview | None:
        """Read ``obj``'s preview (now, or when the read that is out returns). Returns it when
        it came within ``quick`` seconds; otherwise None, and ``deliver`` brings it later."""
        with self._lock:
            if self._reading is not None:
                self._next = (key, obj)
                return None
            thread, slot = self._start(key, obj)
        thread.join(self.quick)
        return slot[0] if slot else None

    def stuck(self, key: Hashable) -> float | None:
        """Seconds the read of ``key`` has been out, when over ``slow``; else None."""
        with self._lock:
            if self._reading != key:
                return None
            waited = time.monotonic() - self._since
            return waited if waited >= self.slow else None

    def _start(self, key: Hashable, obj: IpcObject) -> tuple[threading.Thread, list[Preview]]:
        self._reading, self._since = key, time.monotonic()
        slot: list[Preview] = []
        thread = threading.Thread(target=self._read, args=(key, obj, slot),
                                  name="ipctop-preview", daemon=True)
        thread.start()
        return thread, slot

    def _read(self, key: Hashable, obj: IpcObject, slot: list[Preview]) -> None:
        try:
            result = self.previewer(obj)
        except Exception as err:  # a bug or an unexpected errno: say so, in the pane
            result = Preview(None, f"cannot read: {type(err).__name__}: {err}")
        slot.append(result)
        with self._lock:
            self._reading = None
            queued, self._next = self._next, None
            if queued is not None:
                self._start(*queued)
        try:
            self.deliver(key, result)
        except Exception:  # the pane is gone (the screen closed): nobody to tell
            return
