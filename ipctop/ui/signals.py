"""Ending the TUI cleanly on SIGTERM and SIGHUP.

Textual restores the terminal (the main screen, the cursor, mouse reporting off, the tty modes)
when the app exits, but a signal's default action kills the process first and leaves the terminal
in the alternate screen with the mouse still reporting. `kill PID` and a closed terminal window
should end ipctop as `q` does.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable
from typing import Any

from textual.app import App

HANDLED = (signal.SIGTERM, signal.SIGHUP)


def exit_on_signals(app: App[Any], signums: Iterable[int] = HANDLED) -> None:
    """End ``app`` the way `q` does when one of ``signums`` arrives. The app's result is then
    128 + the signal's number, the status a shell reports for a process ended by it. Before the
    app's loop runs, or after it, the signal ends the process at once with that status."""

    def handler(signum: int, frame: object) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise SystemExit(128 + signum) from None
        # A signal handler runs between two bytecodes of whatever the loop was doing: hand the
        # exit to the loop rather than touch the app from here.
        loop.call_soon_threadsafe(app.exit, 128 + signum)

    for signum in signums:
        signal.signal(signum, handler)
