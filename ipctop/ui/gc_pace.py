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
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

THAW_EVERY = 300.0
"""Seconds between two full collections (thaw, collect, freeze)."""


class GcPace:
    """Freezes what is alive after each poll; a full collection every ``thaw_every`` s."""

    def __init__(self, thaw_every: float = THAW_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thaw_every = thaw_every
        self.clock = clock
        self._thawed_at = clock()
        self.thaws = 0
        """Full collections made so far."""
        self.freed = 0
        """Objects the full collections found to be garbage."""

    def after_poll(self) -> None:
        """Call once a poll is applied and drawn (what it replaced is gone by then)."""
        now = self.clock()
        if now - self._thawed_at >= self.thaw_every:
            self._thawed_at = now
            self.thaws += 1
            gc.unfreeze()
            self.freed += gc.collect()
        gc.freeze()
