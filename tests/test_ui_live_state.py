"""LiveState: the TUI's memory between polls (no Textual needed)."""

from __future__ import annotations

from fakes import FakeCollector

from ipctop.model import Kind
from ipctop.ui.live_state import LiveState


def test_new_ghost_history_and_announced() -> None:
    fake = FakeCollector()
    live = LiveState()
    assert live.update(fake()) == []  # nothing to compare at start
    assert live.fresh == set() and live.ghosts == {}
    live.update(fake())
    live.announce("created", (Kind.POSIX_SHM, "/fresh", None))  # inotify saw it first
    events = live.update(fake())
    assert live.fresh == {"posix_shm:/fresh"}
    assert not any(e.id == "/fresh" for e in events)  # not logged twice
    live.update(fake())
    assert set(live.ghosts) == {"posix_shm:/psm_old"}
    assert "posix_shm:/psm_old" not in live.objects
    assert list(live.history["sysv_msg:0"]) == [3.0, 4.0, 5.0, 6.0]
    assert live.polls == 4
    live.update(fake())
    assert live.ghosts == {}  # faded for one poll only
