"""The cyclic garbage collector of a long-running TUI: out of the way of 16,000 live objects.

Python's full collection walks every container object alive. With 16,000 IPC objects (each a
dataclass with tuples of users), Textual's widgets and the collector's caches, that is ~400,000
objects and ~230 ms of the UI thread, several times a minute (measured at the big load: 1.1 s of
GC in 30 s, most of the UI thread's CPU). Yet almost all of them live for many polls: an object
that did not change is handed on as the same instance.

So after each applied poll everything alive is frozen (``gc.freeze``: moved to a generation that
collections never walk), and a collection walks only what was made since the previous poll.
Frozen objects are still freed by reference counting as soon as nothing uses them (a snapshot
replaced, an object gone): only a reference *cycle* that was alive at a freeze and became garbage
afterwards stays. To bound that, everything is thawed and collected once every ``thaw_every``
seconds (one full collection, as Python itself would make several times a minute), then frozen
again.

Until the first snapshot is on screen the collector is off (the console script turns it off for
every command; ``run_tui`` leaves it off): the first poll makes the 16,000 objects and their rows,
and collections walking them as they grow cost ~0.5 s of the first screen (2.4 s -> 1.9 s,
measured at the big load). The first ``after_poll`` freezes what is alive and turns the
collector on; the full collection that takes startup's garbage away comes FIRST_THAW seconds
later, not at once: Textual writes the screen from another thread, and a collection holds the
interpreter (~0.2 s at the big load), so the first screen would reach the terminal only after
it. ``start`` turns the collector on anyway if no poll succeeds for a while.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

THAW_EVERY = 300.0
"""Seconds between two full collections (thaw, collect, freeze)."""
FIRST_THAW = 10.0
"""Seconds from the first poll on screen to the first full collection."""
START_AT_THE_LATEST = 15.0
"""Seconds after which the app turns the collector on even if no poll succeeded."""


class GcPace:
    """Freezes what is alive after each poll; a full collection ``first_thaw`` s after the
    first poll, then every ``thaw_every`` s."""

    def __init__(self, thaw_every: float = THAW_EVERY, first_thaw: float = FIRST_THAW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thaw_every = thaw_every
        self.first_thaw = first_thaw
        self.start_at_the_latest = START_AT_THE_LATEST
        self.clock = clock
        self._thawed_at: float | None = None
        """When the last full collection was made, or counts as made (None: before the first
        poll)."""
        self.thaws = 0
        """Full collections made so far."""
        self.freed = 0
        """Objects the full collections found to be garbage."""

    def after_poll(self) -> None:
        """Call once a poll is applied and drawn (what it replaced is gone by then)."""
        now = self.clock()
        if self._thawed_at is None:
            self._thawed_at = now - self.thaw_every + self.first_thaw
        elif now - self._thawed_at >= self.thaw_every:
            self._thawed_at = now
            self.thaws += 1
            gc.unfreeze()
            self.freed += gc.collect()
        gc.freeze()
        gc.enable()

    @staticmethod
    def start() -> None:
        """Turn the collector on without waiting for a first poll (one that never succeeds
        must not leave it off)."""
        gc.enable()
