"""GcPace: what is alive after a poll is frozen out of the cyclic collector's walks, and a cycle
that died frozen is freed at the next thaw (memory stays bounded)."""

from __future__ import annotations

import gc
import weakref

from ipctop.ui.gc_pace import GcPace


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_a_cycle_frozen_alive_is_freed_at_the_next_thaw_only() -> None:
    now = [100.0]
    pace = GcPace(thaw_every=60.0, clock=lambda: now[0])
    enabled = gc.isenabled()
    gc.disable()  # no automatic collection between the steps below
    try:
        node = Node()
        ref = weakref.ref(node)
        pace.after_poll()  # the node is alive: frozen
        assert gc.get_freeze_count() > 0
        del node  # now garbage, but frozen
        gc.collect()
        assert ref() is not None  # collections do not walk frozen objects
        now[0] += 59.0
        pace.after_poll()
        gc.collect()
        assert ref() is not None and pace.thaws == 0
        now[0] += 1.0
        pace.after_poll()  # thaw, full collection, freeze again
        assert ref() is None and pace.thaws == 1 and pace.freed >= 1
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
