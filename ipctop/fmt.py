"""Formatting shared by the command-line tables and the TUI: sizes, ages, times, durations."""

from __future__ import annotations

import time

_UNITS = ("B", "K", "M", "G", "T", "P")


def human_bytes(n: int | None) -> str:
    """1536 -> "1.5K", like ``ls -h``; None -> "-"."""
    if n is None:
        return "-"
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)}B"
            return f"{value:.1f}{unit}" if abs(value) < 10 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_age(then: float | None, now: float | None = None) -> str:
    """Seconds since ``then`` as "45s", "12m", "3h", "2d"; None or 0 -> "-"."""
    if not then:
        return "-"
    secs = max(0.0, (time.time() if now is None else now) - then)
    for limit, div, unit in ((60, 1, "s"), (3600, 60, "m"), (86400, 3600, "h")):
        if secs < limit:
            return f"{int(secs // div)}{unit}"
    return f"{int(secs // 86400)}d"


UNDER_A_MINUTE = "less than a minute"


def age_words(then: float, now: float) -> str:
    """An age as a reason words it: like :func:`human_age`, but every age under a minute reads
    "less than a minute". A leak reason that said "created 12s ago" changed at every poll, so a
    machine with thousands of young objects re-judged and redrew all of them each poll for their
    first minute; the exact time is in the object's own fields (and the TUI's detail pane)."""
    if now - then < 60:
        return UNDER_A_MINUTE
    return human_age(then, now)


_SIZE_SUFFIX = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from "4096", "0x1000", "64K", "64k", "64KiB", "1M", "2G" (powers of 1024, as
    ``ipcmk -M`` reads them); ValueError with a clear message otherwise. The command line and
    the TUI's forms both read sizes with this, so they accept the same things."""
    t = text.strip().lower()
    t = t.removesuffix("ib") if t.endswith("ib") else t.removesuffix("b")
    factor = 1
    if t and t[-1] in _SIZE_SUFFIX:
        factor = _SIZE_SUFFIX[t[-1]]
        t = t[:-1]
    from ipctop.numbers import SIZE_MAX, parse_int

    try:
        value = parse_int(t, "size") * factor
    except ValueError:
        raise ValueError(f"not a size: {text!r} (like 4096, 64K, 1M)") from None
    if value < 0:
        raise ValueError(f"size must not be negative: {text!r}")
    if value > SIZE_MAX:
        raise ValueError(f"size too large: {text!r} (at most {SIZE_MAX} bytes)")
    return value


def short_time(then: float | None, now: float | None = None) -> str:
    """A point in time as util-linux's lsipc shows it by default ("short"): "10:22" today,
    "Nov28" earlier this year, "2025-Nov" before; None or 0 -> "-"."""
    if not then:
        return "-"
    t = time.localtime(then)
    n = time.localtime(time.time() if now is None else now)
    if (t.tm_year, t.tm_yday) == (n.tm_year, n.tm_yday):
        return time.strftime("%H:%M", t)
    if t.tm_year == n.tm_year:
        return time.strftime("%b%d", t)
    return time.strftime("%Y-%b", t)


TIME_FORMATS = ("short", "full", "iso")
"""lsipc's --time-format choices."""


def format_time(then: float | None, how: str = "short", now: float | None = None) -> str:
    """A point in time as lsipc prints it: "short" (:func:`short_time`), "full" ("Sat Nov 28
    10:22:38 2026") or "iso" ("2026-11-28T10:22:38+00:00"); None or 0 -> "-"."""
    if not then:
        return "-"
    if how == "iso":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(then))
        return f"{stamp[:-2]}:{stamp[-2:]}"  # +0000 -> +00:00, as lsipc writes it
    if how == "full":
        return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(then))
    return short_time(then, now)


def parse_duration(text: str) -> float:
    """"90", "1.5", "90s", "15m", "2h", "1d", "1w" -> seconds: ASCII digits, finite, at most 100
    years (:func:`ipctop.numbers.parse_duration`); ValueError with a clear message otherwise."""
    from ipctop.numbers import parse_duration as parse

    return parse(text)
