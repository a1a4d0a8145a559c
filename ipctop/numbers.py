"""Numbers typed by a person, checked before they reach the kernel.

``int()`` and ``float()`` accept more than a person means: Unicode digits (``int("١٢")`` is 12),
``nan`` and ``inf``, and numbers the kernel's C types cannot hold, which ctypes then wraps
silently (a msgrcv type of 2**63 became a negative one and took a message). So every number from
the command line goes through here: ASCII only, a bounded length, and the range of the type it
ends in (``long`` for a message type, ``unsigned`` for a priority, a finite and bounded duration).
"""

from __future__ import annotations

import re

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
SIZE_MAX = 2**63 - 1
"""Largest byte count or offset (ssize_t/off_t)."""
DURATION_MAX = 100 * 365 * 86400.0
"""Longest duration (100 years): finite, and far inside what select/semtimedop take."""
_MAX_CHARS = 64

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([smhdw]?)")
_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)")


def parse_int(text: str, what: str = "number", low: int | None = None,
              high: int | None = None) -> int:
    """A whole number in ASCII (decimal, or 0x/0o/0b), within [low, high]; ValueError with a
    message fit for a user otherwise."""
    t = text.strip()
    if len(t) > _MAX_CHARS or not _INT.fullmatch(t):
        raise ValueError(f"{what}: not a whole number: {_short(text)}")
    value = int(t, 0)
    if (low is not None and value < low) or (high is not None and value > high):
        bound = (f"from {low} to {high}" if low is not None and high is not None
                 else f"at least {low}" if low is not None else f"at most {high}")
        raise ValueError(f"{what} must be {bound}: got {_short(t)}")
    return value


def parse_duration(text: str, high: float = DURATION_MAX) -> float:
    """"90", "1.5", "90s", "15m", "2h", "1d", "1w" -> seconds: ASCII digits, finite, at most
    ``high``; ValueError with a clear message otherwise."""
    t = text.strip().lower()
    m = _DURATION.fullmatch(t) if len(t) <= _MAX_CHARS else None
    if m is None and t.startswith("-") and _DURATION.fullmatch(t[1:]):
        raise ValueError(f"duration must not be negative: {_short(text)}")
    if m is None:
        raise ValueError(f"not a duration: {_short(text)} (like 30s, 15m, 2h, 1d)")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if value > high:
        raise ValueError(f"duration too long: {_short(text)} (at most {high:g} seconds)")
    return value


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")
