"""The process pivot's htop keys: k / F9 send a signal to the process shown, after a chooser and
a Yes/No box naming it; a reused pid is never signalled."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest
from conftest import Child, Spawn
from fakes import FakeCollector
from test_ui_app import make_app, running, settle, sync

from ipctop.actions.signals import send_signal, start_time
from ipctop.errors import IpcError, NotFound
from ipctop.kinds import Pipe
from ipctop.model import Kind, Process, User
from ipctop.ui.screens.confirm import ConfirmScreen
from ipctop.ui.screens.process import ProcessScreen
from ipctop.ui.screens.signal_choice import SignalScreen


def _dead(child: Child, timeout: float = 5.0) -> bool:
    """Reap ``child`` if it ends within ``timeout`` (then the fixture has nothing to stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _status = os.waitpid(child.pid, os.WNOHANG)
        if done == child.pid:
            child.pid = 0
            return True
        time.sleep(0.02)
    return False


def _victim(spawn: Spawn) -> tuple[Child, FakeCollector]:
    child = spawn(lambda: None)
    started = start_time(child.pid)
    assert started is not None
    fake = FakeCollector()
    fake.processes.append(Process(child.pid, os.getpid(), "victim", "victim --hold", "root", 0,
                                  start_time=started, state="S"))
    fake.add(Pipe(id="990101", bytes=0, capacity=65536,
                  users=(User(child.pid, "victim", 3, "w"),)))
    return child, fake


def test_send_signal_checks_the_start_time(spawn: Spawn) -> None:
    child = spawn(lambda: None)
    started = start_time(child.pid)
    assert started is not None
    with pytest.raises(IpcError, match="pid was reused"):
        send_signal(child.pid, signal.SIGTERM, started - 100)
    assert not _dead(child, timeout=0.2)  # nothing was sent
    pid = child.pid
    assert send_signal(pid, signal.SIGTERM, started) == f"sent SIGTERM to {pid}"
    assert _dead(child)
    with pytest.raises(NotFound):
        send_signal(pid, signal.SIGTERM, started)


@sync
async def test_k_in_the_pivot_asks_then_signals_the_process(spawn: Spawn) -> None:
    child, fake = _victim(spawn)
    pid = child.pid
    app = make_app(fake)
    async with running(app, size=(80, 24)) as pilot:
        app.open_process(pid)
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        await pilot.press("k")
        assert isinstance(app.screen, SignalScreen)
        await pilot.press("enter")  # the first choice: SIGTERM
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#confirm-question").render())
        assert f"SIGTERM to process {pid} victim" in question
        await pilot.press("n")  # no: nothing sent
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen)
        assert not _dead(child, timeout=0.2)
        await pilot.press("f9", "down", "enter")  # SIGKILL this time
        await pilot.pause()
        assert "SIGKILL" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("y")
        await settle(pilot)
        assert _dead(child)
        messages = [n.message for n in app._notifications]
        assert f"sent SIGKILL to {pid}" in messages


@sync
async def test_pivot_refuses_a_reused_pid(spawn: Spawn) -> None:
    child, fake = _victim(spawn)
    pid = child.pid
    fake.processes = [dataclasses.replace(p, start_time=p.start_time - 50)
                      if p.pid == pid and p.start_time else p for p in fake.processes]
    app = make_app(fake)
    async with running(app) as pilot:
        app.open_process(pid)
        await pilot.pause()
        await pilot.press("k", "enter", "y")
        await settle(pilot)
        assert not _dead(child, timeout=0.2)
        assert any("pid was reused" in n.message for n in app._notifications)
    assert fake.get(Kind.PIPE, "990101")
