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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_ends_the_tui_and_restores_the_terminal(signum: int) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: ipctop's TUI on the pseudo-terminal, 80x24
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, "-m", "ipctop", "--interval", "60"])
        finally:
            os._exit(127)
    try:
        seen = bytearray()
        started = _read_until(fd, ENTER_ALT, seen, time.monotonic() + 90)
        assert started, f"the TUI did not start: {bytes(seen[-500:])!r}"
        _read_until(fd, b"ipctop", seen, time.monotonic() + 30)  # something drawn
        os.kill(pid, signum)
        after = _drain(fd, time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert LEAVE_ALT in after and MOUSE_OFF in after, after[-300:]
    assert os.waitstatus_to_exitcode(status) == 128 + signum
