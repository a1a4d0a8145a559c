"""Send a signal to a process (the process pivot's ``k``), to the process that was shown.

A pid can be reused between the moment the screen showed a process and the moment the user
confirms. The process is therefore opened as a pidfd first, its start time read and compared
with the one the snapshot recorded, and the signal sent through that pidfd: what is checked is
what is signalled, even if the pid is reused in between.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ipctop.collect.procfs import parse_btime, parse_stat
from ipctop.errors import IpcError, NotFound, ParseError

SLACK = 1.0
"""Seconds a recomputed start time may differ (rounding of clock ticks and of btime)."""


def boot_time(proc: Path = Path("/proc")) -> float | None:
    try:
        return parse_btime((proc / "stat").read_bytes(), proc / "stat")
    except (OSError, ParseError):
        return None


def start_time(pid: int, proc: Path = Path("/proc")) -> float | None:
    """Epoch seconds process ``pid`` started, as the collector computes it; None if unknown."""
    btime = boot_time(proc)
    try:
        _state, ticks = parse_stat((proc / str(pid) / "stat").read_bytes(),
                                   proc / str(pid) / "stat")
    except (OSError, ParseError):
        return None
    if btime is None:
        return None
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def send_signal(pid: int, signum: int, started: float | None) -> str:
    """Send ``signum`` to ``pid`` if it is still the process that started at ``started``
    (None: no check possible); a one-line result, or IpcError saying why nothing was sent."""
    if pid <= 0:
        raise IpcError(f"not a process id: {pid}")
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise NotFound(f"process {pid} is gone; nothing sent") from None
    except OSError as err:
        raise IpcError(f"cannot open process {pid}: {err.strerror}") from None
    try:
        if started is not None:
            now = start_time(pid)
            if now is None or abs(now - started) > SLACK:
                raise IpcError(f"process {pid} is not the one shown any more (its pid was "
                               "reused); nothing sent")
        signal.pidfd_send_signal(fd, signum)
    except ProcessLookupError:
        raise NotFound(f"process {pid} is gone; nothing sent") from None
    except PermissionError:
        raise IpcError(f"not allowed to signal process {pid} (run as its owner or root)"
                       ) from None
    finally:
        os.close(fd)
    return f"sent {signal_name(signum)} to {pid}"
