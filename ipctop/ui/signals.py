"""Ending the TUI cleanly on SIGTERM and SIGHUP.

Textual restores the terminal (the main screen, the cursor, mouse reporting off, the tty modes)
when the app exits, but a signal's default action kills the process first and leaves the terminal
in the alternate screen with the mouse still reporting. `kill PID` and a closed terminal window
should end ipctop as `q` does.

The exit is a message to the app, handled in turn; an app that is busy (a flood of /dev/shm
events, a long redraw) could leave it waiting. So a signal also starts a short grace timer: if the
app has not ended by then, the terminal is restored from here (the same sequences and tty modes
Textual's driver restores) and the process ends with the same status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
import threading
from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App

HANDLED = (signal.SIGTERM, signal.SIGHUP)
GRACE = 2.0
"""Seconds the app has to end by itself after a signal."""

RESTORE = (
    b"\x1b[?2004l"  # bracketed paste off
    b"\x1b[?7h"  # line wrap on
    b"\x1b[?2048l"  # in-band resize reports off
    b"\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"  # mouse reporting off
    b"\x1b[<u"  # kitty keyboard protocol off
    b"\x1b[?1049l"  # back to the main screen
    b"\x1b[?25h"  # cursor on
    b"\x1b[?1004l"  # focus reports off
)
"""What Textual's Linux driver writes when it stops application mode."""


def _tty_modes() -> tuple[int, list[Any]] | None:
    """stdin's fd and its tty modes now (before Textual changes them), when it is a terminal."""
    try:
        fd = sys.__stdin__.fileno() if sys.__stdin__ else -1
        return fd, termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):
        return None


def restore_terminal(modes: tuple[int, list[Any]] | None) -> None:
    """Put the terminal back as it was before the app: modes, main screen, cursor, no mouse.
    Best effort: a terminal that is gone (SIGHUP) cannot be written to."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.write(sys.__stderr__.fileno() if sys.__stderr__ else 2, RESTORE)
    if modes is not None:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(modes[0], termios.TCSANOW, modes[1])


def exit_on_signals(app: App[Any], signums: Iterable[int] = HANDLED,
                    grace: float = GRACE) -> Callable[[], None]:
    """End ``app`` the way `q` does when one of ``signums`` arrives, within ``grace`` seconds
    (then the terminal is restored from here). The app's result is 128 + the signal's number,
    the status a shell reports for a process ended by it. Before the app's loop runs, or after
    it, the signal ends the process at once with that status.

    Returns what to call once the app has ended: it stops a grace timer still running."""
    modes = _tty_modes()
    started: list[threading.Timer] = []

    def force(status: int) -> None:
        restore_terminal(modes)
        os._exit(status)

    def handler(signum: int, frame: object) -> None:
        status = 128 + signum
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise SystemExit(status) from None
        # A signal handler runs between two bytecodes of whatever the loop was doing: hand the
        # exit to the loop rather than touch the app from here.
        loop.call_soon_threadsafe(app.exit, status)
        if not started:
            timer = threading.Timer(grace, force, (status,))
            timer.daemon = True
            timer.start()
            started.append(timer)

    for signum in signums:
        signal.signal(signum, handler)

    def done() -> None:
        for timer in started:
            timer.cancel()

    return done
