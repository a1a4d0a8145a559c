"""The TUI's first snapshot, started before Textual is even imported.

The first take is the slow one (every process and object read cold: about a second on a machine
with 16,000 objects), and the app used to start it only once mounted, after importing Textual and
building the screen. Started here in a thread as the TUI starts, it runs meanwhile (its reads of
/proc and the kernel's tables release the GIL), and the app's first poll only waits for it.

No Textual here: ``ipctop.cli`` imports this first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ipctop.model import Snapshot


class EarlyTake:
    """``make()`` (the collector: importing it is part of the cost) and its first call, in a
    thread started at once; ``wait()`` hands the first snapshot (or raises its error) to
    whoever polls first."""

    def __init__(self, make: Callable[[], Callable[[], Snapshot]]) -> None:
        self._make = make
        self._collector: Callable[[], Snapshot] | None = None
        self._made = threading.Event()
        self._done = threading.Event()
        self._snapshot: Snapshot | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ipctop-first-take", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._collector = self._make()
            self._made.set()
            self._snapshot = self._collector()
        except BaseException as err:  # handed to the poll that waits, as its own error
            self._error = err
        finally:
            self._made.set()
            self._done.set()

    def collector(self) -> Callable[[], Snapshot]:
        """The collector, for the polls after the first (waits until it is made)."""
        self._made.wait()
        if self._collector is None:
            assert self._error is not None
            raise self._error
        return self._collector

    def wait(self) -> Snapshot:
        """The first snapshot, once taken (call from a worker thread: this blocks)."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._snapshot is not None
        snap, self._snapshot = self._snapshot, None  # handed over once
        return snap


def start() -> EarlyTake:
    """The live collector (snapshot.LiveTake), made and first called in a thread."""

    def make() -> Callable[[], Snapshot]:
        from ipctop.snapshot import LiveTake

        return LiveTake()

    return EarlyTake(make)
