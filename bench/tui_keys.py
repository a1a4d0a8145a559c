"""Key latency of the TUI in a real terminal: from ``tmux send-keys`` to the screen showing the
key's answer (polled with ``capture-pane`` every few ms).

Probes, each sent at a random moment within the refresh interval (keys do not wait for polls, so
a key that lands during a poll's table update shows how long the UI thread is busy):

- ``?`` until the help screen's title shows, and Esc until it is gone;
- Down until the table's cursor row moves one line down, and Up back (the cursor row is told by
  its style in ``capture-pane -e``: the style the first row has right after start, when the
  cursor is on it);
- ``6`` until the POSIX mq view shows (the table header loses its KIND column and a row shows),
  and ``1`` back to All (KIND again, with rows): the second re-fills the table with every object.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Protocol

HELP_TITLE = "ipctop help"
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_LEADING_SGR = re.compile(r"^(?:\x1b\[[0-9;:]*m)+")
_SORT_MARK = re.compile(r"[▲▼]")


class Terminal(Protocol):
    def capture(self) -> str: ...
    def capture_styled(self) -> str: ...
    def send(self, *keys: str) -> None: ...


def plain(styled: str) -> str:
    return _SGR.sub("", styled)


def header_index(lines: list[str]) -> int | None:
    """The table's header line: the one with the sort mark."""
    for i, line in enumerate(lines):
        if _SORT_MARK.search(plain(line)):
            return i
    return None


def leading_style(line: str) -> str:
    m = _LEADING_SGR.match(line)
    return m.group(0) if m else ""


def cursor_style(styled: str) -> str | None:
    """The style of the first table row (call right after start, when the cursor is there)."""
    lines = styled.splitlines()
    h = header_index(lines)
    if h is None or h + 1 >= len(lines):
        return None
    return leading_style(lines[h + 1]) or None


def cursor_row(styled: str, style: str) -> int | None:
    """Index of the first line below the header drawn in the cursor's style."""
    lines = styled.splitlines()
    h = header_index(lines)
    if h is None:
        return None
    for i in range(h + 1, len(lines)):
        if leading_style(lines[i]) == style:
            return i
    return None


def view_shown(text: str, *, all_view: bool) -> bool:
    """The All view (header with KIND) or a kind's view (without), with at least one row."""
    lines = text.splitlines()
    h = header_index(lines)
    if h is None or h + 1 >= len(lines) or not lines[h + 1].strip():
        return False
    return ("KIND" in lines[h]) == all_view


def _wait(check: Callable[[], bool], t0: float, poll: float, timeout: float) -> float | None:
    while True:
        if check():
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            return None
        time.sleep(poll)


def key_latencies(term: Terminal, rounds: int, interval: float, poll: float = 0.01,
                  timeout: float = 20.0) -> dict[str, list[float | None]]:
    """Seconds from each key sent to its answer on screen (None: not answered in ``timeout``)."""
    out: dict[str, list[float | None]] = {}
    style = cursor_style(term.capture_styled())

    def probe(name: str, key: str, check: Callable[..., bool]) -> None:
        time.sleep(random.uniform(0, interval))
        t0 = time.perf_counter()
        term.send(key)
        out.setdefault(name, []).append(_wait(check, t0, poll, timeout))

    for _ in range(rounds):
        probe("help: ? until the help shows", "?", lambda: HELP_TITLE in term.capture())
        probe("help: Esc until it is gone", "Escape", lambda: HELP_TITLE not in term.capture())
        if style is not None:
            start = cursor_row(term.capture_styled(), style)
            if start is not None:
                probe("cursor: Down until the cursor row moves", "Down",
                      lambda s=style, row=start + 1: cursor_row(term.capture_styled(), s) == row)
                probe("cursor: Up back", "Up",
                      lambda s=style, row=start: cursor_row(term.capture_styled(), s) == row)
        probe("view: 6 until POSIX mq shows", "6",
              lambda: view_shown(term.capture(), all_view=False))
        probe("view: 1 until All shows again", "1",
              lambda: view_shown(term.capture(), all_view=True))
    return out
