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
    assert live.depths("sysv_msg:0") == [3.0, 4.0, 5.0, 6.0]
    assert live.polls == 4
    live.update(fake())
    assert live.ghosts == {}  # faded for one poll only


def test_short_lived_objects_are_counted_not_logged() -> None:
    """A pipe of a shell pipeline lives less than a poll: no create/remove pair each poll; an
    object that stays is logged one poll late, with the time it was first seen."""
    from ipctop.kinds import Pipe
    from ipctop.model import User

    fake = FakeCollector(auto=False)
    live = LiveState()
    live.update(fake())
    brief = Pipe(id="990001", bytes=0, capacity=65536, users=(User(100, "sh", 1, "w"),))
    stays = Pipe(id="990002", bytes=0, capacity=65536, users=(User(100, "sh", 3, "w"),))
    fake.add(brief)
    fake.add(stays)
    first = fake()
    assert live.update(first) == []  # held: not yet known whether they last
    fake.remove(Kind.PIPE, "990001")
    events = live.update(fake())
    assert [(e.action, e.id, e.at) for e in events] == [("created", "990002", first.taken_at)]
    assert live.short_lived == 1
    assert live.update(fake()) == []


def test_keep_short_lived_logs_them_as_they_come() -> None:
    from ipctop.kinds import Pipe

    fake = FakeCollector(auto=False)
    live = LiveState()
    live.keep_short_lived = True
    live.update(fake())
    fake.add(Pipe(id="990003", bytes=0, capacity=65536))
    assert [e.action for e in live.update(fake())] == ["created"]
    fake.remove(Kind.PIPE, "990003")
    assert [e.action for e in live.update(fake())] == ["removed"]
    assert live.short_lived == 0


def test_a_leak_verdict_is_logged_once_not_each_time_its_reason_moves() -> None:
    from ipctop.model import Leak

    fake = FakeCollector(auto=False)
    live = LiveState()
    live.update(fake())
    fake.replace(Kind.POSIX_SHM, "/psm_old", leak=Leak("idle 2m", 8 << 20, "leak"))
    marked = live.update(fake())
    assert [e.detail for e in marked if e.id == "/psm_old"] == ["leak marked: idle 2m"]
    fake.replace(Kind.POSIX_SHM, "/psm_old", leak=Leak("idle 3m", 8 << 20, "leak"))
    assert [e for e in live.update(fake()) if e.id == "/psm_old"] == []
    fake.replace(Kind.POSIX_SHM, "/psm_old", leak=Leak("idle 4m", 8 << 20, "leak"), size=4096)
    (ev,) = [e for e in live.update(fake()) if e.id == "/psm_old"]
    assert ev.fields == ("size",) and "leak" not in ev.detail
    fake.replace(Kind.POSIX_SHM, "/psm_old", leak=None)
    (ev,) = [e for e in live.update(fake()) if e.id == "/psm_old"]
    assert ev.detail == "leak cleared"
