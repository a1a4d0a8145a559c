"""SIGTERM and SIGHUP end the TUI as `q` does: the terminal is restored (the main screen back,
mouse reporting off) and the exit status is 128 + the signal, as a shell reports a process the
signal ended. Run for real, in a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pytest

ENTER_ALT = b"\x1b[?1049h"
LEAVE_ALT = b"\x1b[?1049l"
MOUSE_OFF = b"\x1b[?1000l"
SHOW_CURSOR = b"\x1b[?25h"


def _read_until(fd: int, want: bytes, seen: bytearray, deadline: float) -> bool:
    while want not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return want in seen
        if not chunk:
            return want in seen
        seen += chunk
    return True


def _drain(fd: int, deadline: float) -> bytes:
    out = bytearray()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


BUSY_APP = """
import time
from textual.app import App
from textual.widgets import Static
from ipctop.ui.signals import exit_on_signals

class Busy(App[int]):
    def compose(self):
        yield Static("ipctop busy")

    def on_key(self, event):  # the loop stops here, as under a flood of events
        time.sleep(60)

app = Busy()
ended = exit_on_signals(app, grace=1.0)
app.run()
ended()
"""


def run_on_pty(argv: list[str], signum: int, poke: bytes = b"") -> tuple[bytes, int, float]:
    """Start ``python argv`` on an 80x24 pseudo-terminal, wait for the alternate screen and
    a first drawing, type ``poke``, send ``signum``: (what it wrote afterwards, its exit
    status, seconds it took to end)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, *argv])
        finally:
            os._exit(127)
    try:
        seen = bytearray()
        started = _read_until(fd, ENTER_ALT, seen, time.monotonic() + 90)
        assert started, f"the TUI did not start: {bytes(seen[-500:])!r}"
        _read_until(fd, b"ipctop", seen, time.monotonic() + 30)  # something drawn
        if poke:
            os.write(fd, poke)
            time.sleep(0.5)
        os.kill(pid, signum)
        sent = time.monotonic()
        after = _drain(fd, time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
        took = time.monotonic() - sent
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return after, os.waitstatus_to_exitcode(status), took


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_ends_the_tui_and_restores_the_terminal(signum: int) -> None:
    after, status, _ = run_on_pty(["-m", "ipctop", "--interval", "60"], signum)
    assert LEAVE_ALT in after and MOUSE_OFF in after, after[-300:]
    assert status == 128 + signum


def test_a_busy_app_is_ended_after_the_grace_time_with_the_terminal_restored() -> None:
    """The app's loop never gets to the exit (it sleeps in a key handler): after the grace
    time the terminal is restored from the signal's timer and the process ends all the same."""
    after, status, took = run_on_pty(["-c", BUSY_APP], signal.SIGTERM, poke=b"x")
    assert LEAVE_ALT in after and MOUSE_OFF in after and SHOW_CURSOR in after, after[-300:]
    assert status == 128 + signal.SIGTERM
    assert 0.9 < took < 30
